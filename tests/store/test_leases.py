"""Leases in the store: one holder at a time, taken over only after expiry, released on a
clean stop; the same for fleet-wide steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appsrc.store import leases
from appsrc.store.models import EmailAccount

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def mailbox() -> int:
    return EmailAccount.create(address="ada@fund.example", created_at=NOW).id


def test_a_mailbox_lease_has_one_holder_until_it_expires_or_is_released(db):
    account = mailbox()
    a, b = leases.WorkerIdentity.new(), leases.WorkerIdentity.new()
    ttl = timedelta(seconds=60)
    assert leases.claim_mailbox(account, a, NOW, ttl)
    assert not leases.claim_mailbox(account, b, NOW + timedelta(seconds=59), ttl)
    assert leases.claim_mailbox(account, a, NOW + timedelta(seconds=30), ttl)  # its own: renewed
    assert leases.holds_mailbox(account, a.id, NOW + timedelta(seconds=60))
    assert leases.renew_mailboxes([account], b, NOW, ttl) == set()  # not b's to renew
    assert leases.claim_mailbox(account, b, NOW + timedelta(seconds=91), ttl)  # a stopped renewing
    assert not leases.holds_mailbox(account, a.id, NOW + timedelta(seconds=91))
    leases.release_mailbox(account, b, NOW + timedelta(seconds=92))
    assert leases.claim_mailbox(account, a, NOW + timedelta(seconds=93), ttl)
    leases.register(a, NOW)
    assert leases.worker_labels()[a.id] == a.label
    leases.unregister(a)  # a clean stop frees it at once
    assert leases.claim_mailbox(account, b, NOW + timedelta(seconds=94), ttl)


def test_a_fleet_step_runs_on_one_worker_at_a_time(db):
    a, b = leases.WorkerIdentity.new(), leases.WorkerIdentity.new()
    ttl = timedelta(minutes=10)
    assert leases.claim_job("digest", a, NOW, ttl)
    assert not leases.claim_job("digest", b, NOW + timedelta(minutes=9), ttl)
    assert leases.claim_job("purge", b, NOW, ttl)  # another step: free
    leases.release_job("digest", a)
    assert leases.claim_job("digest", b, NOW + timedelta(minutes=1), ttl)
    assert leases.claim_job("digest", a, NOW + timedelta(minutes=12), ttl)  # b's claim expired


def test_a_second_worker_lock_on_sqlite_is_refused(db):
    first = leases.single_worker_lock()
    try:
        try:
            leases.single_worker_lock()
        except leases.AnotherWorkerRunning as refused:
            assert "SQLite takes one worker" in str(refused)
        else:
            raise AssertionError("a second lock was granted")
    finally:
        assert first is not None
        first.close()
    again = leases.single_worker_lock()
    assert again is not None
    again.close()


def test_orphaned_leases_are_freed_and_a_running_passs_are_kept(db):
    """With no worker running on SQLite, a sync pass frees the leases of passes that died (here,
    under an earlier host name, or leaving no row); a pass still running beside it (a live
    process on this host) keeps its own."""
    import os
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    ttl = timedelta(seconds=60)
    boxes = [EmailAccount.create(address=f"m{n}@fund.example", created_at=NOW).id for n in range(4)]
    running = leases.WorkerIdentity("running", leases.WorkerIdentity.new().host, os.getpid())
    killed = leases.WorkerIdentity("killed", running.host, dead_pid)
    elsewhere = leases.WorkerIdentity("elsewhere", "another-host", os.getpid())
    unknown = leases.WorkerIdentity("unregistered", running.host, dead_pid)
    for me, box in zip((running, killed, elsewhere, unknown), boxes, strict=True):
        if me is not unknown:
            leases.register(me, NOW)
        assert leases.claim_mailbox(box, me, NOW, ttl)
    assert leases.release_orphaned_leases() == 3  # all but the running pass's
    fresh = leases.WorkerIdentity.new()
    assert [leases.claim_mailbox(box, fresh, NOW + timedelta(seconds=1), ttl) for box in boxes] == [
        False,
        True,
        True,
        True,
    ]
