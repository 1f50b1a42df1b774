"""Crash safety: SIGKILL the sync process at random points of a backfill, resume, and compare
the store with the dataset — nothing lost, nothing duplicated."""

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
from appsrc.store.models import EmailAccount
from tests.capture.conftest import DATASET_NOW, make_runtime
from tests.capture.test_sync import assert_store_matches_dataset

KILLS_WANTED = 10


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(sim, tmp_path):
    # Two mailboxes of ~700 messages: more than one list page each (Gmail pages hold 500).
    team = generate_team(21, team_size=3, investors=8, messages_per_mailbox=700, now=DATASET_NOW,
                         huge_attachment_bytes=200_000)
    team.gmail_ids = team.load_into(sim)
    sim.configure(latency_s=0.01)
    runtime = make_runtime(sim, tmp_path, CRM_OWN_DOMAINS=",".join(team.own_domains))
    now = runtime.clock.now()
    for member in team.team:
        add_user(member.address, member.name, now)
    import_investors_csv(team.investors_csv(), now, own_domains=frozenset(team.own_domains))

    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url,
           "CRM_OWN_DOMAINS": ",".join(team.own_domains), "CRM_LOG_LEVEL": "warning"}
    rng = random.Random(7)
    kills_mid_backfill = 0
    for _attempt in range(40):
        proc = subprocess.Popen([sys.executable, "-m", "appsrc", "sync"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills_mid_backfill < KILLS_WANTED:
            time.sleep(rng.uniform(0.9, 2.2))  # includes ~0.8 s of interpreter start-up
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                states = [a.backfill_state for a in EmailAccount.select()]
                if "running" in states or "pending" in states:
                    kills_mid_backfill += 1
                continue
        _, stderr = proc.communicate(timeout=300)
        if proc.returncode == 0:
            break
        pytest.fail(f"sync failed after the kills: {stderr.decode()[-2000:]}")
    assert kills_mid_backfill >= KILLS_WANTED
    assert all(a.backfill_state == "done" for a in EmailAccount.select())
    assert_store_matches_dataset(team)
    runtime.close()
