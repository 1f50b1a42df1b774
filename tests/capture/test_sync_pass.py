"""The CLI's one-off `sync` leases each mailbox as a worker does: a mailbox a worker is syncing is
left to it (no Gmail call for it), the others are synced, and the pass's leases end with it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from appsrc.store import leases
from appsrc.store.models import EmailAccount
from appsrc.worker import leased_sync_pass


def test_a_sync_pass_leaves_a_mailbox_another_worker_holds(crm, team, sim):
    worker_lock = leases.single_worker_lock()  # a worker process runs on this SQLite database
    now = crm.clock.now()
    other = leases.WorkerIdentity("other-worker", "host-b", 42)
    leases.register(other, now)
    held = EmailAccount.get(EmailAccount.address == team.team[0].address)
    assert leases.claim_mailbox(held.id, other, now, timedelta(minutes=5))
    sim.clear_calls()

    reports, busy = leased_sync_pass(crm)

    assert busy == [(held.address, "host-b:42")]
    assert sorted(r.address for r in reports) == sorted(m.address for m in team.team[1:])
    assert all(r.ok and r.stored for r in reports)
    assert sim.calls(user=held.address) == []
    # The pass let go of what it held; the worker still holds its mailbox.
    states = {a.address: (a.lease_owner, a.lease_expires_at) for a in EmailAccount.select()}
    assert states[held.address][0] == "other-worker" and states[held.address][1] > now
    assert all(expires is None for address, (_, expires) in states.items() if address != held.address)
    worker_lock.close()


def test_a_killed_pass_does_not_hold_the_next_one_back_on_sqlite(crm, team, sim):
    """With no worker process alive on the SQLite database, leases left by a pass that was killed
    (no release, no expiry yet) are an orphan's: the next pass takes them and syncs everything."""
    now = crm.clock.now()
    dead = leases.WorkerIdentity("killed-pass", "host-a", 4242)
    leases.register(dead, now)
    for account in EmailAccount.select():
        assert leases.claim_mailbox(account.id, dead, now, timedelta(minutes=5))
    reports, busy = leased_sync_pass(crm)
    assert busy == [] and len(reports) == len(team.team) and all(r.ok and r.stored for r in reports)


def test_the_cli_sync_names_the_mailbox_left_to_a_worker(crm, team, sim, tmp_path):
    worker_lock = leases.single_worker_lock()  # a worker process runs on this SQLite database
    now = crm.clock.now()
    other = leases.WorkerIdentity("other-worker", "host-b", 42)
    leases.register(other, now)
    held = EmailAccount.get(EmailAccount.address == team.team[1].address)
    assert leases.claim_mailbox(held.id, other, now, timedelta(minutes=5))
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url}
    done = subprocess.run(
        [sys.executable, "-m", "appsrc", "sync"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"{held.address}: left to host-b:42, which is syncing it now" in done.stdout
    synced = {line.split(":")[0] for line in done.stdout.splitlines() if ": backfill, listed" in line}
    assert synced == {m.address for m in team.team} - {held.address}
    worker_lock.close()
