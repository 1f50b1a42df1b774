"""The layer contract is a gate that bites: `lint-imports` passes on the tree, and fails on a
copy of it with one back edge added (the store importing the CRM)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        timeout=120,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "appsrc", tree / "appsrc", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_every_contract(tmp_path):
    result = lint_imports(copy_of_the_tree(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_back_edge_breaks_the_layer_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    with open(tree / "appsrc" / "store" / "capture.py", "a", encoding="utf-8") as module:
        module.write("\nfrom appsrc.crm import rematch as _back_edge  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "Layers read one way BROKEN" in result.stdout
    assert "appsrc.store.capture -> appsrc.crm.rematch" in result.stdout


def test_the_matching_rules_may_not_touch_the_database(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    with open(tree / "appsrc" / "matching" / "direction.py", "a", encoding="utf-8") as module:
        module.write("\nimport peewee as _io  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "The matching rules are pure: no database, network, web or Google client BROKEN" in result.stdout
