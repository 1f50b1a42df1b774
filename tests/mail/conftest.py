"""Mail fixtures: real SMTP servers (aiosmtpd) with TLS material made at test time, the Gmail
simulator, personas in a migrated database, and the recipient audit every test ends with."""

from __future__ import annotations

import pytest

from appsrc.crm.users import add_user
from appsrc.store.models import User
from appsrc.simulator import GmailSimulator
from tests.mail import servers


@pytest.fixture(autouse=True)
def recipients_are_active_admins(db):
    """Every message any test server received went to active admins only (checked at receipt for
    SMTP; for the Gmail simulator, at the end of the test)."""
    servers.VIOLATIONS.clear()
    servers.SIMULATORS.clear()
    yield
    problems = list(servers.VIOLATIONS)
    for simulator in servers.SIMULATORS:
        problems += servers.sent_by_simulator_violations(simulator)
    servers.VIOLATIONS.clear()
    servers.SIMULATORS.clear()
    assert not problems, problems


@pytest.fixture
def sim():
    """A running Gmail simulator (quota off), registered with the recipient audit."""
    simulator = GmailSimulator()
    simulator.quota.update(enabled=False)
    servers.SIMULATORS.append(simulator)
    with simulator:
        yield simulator


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """A throwaway CA and a server certificate for 127.0.0.1, made with `cryptography`."""
    return servers.make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls):
    """SMTP on 127.0.0.1 requiring STARTTLS and AUTH (the production shape)."""
    server = servers.SmtpServer(tls).start()
    yield server
    server.stop()


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
    from appsrc.capture.credentials import DelegatedCredentials
    from appsrc.capture.gmail import GmailRemotes, RetryPolicy
    from appsrc.clock import SystemClock

    for address in ("ada@fund.example", "ben@fund.example", "tom@fund.example", "ivy@fund.example",
                    "digest@fund.example"):
        sim.add_mailbox(address)
    key = tmp_path / "secrets" / "dwd" / "service_account.json"
    key.parent.mkdir(parents=True, exist_ok=True)
    sim.make_service_account_key(str(key))
    clock = SystemClock()
    return GmailRemotes(DelegatedCredentials(key, clock), sim.url, clock,
                        retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02))
