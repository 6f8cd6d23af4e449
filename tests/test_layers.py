"""The layer contract (pyproject's `[tool.importlinter]`) and acyclic packages, in CI too."""

from __future__ import annotations

import graphlib
import itertools
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO


def test_the_layer_contract_holds_with_no_exceptions():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    assert "ignore_imports" not in (REPO / "pyproject.toml").read_text()


def test_no_two_packages_import_each_other():
    graph = grimp.build_graph("tasklab")
    packages = sorted(graph.find_children("tasklab"))
    depends = {package: set() for package in packages}
    for importer, imported in itertools.permutations(packages, 2):
        if graph.direct_import_exists(importer=importer, imported=imported, as_packages=True):
            depends[importer].add(imported)
    # Raises CycleError naming the cycle if there is one.
    order = list(graphlib.TopologicalSorter(depends).static_order())
    assert order.index("tasklab.core") < order.index("tasklab.data") < order.index("tasklab.tasks")
    assert order.index("tasklab.training") < order.index("tasklab.pipelines")
    assert not depends["tasklab.edge"], "the edge runner imports nothing of tasklab's"
