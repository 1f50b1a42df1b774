"""Mail fixtures: real SMTP servers (aiosmtpd) with TLS material made at test time, the Gmail
simulator, personas in a migrated database, and the recipient audit every test ends with."""

from __future__ import annotations

import pytest

from appsrc.crm.users import add_user
from appsrc.store.models import User


@pytest.fixture(autouse=True)
def _database(db):
    """Every test here works in a migrated SQLite file (the recipient audit reads its admins)."""
    yield


@pytest.fixture
def people(db, clock):
    """Personas: Ada and Ben (active admins), Tom (a teammate, not an admin), Ivy (a deactivated
    admin). Every user has a mailbox of the same address."""
    now = clock.now()
    ada = add_user("ada@fund.example", "Ada Admin", now, is_admin=True)
    ben = add_user("ben@fund.example", "Ben Admin", now, is_admin=True)
    tom = add_user("tom@fund.example", "Tom Teammate", now)
    ivy = add_user("ivy@fund.example", "Ivy Inactive", now, is_admin=True)
    User.update(is_active=False).where(User.id == ivy.id).execute()
    return {"ada": ada, "ben": ben, "tom": tom, "ivy": User.get_by_id(ivy.id)}


@pytest.fixture
def gmail_remotes(sim, tmp_path):
    """The capture engine's Gmail remotes pointed at the simulator (real delegation key and
    tokens), with the team's mailboxes present there and short retries."""
    from appsrc.clock import SystemClock
    from appsrc.gmail.client import GmailRemotes, RetryPolicy
    from appsrc.gmail.credentials import DelegatedCredentials

    for address in (
        "ada@fund.example",
        "ben@fund.example",
        "tom@fund.example",
        "ivy@fund.example",
        "digest@fund.example",
    ):
        sim.add_mailbox(address)
    key = tmp_path / "secrets" / "dwd" / "service_account.json"
    key.parent.mkdir(parents=True, exist_ok=True)
    sim.make_service_account_key(str(key))
    clock = SystemClock()
    return GmailRemotes(
        DelegatedCredentials(key, clock),
        sim.url,
        clock,
        retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02),
    )
