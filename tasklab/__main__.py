"""`python -m tasklab ...`: the `tasklab` command."""

import sys

from tasklab.pipelines.cli import main

sys.exit(main())
