"""Shared fixtures. Fakes at the network seam are real local servers (the Gmail simulator, an
SMTP server, an LLM stub); the database is a real SQLite file in a temporary directory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appsrc.clock import FrozenClock
from appsrc.settings import load_settings
from appsrc.store.db import open_database
from appsrc.store.migrations import migrate
from tests import no_skips

NOW = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)


def pytest_configure(config):
    """From here on, every Gmail simulator started in this process is watched by the hard-rule
    ledger (tests/hard_rule.py), whatever the scope of the fixture that starts it."""
    from appsrc.simulator import GmailSimulator
    from tests import hard_rule

    original_start = GmailSimulator.start

    def start(self, *args, **kwargs):
        started = original_start(self, *args, **kwargs)
        hard_rule.watch(self)
        return started

    GmailSimulator.start = start


def _exempt_from_the_hard_rule(node) -> bool:
    """The simulator's own tests exercise it with arbitrary mail."""
    return node.path.parent.name == "simulator"


def pytest_runtest_protocol(item, nextitem):
    from tests import hard_rule

    hard_rule.begin_test(item.nodeid, exempt=_exempt_from_the_hard_rule(item))


def pytest_runtest_logfinish(nodeid, location):
    from tests import hard_rule

    hard_rule.end_test(nodeid)


@pytest.fixture(autouse=True)
def hard_rule_watch(request):
    """When the test ends (its other fixtures torn down), audit what every watched Gmail simulator
    did and what the SMTP test servers were asked to deliver since the last audit; fail the test
    on any violation (see tests/hard_rule.py)."""
    from tests import hard_rule

    yield
    if not _exempt_from_the_hard_rule(request.node):
        problems = hard_rule.audit()
        assert not problems, problems


@pytest.fixture
def sim():
    """A running Gmail simulator with quota limits off (functional tests; benchmarks turn them on)."""
    from appsrc.simulator import GmailSimulator

    simulator = GmailSimulator()
    simulator.quota.update(enabled=False)
    with simulator:
        yield simulator


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """A throwaway CA and a server certificate for 127.0.0.1, made with `cryptography`."""
    from tests.mail import servers

    return servers.make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls):
    """A real SMTP server (aiosmtpd) on 127.0.0.1 requiring STARTTLS and AUTH, as production
    SMTP providers do; it checks every recipient against the active admins as mail arrives."""
    from tests.mail import servers

    server = servers.SmtpServer(tls).start()
    yield server
    server.stop()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """After the session's own teardown: a last audit (what happened after the last test). An
    xdist worker hands its ledger to the controller; the controller (or a run without workers)
    fails the run when the ledger holds any violation, even one no test failed on."""
    from dataclasses import asdict

    from tests import hard_rule

    hard_rule.audit()
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["hard_rule"] = asdict(hard_rule.LEDGER)
        return
    if hard_rule.LEDGER.violations:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if no_skips.SKIPPED and no_skips.ci_like():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_logreport(report):
    """Every report (a worker's too, on the xdist controller), for the no-skip rule."""
    no_skips.record(report)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """(xdist) A worker's ledger joins the controller's."""
    from tests import hard_rule

    report = getattr(node, "workeroutput", {}).get("hard_rule")
    if report:
        ledger = hard_rule.LEDGER
        for name in ("sends", "recipients", "drafts", "simulators"):
            setattr(ledger, name, getattr(ledger, name) + report[name])
        ledger.violations += report["violations"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests import hard_rule

    why = no_skips.ci_like() if no_skips.SKIPPED else None
    if why:
        terminalreporter.write_line(
            f"{len(no_skips.SKIPPED)} test(s) skipped on a CI-like machine ({why}): the run fails", red=True
        )
        for skipped in no_skips.SKIPPED:
            terminalreporter.write_line(f"SKIPPED ON CI: {skipped}", red=True)

    ledger = hard_rule.LEDGER
    if not (ledger.simulators or ledger.sends or ledger.violations):
        return
    verdict = (
        f"{len(ledger.violations)} HARD RULE VIOLATION(S): the run fails"
        if ledger.violations
        else "all to active admins"
    )
    terminalreporter.write_line(
        f"hard rule: {ledger.simulators} Gmail simulator(s) audited; {ledger.sends} send(s) to "
        f"{ledger.recipients} recipient(s); {ledger.drafts} drafts.create; {verdict}",
        red=bool(ledger.violations),
    )
    for violation in ledger.violations:
        terminalreporter.write_line(f"HARD RULE VIOLATION: {violation}", red=True)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at a Monday afternoon (UTC) that tests advance by hand."""
    return FrozenClock(NOW)


@pytest.fixture
def settings(tmp_path):
    """Settings as the appliance would load them, with the data dir in a temporary folder and
    demo mode off."""
    return load_settings({"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_DEMO": "off"})


@pytest.fixture
def db(settings):
    """A migrated SQLite file in the temporary data dir, bound to the models."""
    database = open_database(settings.database_url)
    migrate(database)
    yield database
    database.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's server binaries, which `make test`
    installs). PostgreSQL refuses to run as root, so as root the cluster runs as `postgres`."""
    import glob
    import os
    import pwd
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL server binaries not installed (make test installs them)")
    bindir = os.path.dirname(binaries[-1])
    # Outside pytest's 0700 tmp tree, which the postgres user could not enter.
    top = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir(mode=0o700)
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user")
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*run_as, f"{bindir}/initdb", "-D", str(data), "-U", "crm", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    log = data / "server.log"  # inside the cluster's own folder, writable by its owner
    subprocess.run(
        [
            *run_as,
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield {"port": port, "bindir": bindir, "run_as": run_as}
    finally:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database in the session's PostgreSQL server, in the C locale (a common
    default, and the strictest: its character classes know only ASCII)."""
    import psycopg2

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    admin = psycopg2.connect(host="127.0.0.1", port=postgres_server["port"], user="crm", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    admin.close()
    return f"postgresql://crm@127.0.0.1:{postgres_server['port']}/{name}"
