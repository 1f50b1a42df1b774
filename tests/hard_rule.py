"""The hard rule, watched across the whole test run: agents draft, humans send.

Every Gmail simulator started during the run is watched from then on (except by the simulator's
own tests, which exercise it with arbitrary mail). At the end of every test, and once more at
the end of the session, each watched simulator is audited on what it did since its last audit,
from records that `clear_calls()` cannot wipe: every message it sent must have gone to active
admins only, and its only other mail operation may be `drafts.create` (a `drafts.send`,
`drafts.update`, `messages.insert`, an unknown write ... is a violation). The test SMTP servers
check each recipient as the client names it (RCPT), whatever they answer (tests/mail/servers.py).

A violation goes into the ledger at once and fails the test that is running when it is audited
(a late one, from a thread that outlived its test, fails the next test); the run's exit status
is non-zero whenever the ledger holds any, and `pytest_terminal_summary` prints them with the
totals (tests/conftest.py).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field

from appsrc.store.db import database

# Gmail mail operations a test may cause: drafts, and sends (whose recipients are checked).
PERMITTED_OPERATIONS = frozenset({"users.drafts.create", "users.messages.send"})


@dataclass
class Ledger:
    sends: int = 0
    recipients: int = 0
    drafts: int = 0
    simulators: int = 0
    violations: list[str] = field(default_factory=list)


LEDGER = Ledger()


@dataclass
class _Audited:
    """How far one simulator's records have been audited."""

    sends: int = 0
    records: int = 0
    operations: Counter[str] = field(default_factory=Counter)


_lock = threading.RLock()
_audited: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # simulator -> _Audited
_watched: list = []  # simulators that may still act (kept alive until audited after stopping)
_unreported: list[str] = []  # violations no test has failed on yet
_now = {"test": "before the first test", "exempt": False}


def begin_test(nodeid: str, *, exempt: bool) -> None:
    with _lock:
        _now.update(test=nodeid, exempt=exempt)


def end_test(nodeid: str) -> None:
    with _lock:
        _now.update(test=f"after {nodeid}", exempt=False)


def watch(simulator) -> None:
    """Audit `simulator` from now on (a restarted one carries on where its audit stopped)."""
    with _lock:
        if _now["exempt"] or any(s is simulator for s in _watched):
            return
        _watched.append(simulator)
        if simulator not in _audited:
            _audited[simulator] = _Audited()
            LEDGER.simulators += 1


def violation(text: str) -> None:
    with _lock:
        LEDGER.violations.append(text)
        _unreported.append(text)


def active_admins() -> set[str] | None:
    """Active admins of the test's database right now, or None when no database was ever opened."""
    if database.obj is None:
        return None
    from appsrc.mail.mailer import active_admin_addresses

    with database.connection_context():
        return set(active_admin_addresses())


def check_smtp_recipient(address: str, where: str) -> None:
    """One RCPT TO a test SMTP server: an active admin, or a violation."""
    admins = active_admins()
    if admins is None or address.strip().lower() not in admins:
        violation(f"{_now['test']}: {where} was asked to deliver to non-admin {address}")


def count_smtp_send(recipients: int) -> None:
    with _lock:
        LEDGER.sends += 1
        LEDGER.recipients += recipients


def audit() -> list[str]:
    """Audit every watched simulator's new records; return the violations not yet reported
    (clearing them: each fails one test). Stopped simulators are let go once audited."""
    with _lock:
        for simulator in list(_watched):
            _audit_simulator(simulator, _audited[simulator])
            if simulator.stopping.is_set():
                _watched.remove(simulator)
        problems = list(_unreported)
        _unreported.clear()
        return problems


def _audit_simulator(simulator, audited: _Audited) -> None:
    where = _now["test"]
    sent = simulator.sent_messages()[audited.sends :]
    records = simulator.mail_operations()[audited.records :]
    counts = Counter(simulator.mail_operation_counts())
    new = counts - audited.operations
    audited.sends += len(sent)
    audited.records += len(records)
    audited.operations = counts
    LEDGER.sends += len(sent)
    LEDGER.drafts += new["users.drafts.create"]
    admins = active_admins() if sent else set()
    for message in sent:
        LEDGER.recipients += len(message.recipients)
        outsiders = sorted({r.lower() for r in message.recipients} - (admins or set()))
        if admins is None or outsiders:
            violation(f"{where}: Gmail sent as {message.sender} to non-admins {outsiders or list(message.recipients)}")
    for method, times in sorted(new.items()):
        if method not in PERMITTED_OPERATIONS:
            seen = sorted({f"{r.user or '?'} {r.params} -> {r.status}" for r in records if r.method == method})
            violation(f"{where}: a Gmail mail operation other than drafts.create: {method} x{times} {seen[:3]}")
