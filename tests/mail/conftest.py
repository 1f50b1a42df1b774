"""Mail fixtures: real SMTP servers (aiosmtpd) with TLS material made at test time, the Gmail
simulator, personas in a migrated database, and the recipient audit every test ends with."""

from __future__ import annotations

import pytest

from appsrc.crm.users import add_user
from appsrc.store.models import User
from tests.capture.conftest import sim  # noqa: F401  (the running Gmail simulator fixture)
from tests.mail import servers


@pytest.fixture(autouse=True)
def recipients_are_active_admins(request, db):
    """Every message any test server received went to active admins only (checked at receipt for
    SMTP; for the Gmail simulator, at the end of the test)."""
    servers.VIOLATIONS.clear()
    yield
    problems = list(servers.VIOLATIONS)
    if "sim" in request.fixturenames:
        problems += servers.sent_by_simulator_violations(request.getfixturevalue("sim"))
    servers.VIOLATIONS.clear()
    assert not problems, problems


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
