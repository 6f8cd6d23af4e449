"""`python -m tasklab.edge BUNDLE INPUT...` (in a bundle: `python -m runner`): see run.py."""

import sys

from .run import main

sys.exit(main())
