"""Several worker processes on one real PostgreSQL: they share the mailboxes (never two on one
mailbox at once, counted by the simulator), survive a worker killed mid-backfill, welcome a
late one, stay together under one project quota, and lose or duplicate nothing; on SQLite a
second worker is refused."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from appsrc.crm.investors import create_investor
from appsrc.crm.users import add_user
from appsrc.store.models import Email, EmailAccount, EmailAccountMessage
from tests.capture.conftest import DATASET_NOW, make_runtime

ROOT = Path(__file__).resolve().parents[2]
MAILBOXES = [f"member{i:02d}@fund.example" for i in range(20)]


def message(mailbox: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"lp{n % 7}@acme.example" if n % 3 else f"person{n}@elsewhere{n % 5}.example"
    msg["To"] = mailbox
    msg["Subject"] = f"Note {n} for {mailbox}"
    msg["Date"] = format_datetime(DATASET_NOW)
    msg["Message-ID"] = f"<{n}.{mailbox}@fleet.example>"
    msg.set_content(f"Body {n}")
    return msg.as_bytes()


@pytest.fixture
def fleet(sim, tmp_path, postgres_url):
    """20 team mailboxes with mail, registered in a PostgreSQL store (scope all); `start(n)`
    runs worker processes against it, `wait_done()` waits for every mailbox to catch up with
    Gmail."""
    per_mailbox = int(os.environ.get("FLEET_MESSAGES", "120"))
    for address in MAILBOXES:
        sim.add_mailbox(address)
        for n in range(per_mailbox):
            sim.insert_message(address, message(address, n))
    rt = make_runtime(sim, tmp_path, CRM_DATABASE_URL=postgres_url, CRM_OWN_DOMAINS="fund.example")
    now = rt.clock.now()
    for address in MAILBOXES:
        add_user(address, address.split("@")[0], now)
    create_investor("Acme Capital", ["acme.example"], now, directory=rt.directory)
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_DATABASE_URL": postgres_url,
        "CRM_DEMO": "off",
        "CRM_GMAIL_API_ENDPOINT": sim.url,
        "CRM_OWN_DOMAINS": "fund.example",
        "CRM_WORKER_LEASE_S": "5",
        "CRM_LOG_LEVEL": "info",
    }
    processes: list[tuple[subprocess.Popen, Path]] = []

    def start(count: int = 1, **extra: str) -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            log = tmp_path / f"worker-{len(processes)}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "appsrc", "worker"],
                env={**env, **extra},
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log.open("w"),
            )
            processes.append((proc, log))
            started.append(proc)
        return started

    def done() -> bool:
        rows = {a.address: a for a in EmailAccount.select()}
        return all(
            rows[address].backfill_state == "done" and rows[address].history_id == str(sim.history_id(address))
            for address in MAILBOXES
        )

    def wait_done(timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            dead = [log.read_text()[-2000:] for proc, log in processes if proc.poll() not in (None, -9)]
            assert not dead, dead
            stuck = [(a.address, a.last_error) for a in EmailAccount.select() if a.last_error_kind == "permanent"]
            assert not stuck, stuck
            assert time.monotonic() < deadline, "the fleet did not finish: " + str(
                [(a.address, a.backfill_state, a.stored_count) for a in EmailAccount.select()]
            )
            time.sleep(0.5)

    def synced_by() -> dict[int, set[str]]:
        """Worker process id -> the mailboxes it stored mail of (from its log)."""
        found: dict[int, set[str]] = {}
        for proc, log in processes:
            found[proc.pid] = set(re.findall(r"worker \S+: (\S+@fund\.example): \w+ stored [1-9]", log.read_text()))
        return found

    rt.fleet_start, rt.fleet_wait, rt.synced_by, rt.per_mailbox = start, wait_done, synced_by, per_mailbox
    yield rt
    for proc, _log in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _log in processes:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    rt.close()


def assert_nothing_lost_or_duplicated(sim, rt) -> None:
    for address in MAILBOXES:
        account = EmailAccount.get(EmailAccount.address == address)
        sightings = EmailAccountMessage.select().where(EmailAccountMessage.account == account.id).count()
        assert sightings == rt.per_mailbox == len(sim.message_ids(address)), address
        assert account.history_id == str(sim.history_id(address))
    assert Email.select().count() == len(MAILBOXES) * rt.per_mailbox
    # Never two workers on one mailbox: no mailbox ever had two requests in flight at once.
    assert set(sim.most_concurrent().values()) == {1}, sim.most_concurrent()


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [2, 3])
def test_workers_share_the_mailboxes_and_never_sync_one_twice_at_once(fleet, sim, workers):
    sim.configure(latency_s=0.02)
    fleet.fleet_start(workers)
    fleet.fleet_wait()
    assert_nothing_lost_or_duplicated(sim, fleet)
    shares = fleet.synced_by()
    assert all(shares.values()), shares  # every worker took a share
    everyone = [m for mailboxes in shares.values() for m in mailboxes]
    assert sorted(set(everyone)) == sorted(MAILBOXES)


@pytest.mark.postgres
def test_a_worker_killed_mid_backfill_hands_its_mailboxes_over(fleet, sim):
    sim.configure(latency_s=0.2)
    first, second = fleet.fleet_start(2)
    deadline = time.monotonic() + 60
    while not (EmailAccount.select().where(EmailAccount.backfill_state == "running").count() >= 4):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    held = {
        a.address
        for a in EmailAccount.select().where(EmailAccount.backfill_state == "running")
        if a.lease_owner is not None
    }
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    fleet.fleet_wait()
    assert_nothing_lost_or_duplicated(sim, fleet)
    # What the killed worker was in the middle of, the survivor finished.
    assert held & fleet.synced_by()[second.pid]


@pytest.mark.postgres
def test_a_worker_started_late_takes_a_share(fleet, sim):
    sim.configure(latency_s=0.2)
    (early,) = fleet.fleet_start(1)
    deadline = time.monotonic() + 60
    while not EmailAccount.select().where(EmailAccount.backfill_state == "done").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (late,) = fleet.fleet_start(1)
    fleet.fleet_wait()
    assert_nothing_lost_or_duplicated(sim, fleet)
    shares = fleet.synced_by()
    assert shares[early.pid] and shares[late.pid], shares


@pytest.mark.postgres
def test_workers_together_stay_within_the_project_quota(fleet, sim):
    """Three workers, each allowed the whole project quota on its own, would draw three times
    it: sharing one bucket in PostgreSQL, they never make Gmail answer 429."""
    rate = 400  # units per second: the simulator's project quota, and the appliance's setting
    # Gmail counts the project's quota per minute; ten seconds' burst here absorbs two workers'
    # requests arriving together, while three unshared buckets would exhaust it in seconds.
    sim.quota.update(enabled=True, project_units_per_s=rate, project_burst=rate * 10)
    fleet.fleet_start(3, CRM_GMAIL_PROJECT_QUOTA=str(rate * 60))
    started = time.monotonic()
    fleet.fleet_wait()
    elapsed = time.monotonic() - started
    assert_nothing_lost_or_duplicated(sim, fleet)
    assert sim.call_count(status=429) == 0
    # And they used it: the quota, not the workers, set the pace.
    assert sim.units_used() / elapsed > 0.5 * rate


def test_a_second_worker_on_sqlite_is_refused_by_name(sim, tmp_path):
    rt = make_runtime(sim, tmp_path)
    rt.close()
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url}
    log = tmp_path / "first.log"
    first = subprocess.Popen(
        [sys.executable, "-m", "appsrc", "worker"], env=env, cwd=ROOT, stderr=log.open("w"), stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while "started" not in log.read_text():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "appsrc", "worker"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1
        assert "SQLite takes one worker" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    # Once the first has stopped (or died), a worker starts again.
    again = subprocess.Popen(
        [sys.executable, "-m", "appsrc", "worker"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(3)
        assert again.poll() is None
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
