"""The hard rule, statically: in `appsrc/`, only the digest mailer can send mail.

An AST scan of every module, by rule. Each rule has an explicit, minimal allowlist of exact
modules, each with the reason it needs the exemption; anything else found fails the test:

- smtp-client: an SMTP client imported (`import smtplib`, `from aiosmtplib import ...`), or named
  in a string (`importlib.import_module("smtplib")`, `__import__`, `sys.modules["smtplib"]`);
- send-call: any attribute or attribute-name string called `send`, `sendmail` or `send_message`
  (`x.messages().send`, `m = svc.users().drafts(); m.send(...)`, `getattr(m, "send")`);
- gmail-send-name: a string naming a sending method or its REST path (`"users.messages.send"`,
  `"drafts.send"`, `".../messages/send"`, `"drafts/send"`), f-strings included;
- transport-import: `appsrc.mail.gmail_send` or `appsrc.mail.smtp_send` imported (absolute or
  relative) or named in a string: only the digest mailer's composition may reach a transport, so
  nothing can skip `DigestMailer.check_recipients`;
- dynamic-import: an import by a computed name (which could spell any of the above);
- sys-modules: a reach into `sys.modules` (a module fetched without an import statement);
- raw-connection: a socket opened by hand (`socket.socket`, `socket.create_connection`,
  `asyncio.open_connection`, `loop.create_connection`), which could speak SMTP on port 25/587;
- process: a program started (`subprocess`, `os.system`, `os.popen`, `os.exec*`, `os.spawn*`,
  `asyncio.create_subprocess_*`), or a string naming a local mailer (`sendmail`, `msmtp`, ...).

Docstrings are left out of the string rules (they document, e.g. "only smtp_send imports
smtplib"). A name computed at run time (`"sm" + "tplib"` as an attribute) defeats any static scan;
that is what the suite-wide ledger in tests/hard_rule.py is for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

APPSRC = Path(__file__).resolve().parents[2] / "appsrc"

SMTP_MODULES = {"smtplib", "aiosmtplib", "smtpd", "aiosmtpd"}
TRANSPORT_MODULES = {"appsrc.mail.gmail_send", "appsrc.mail.smtp_send"}
SEND_NAMES = {"send", "sendmail", "send_message"}
DYNAMIC_IMPORTS = {"__import__", "import_module"}
SOCKET_OPENERS = {
    "create_connection",
    "open_connection",
    "create_unix_connection",
    "open_unix_connection",
    "socketpair",
    "fromfd",
}
OS_PROCESS_STARTERS = {"system", "popen", "posix_spawn", "posix_spawnp", "startfile"}  # os.<name>
PROCESS_MODULES = {"subprocess", "pty", "pexpect", "sh"}

_SMTP_TEXT = re.compile(r"\b(?:" + "|".join(sorted(SMTP_MODULES)) + r")\b", re.IGNORECASE)
_SEND_METHOD_TEXT = re.compile(r"\b(?:messages|drafts)(?:\(\))?[./:]send\b|\bmail/send\b", re.IGNORECASE)
_TRANSPORT_TEXT = re.compile(r"\b(?:gmail_send|smtp_send)\b")
_MAILER_PROGRAM_TEXT = re.compile(r"\b(?:sendmail|msmtp|ssmtp|mailx|exim4?|postfix|swaks)\b", re.IGNORECASE)

ALLOWED: dict[str, set[str]] = {
    "smtp-client": {"appsrc/mail/smtp_send.py"},
    "send-call": {
        "appsrc/mail/gmail_send.py",  # users().messages().send: the Gmail transport itself
        "appsrc/mail/smtp_send.py",  # smtplib's send_message/sendmail: the SMTP transport itself
        "appsrc/mail/mailer.py",  # transport.send, only after check_recipients (the one way in)
    },
    "gmail-send-name": {
        "appsrc/mail/gmail_send.py",  # the method name it pays quota for
        "appsrc/gmail/quota.py",  # the cost table prices messages.send for gmail_send
        # The simulator is the fake Gmail *server*: it must name the methods and paths it
        # answers (messages.send is stored in its in-memory mailboxes; drafts.send answers 405).
        # It is still scanned by every other rule: demo mode runs it inside the appliance.
        "appsrc/simulator/server.py",
        "appsrc/simulator/quota.py",
    },
    "transport-import": {"appsrc/digest/service.py"},  # composes the DigestMailer from both
    "dynamic-import": {"appsrc/store/migrations/__init__.py"},  # its own numbered migration modules
    "sys-modules": set(),
    "raw-connection": set(),
    "process": set(),
}


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                ids.add(id(first.value))
    return ids


def _absolute(module: str | None, level: int, name: str) -> str:
    """`from ..mail import smtp_send` inside appsrc/digest/x.py -> appsrc.mail."""
    if not level:
        return module or ""
    package = name.removesuffix(".py").replace("/", ".").rsplit(".", level)[0]
    return f"{package}.{module}" if module else package


def _called_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _called_on(node: ast.Call) -> str:
    """`socket` for socket.socket(...), '' for a bare call."""
    func = node.func
    return func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""


def scan(name: str, source: str) -> set[str]:
    """The rules one module breaks (before allowlists)."""
    tree = ast.parse(source, name)
    docstrings = _docstring_ids(tree)
    broken: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                base = _absolute(node.module, node.level, name)
                modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
            roots = {m.split(".")[0] for m in modules}
            if roots & SMTP_MODULES:
                broken.add("smtp-client")
            if roots & PROCESS_MODULES:
                broken.add("process")
            if set(modules) & TRANSPORT_MODULES:
                broken.add("transport-import")
            if (
                isinstance(node, ast.ImportFrom)
                and base == "importlib"
                and {a.name for a in node.names} & {"__import__"}
            ):
                broken.add("dynamic-import")
        elif isinstance(node, ast.Attribute):
            if node.attr in SEND_NAMES:
                broken.add("send-call")
            if node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                broken.add("sys-modules")
        elif isinstance(node, ast.Call):
            called, on = _called_name(node), _called_on(node)
            if called in DYNAMIC_IMPORTS and not (node.args and isinstance(node.args[0], ast.Constant)):
                broken.add("dynamic-import")  # a constant name is judged by the string rules below
            if called in SOCKET_OPENERS or (called == "socket" and on in ("socket", "")):
                broken.add("raw-connection")
            if (
                called.startswith("create_subprocess_")
                or (on in ("os", "") and called in OS_PROCESS_STARTERS)
                or (on == "os" and called.startswith(("exec", "spawn", "fork")))
            ):
                broken.add("process")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and id(node) not in docstrings:
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if _SMTP_TEXT.search(text):
                broken.add("smtp-client")
            if text.strip() in SEND_NAMES:
                broken.add("send-call")  # getattr(x, "send"), methodcaller("send", ...)
            if _SEND_METHOD_TEXT.search(text):
                broken.add("gmail-send-name")
            if _TRANSPORT_TEXT.search(text):
                broken.add("transport-import")
            if _MAILER_PROGRAM_TEXT.search(text):
                broken.add("process")
    return broken


def findings(sources: Iterable[tuple[str, str]] | None = None) -> dict[str, set[str]]:
    """Rule -> modules breaking it, over `sources` ((name, text) pairs; default: all of appsrc/)."""
    if sources is None:
        sources = (
            (p.relative_to(APPSRC.parent).as_posix(), p.read_text(encoding="utf-8"))
            for p in sorted(APPSRC.rglob("*.py"))
        )
    found: dict[str, set[str]] = {rule: set() for rule in ALLOWED}
    for name, source in sources:
        for rule in scan(name, source):
            found[rule].add(name)
    return found


def test_only_the_mailer_transports_can_send():
    found = findings()
    assert {rule: modules - ALLOWED[rule] for rule, modules in found.items() if modules - ALLOWED[rule]} == {}
    # The scan sees the real thing: the transports and their one importer are found.
    assert found["smtp-client"] == {"appsrc/mail/smtp_send.py"}
    assert "appsrc/mail/gmail_send.py" in found["send-call"] & found["gmail-send-name"]
    assert found["transport-import"] == {"appsrc/digest/service.py"}


def test_every_exemption_names_a_module_that_exists():
    """A stale allowlist entry would silently exempt whatever file takes that name later."""
    root = APPSRC.parent
    assert [m for modules in ALLOWED.values() for m in modules if not (root / m).is_file()] == []


EVASIONS = {
    # An SMTP client, however it is fetched.
    "import smtplib": "smtp-client",
    "from smtplib import SMTP_SSL": "smtp-client",
    "import aiosmtplib as mailer": "smtp-client",
    "import importlib\nimportlib.import_module('smtplib')": "smtp-client",
    "from importlib import import_module\nclient = import_module('smtplib').SMTP": "smtp-client",
    "__import__('smtplib')": "smtp-client",
    "import sys\nsmtp = sys.modules['smtplib']": "smtp-client",
    # Gmail's send methods, by any route to the attribute.
    "service.users().messages().send(userId='me', body={}).execute()": "send-call",
    "m = svc.users().messages()\nm.send(userId='me', body={'raw': raw}).execute()": "send-call",
    "d = svc.users().drafts()\nd.send(userId='me', body={'id': draft_id}).execute()": "send-call",
    "getattr(svc.users().messages(), 'send')(userId='me', body={})": "send-call",
    "import operator\noperator.methodcaller('send', userId='me')(svc.users().drafts())": "send-call",
    "client.sendmail(sender, [investor], text)": "send-call",
    "client.send_message(message)": "send-call",
    # The methods and their REST paths, named in strings.
    "remote.execute('users.messages.send', make_request)": "gmail-send-name",
    "METHOD = 'users.drafts.send'": "gmail-send-name",
    "http.request(base + 'gmail/v1/users/me/messages/send', 'POST', body)": "gmail-send-name",
    "http.request(f'{base}gmail/v1/users/{user}/drafts/send', 'POST', body)": "gmail-send-name",
    "requests.post(url + '/upload/gmail/v1/users/me/messages/send?uploadType=media')": "gmail-send-name",
    "requests.post('https://api.sendgrid.com/v3/mail/send', json=payload)": "gmail-send-name",
    "path = b'/gmail/v1/users/me/drafts/send'": "gmail-send-name",
    # A transport reached around the DigestMailer.
    "from appsrc.mail.gmail_send import GmailTransport": "transport-import",
    "from appsrc.mail import smtp_send": "transport-import",
    "import appsrc.mail.smtp_send": "transport-import",
    "from .smtp_send import SmtpTransport": "transport-import",  # relative, inside appsrc/mail
    "import importlib\nimportlib.import_module('appsrc.mail.gmail_send')": "transport-import",
    # Imports and modules by computed names.
    "import importlib\nimportlib.import_module('smtp' + 'lib')": "dynamic-import",
    "__import__(name)": "dynamic-import",
    "from importlib import __import__": "dynamic-import",
    "import sys\nclient = getattr(sys.modules[name], 'SMTP')": "sys-modules",
    # Raw SMTP connections.
    "import socket\nsocket.create_connection((host, 25))": "raw-connection",
    "from socket import create_connection\ncreate_connection((host, 465))": "raw-connection",
    "import socket\ns = socket.socket()\ns.connect((host, 587))": "raw-connection",
    "import asyncio\nasyncio.open_connection(host, 587)": "raw-connection",
    "loop.create_connection(Protocol, host, 25)": "raw-connection",
    # A local mailer program.
    "import subprocess\nsubprocess.run(['/usr/sbin/sendmail', '-t'], input=raw)": "process",
    "import os\nos.system('sendmail -t < message.eml')": "process",
    "import os\nos.popen(command)": "process",
    "import os\nos.execvp(program, [program, '-t'])": "process",
    "from os import system\nsystem(command)": "process",
    "import asyncio\nasyncio.create_subprocess_exec(program, '-t')": "process",
    "PROGRAM = 'msmtp'": "process",
}


@pytest.mark.parametrize("snippet, rule", EVASIONS.items(), ids=[s.splitlines()[-1][:60] for s in EVASIONS])
def test_the_scan_sees_each_evasion(snippet, rule):
    """Each forbidden shape, as a module of its own, is found by the very scan run on appsrc/."""
    name = "appsrc/mail/evasion.py"
    found = findings([(name, snippet)])
    assert name in found[rule], {r: m for r, m in found.items() if m}


def test_an_allowed_module_is_allowed_only_what_it_needs():
    """The allowlists are per rule: the Gmail transport importing smtplib is still found, and so
    is the digest service calling a transport's send itself."""
    found = findings(
        [("appsrc/mail/gmail_send.py", "import smtplib"), ("appsrc/digest/service.py", "transport.send(message, now)")]
    )
    assert found["smtp-client"] == {"appsrc/mail/gmail_send.py"}
    assert found["send-call"] == {"appsrc/digest/service.py"}
    assert found != ALLOWED


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Only smtp_send imports smtplib; messages.send is the digest\'s."""',  # a docstring documents
        "database.connect(reuse_if_open=True)",
        "infos = socket.getaddrinfo(host, None)",
        "import platform\nname = platform.system()",
        "from appsrc.mail.mailer import DigestMailer",
        "remote.execute('users.drafts.create', make_request)",
        "message = {'sender': sender, 'sent_at': now}",
        "note = 'No e-mail. Send it later from Gmail.'",
    ],
)
def test_ordinary_code_is_not_flagged(snippet):
    assert not any(findings([("appsrc/crm/ordinary.py", snippet)]).values())
