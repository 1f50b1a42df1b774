"""Crash safety: SIGKILL the sync process at random points of a backfill — before its first
write, between group commits, mid-listing with a saved page token — resume, and compare the store
with the dataset: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from appsrc.crm.investors import import_investors_csv
from appsrc.crm.users import add_user
from appsrc.simulator import generate_team
from appsrc.store.models import EmailAccount, EmailAccountMessage, SkippedMessage
from tests.capture.conftest import DATASET_NOW, make_runtime
from tests.capture.test_sync import assert_store_matches_dataset

KILLS_WANTED = 10


def accounted() -> int:
    """Messages the store accounts for so far (stored or skipped), read beside the writer (WAL)."""
    return EmailAccountMessage.select().count() + SkippedMessage.select().count()


def wait_until(predicate, proc, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(sim, tmp_path):
    # Three mailboxes of ~1,500 messages: three list pages and six write groups each (Gmail pages
    # hold 500, a backfill writes 250 at a time), so there is room for a dozen kills mid-backfill.
    team = generate_team(
        21, team_size=3, investors=8, messages_per_mailbox=1500, now=DATASET_NOW, huge_attachment_bytes=200_000
    )
    team.gmail_ids = team.load_into(sim)
    sim.configure(latency_s=0.01)
    runtime = make_runtime(sim, tmp_path, CRM_OWN_DOMAINS=",".join(team.own_domains))
    now = runtime.clock.now()
    for member in team.team:
        add_user(member.address, member.name, now)
    import_investors_csv(team.investors_csv(), now, directory=runtime.directory)
    listed = sum(len(team.messages_in(m.address)) for m in team.team)

    env = {
        **os.environ,
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_DEMO": "off",
        "CRM_GMAIL_API_ENDPOINT": sim.url,
        "CRM_OWN_DOMAINS": ",".join(team.own_domains),
        "CRM_LOG_LEVEL": "warning",
    }
    rng = random.Random(7)
    kills = []  # (messages accounted for at the kill, whether a page token was saved)
    for attempt in range(40):
        if len(kills) >= KILLS_WANTED + 2:
            break
        before = accounted()
        proc = subprocess.Popen(
            [sys.executable, "-m", "appsrc", "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if attempt % 3 == 2:  # at a random moment: start-up, listing or a fetch before any write
            time.sleep(rng.uniform(0.3, 1.5))
        elif not wait_until(lambda before=before: accounted() > before, proc):  # after this run's first write...
            break
        else:
            time.sleep(rng.uniform(0.0, 0.15))  # ...plus a random part of the next fetch or write
        if proc.poll() is not None:
            proc.communicate(timeout=60)
            break  # it finished first: nothing left to interrupt
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if {a.backfill_state for a in EmailAccount.select()} & {"running", "pending"}:
            kills.append((accounted(), any(a.backfill_page_token for a in EmailAccount.select())))
    final = subprocess.run([sys.executable, "-m", "appsrc", "sync"], env=env, capture_output=True, timeout=300)
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    progress = [count for count, _ in kills]
    assert len(kills) >= KILLS_WANTED, kills
    assert len(set(progress)) >= KILLS_WANTED // 2, f"kills should land all over the backfill: {kills}"
    assert sum(0 < count < listed for count in progress) >= KILLS_WANTED // 2, kills  # after writes
    assert any(token for _, token in kills), "no kill landed after a page token was saved (mid-listing)"
    assert all(a.backfill_state == "done" for a in EmailAccount.select())
    assert_store_matches_dataset(team)
    runtime.close()
