"""The capture engine's seams, checked on the source: the Gmail remote (`gmail/client.py`) is the
only module that imports the Google API client or its HTTP transport, so quota pacing, retries
and the non-idempotent-write rule cannot be bypassed by another module talking to Gmail."""

from __future__ import annotations

import ast
from pathlib import Path

APPSRC = Path(__file__).resolve().parents[2] / "appsrc"
GOOGLE_CLIENT = {"googleapiclient", "google_auth_httplib2", "httplib2"}


def importers(modules: set[str], root: Path = APPSRC) -> set[str]:
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(name.split(".")[0] in modules for name in names):
                found.add(path.relative_to(root.parent).as_posix())
    return found


def test_only_the_gmail_remote_imports_the_google_api_client():
    assert importers(GOOGLE_CLIENT) == {"appsrc/gmail/client.py"}


def test_the_check_sees_an_import(tmp_path):
    """The scanner itself works: a module importing the client is reported."""
    fake = tmp_path / "appsrc"
    (fake / "gmail").mkdir(parents=True)
    (fake / "gmail" / "client.py").write_text("import googleapiclient.discovery\n")
    (fake / "sneaky.py").write_text("from httplib2 import Http\n")
    assert importers(GOOGLE_CLIENT, fake) == {"appsrc/gmail/client.py", "appsrc/sneaky.py"}
