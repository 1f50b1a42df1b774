"""The background loop: due mailboxes are synced, failures are recorded and never kill the
loop, "sync now" is honoured, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from appsrc.crm.users import add_user
from appsrc.store.models import EmailAccount
from appsrc.worker import Worker

ALICE = "alice@fund.example"


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_syncs_due_mailboxes_and_survives_a_failing_step(runtime, sim, caplog):
    sim.add_mailbox(ALICE)
    sim.insert_message(ALICE, b"From: x@lp.example\r\nTo: alice@fund.example\r\nSubject: hi\r\n\r\nbody\r\n")
    add_user(ALICE, "Alice", runtime.clock.now())
    calls = {"boom": 0}

    def boom():
        calls["boom"] += 1
        raise RuntimeError("step exploded")

    worker = Worker(runtime, dispatch_every_s=0.2, steps=[(0.2, "exploding step", boom)])
    thread = worker.start_thread()
    try:
        assert wait_for(lambda: EmailAccount.get(EmailAccount.address == ALICE).stored_count == 1)
        assert wait_for(lambda: calls["boom"] >= 3)  # it failed, and the loop went on calling it
        assert "exploding step" in caplog.text and "step exploded" in caplog.text
        # "sync now" from the dashboard: a new message is picked up without waiting the interval
        sim.insert_message(ALICE, b"From: y@lp.example\r\nTo: alice@fund.example\r\nSubject: again\r\n\r\nb\r\n")
        EmailAccount.update(sync_requested_at=runtime.clock.now()).execute()
        assert wait_for(lambda: EmailAccount.get(EmailAccount.address == ALICE).stored_count == 2)
        # The request is answered when that sync finishes (its messages are written first).
        assert wait_for(lambda: EmailAccount.get(EmailAccount.address == ALICE).sync_requested_at is None)
    finally:
        worker.stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_slow_step_never_holds_up_mailbox_sync_nor_runs_twice_at_once(runtime, sim):
    """The digest can wait on the LLM or a mail server for many seconds: sync goes on meanwhile."""
    import threading

    sim.add_mailbox(ALICE)
    add_user(ALICE, "Alice", runtime.clock.now())
    release = threading.Event()
    started = []

    def slow():
        started.append(time.monotonic())
        release.wait(20)

    worker = Worker(runtime, dispatch_every_s=0.2, steps=[(0.2, "slow step", slow)])
    thread = worker.start_thread()
    try:
        assert wait_for(lambda: started)
        sim.insert_message(ALICE, b"From: x@lp.example\r\nTo: alice@fund.example\r\nSubject: hi\r\n\r\nb\r\n")
        EmailAccount.update(sync_requested_at=runtime.clock.now()).execute()
        assert wait_for(lambda: EmailAccount.get(EmailAccount.address == ALICE).stored_count == 1, timeout=10)
        assert len(started) == 1  # still blocked: the 0.2 s ticks did not start a second run
        release.set()
        assert wait_for(lambda: len(started) >= 2)
    finally:
        release.set()
        worker.stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_mailbox_in_permanent_error_is_recorded_and_others_still_sync(runtime, sim):
    sim.add_mailbox(ALICE)
    sim.insert_message(ALICE, b"From: x@lp.example\r\nTo: alice@fund.example\r\nSubject: hi\r\n\r\nbody\r\n")
    add_user(ALICE, "Alice", runtime.clock.now())
    add_user("ghost@fund.example", "Ghost", runtime.clock.now())  # not a Workspace user
    worker = Worker(runtime, dispatch_every_s=0.2, steps=[])
    thread = worker.start_thread()
    try:
        assert wait_for(
            lambda: EmailAccount.get(EmailAccount.address == "ghost@fund.example").last_error_kind == "permanent"
        )
        assert wait_for(lambda: EmailAccount.get(EmailAccount.address == ALICE).stored_count == 1)
    finally:
        worker.stop_event.set()
        thread.join(timeout=10)


def test_worker_command_stops_cleanly_on_sigterm(sim, tmp_path):
    from tests.capture.conftest import make_runtime

    sim.add_mailbox(ALICE)
    rt = make_runtime(sim, tmp_path)
    add_user(ALICE, "Alice", rt.clock.now())
    rt.close()
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url}
    proc = subprocess.Popen([sys.executable, "-m", "appsrc", "worker"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: sim.calls(method="users.getProfile"), timeout=30)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "SIGTERM received" in stderr and "worker stopped" in stderr


def test_the_worker_checkpoints_the_wal_off_the_sync_path(runtime):
    from appsrc.worker import default_steps

    steps = {name: (every, step) for every, name, step in default_steps(runtime)}
    every, checkpoint = steps["database checkpoint"]
    assert every <= 60
    runtime.db.execute_sql("CREATE TABLE scratch (x)")
    runtime.db.execute_sql("INSERT INTO scratch VALUES (1)")
    busy, log_frames, checkpointed = runtime.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    runtime.db.execute_sql("INSERT INTO scratch VALUES (2)")
    checkpoint()
    busy, log_frames, checkpointed = runtime.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and checkpointed == log_frames  # nothing was left for this one to copy
