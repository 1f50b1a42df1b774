"""Shared fixtures. Fakes at the network seam are real local servers (the Gmail simulator, an
SMTP server, an LLM stub); the database is a real SQLite file in a temporary directory."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appsrc.clock import FrozenClock
from appsrc.settings import load_settings
from appsrc.store.db import open_database
from appsrc.store.migrations import migrate

NOW = datetime(2026, 11, 2, 15, 30, tzinfo=timezone.utc)


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
    subprocess.run([*run_as, f"{bindir}/initdb", "-D", str(data), "-U", "crm", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    log = data / "server.log"  # inside the cluster's own folder, writable by its owner
    subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", str(data), "-l", str(log), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield {"port": port, "bindir": bindir, "run_as": run_as}
    finally:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database in the session's PostgreSQL server."""
    import psycopg2

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    admin = psycopg2.connect(host="127.0.0.1", port=postgres_server["port"], user="crm", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"postgresql://crm@127.0.0.1:{postgres_server['port']}/{name}"
