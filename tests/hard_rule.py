"""The hard rule, watched across the whole test run: agents draft, humans send.

Every Gmail simulator any test starts (outside the simulator's own tests, which exercise it with
arbitrary mail) is registered; when the test ends, each recorded `messages.send` must have gone
to active admins only and every draft operation must have been `drafts.create`. The test SMTP
servers check their recipients as mail arrives (tests/mail/servers.py) and report here. A test
with a violation fails, and the run ends with the totals (`pytest_terminal_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appsrc.store.db import database


@dataclass
class Ledger:
    sends: int = 0
    recipients: int = 0
    drafts: int = 0
    simulators: int = 0
    violations: list[str] = field(default_factory=list)


LEDGER = Ledger()


def active_admins() -> set[str] | None:
    """Active admins of the test's database, or None when no database was ever opened."""
    if database.obj is None:
        return None
    from appsrc.mail.mailer import active_admin_addresses

    with database.connection_context():
        return set(active_admin_addresses())


def audit_simulator(simulator, test: str) -> list[str]:
    problems = []
    sent = simulator.sent_messages()
    draft_calls = [c for c in simulator.calls() if c.method.startswith("users.drafts.")]
    send_calls = [c for c in simulator.calls() if c.method == "users.messages.send"]
    LEDGER.simulators += 1
    LEDGER.sends += len(sent)
    LEDGER.drafts += sum(1 for c in draft_calls if c.method == "users.drafts.create")
    if sent or send_calls:
        admins = active_admins()
        for message in sent:
            LEDGER.recipients += len(message.recipients)
            outsiders = sorted(set(r.lower() for r in message.recipients) - (admins or set()))
            if admins is None or outsiders:
                problems.append(f"{test}: Gmail send to non-admins {outsiders or message.recipients}")
    for call in draft_calls:
        if call.method != "users.drafts.create":
            problems.append(f"{test}: a draft operation other than drafts.create: {call.method}")
    LEDGER.violations += problems
    return problems
