"""The hard rule, statically: in `appsrc/`, only the mailer's transports can send mail. Nothing
else imports an SMTP client, calls `messages().send`, or sends a draft (`drafts().send`)."""

from __future__ import annotations

import ast
from pathlib import Path

APPSRC = Path(__file__).resolve().parents[2] / "appsrc"
SMTP_MODULES = {"smtplib", "aiosmtplib", "smtpd"}
ALLOWED = {
    "smtp": {"appsrc/mail/smtp_send.py"},
    "messages.send": {"appsrc/mail/gmail_send.py"},
    "drafts.send": set(),
}


def _chained_call(node: ast.AST, collection: str, method: str) -> bool:
    """`<anything>.<collection>().<method>` (the googleapiclient call shape)."""
    return (isinstance(node, ast.Attribute) and node.attr == method and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == collection)


def findings() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {key: set() for key in ALLOWED}
    for path in sorted(APPSRC.rglob("*.py")):
        name = path.relative_to(APPSRC.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), name)):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] in SMTP_MODULES for a in node.names):
                found["smtp"].add(name)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SMTP_MODULES:
                found["smtp"].add(name)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
                if any(isinstance(a, ast.Constant) and str(a.value).split(".")[0] in SMTP_MODULES for a in node.args):
                    found["smtp"].add(name)
            elif _chained_call(node, "messages", "send"):
                found["messages.send"].add(name)
            elif _chained_call(node, "drafts", "send"):
                found["drafts.send"].add(name)
    return found


def test_only_the_mailer_transports_can_send():
    assert findings() == ALLOWED


def test_the_scan_sees_what_it_looks_for():
    """The scanner itself works: each forbidden shape is detected in a snippet."""
    snippet = ("import smtplib\nfrom aiosmtplib import send\n"
               "service.users().messages().send(userId='me', body={})\n"
               "s.users().drafts().send(userId='me', body={})\n")
    tree = ast.parse(snippet)
    assert sum(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree)) == 2
    assert sum(_chained_call(n, "messages", "send") for n in ast.walk(tree)) == 1
    assert sum(_chained_call(n, "drafts", "send") for n in ast.walk(tree)) == 1
