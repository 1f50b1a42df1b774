"""A delegation key stored while the service runs: the running appliance (no restart) uses it.

The whole path through the running service, with "Sync now", is in test_startos_entrypoint.py.
Here, in process and step by step: the same runtime that failed for want of a key captures once
"Configure Gmail Delegation" has written one, and what the worker does on its own.
"""

from __future__ import annotations

import json

import pytest
from startos_helpers import ACTIONS, ActionRun, run_script, script_env

from appsrc.crm.users import add_user
from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.store.models import EmailAccount
from appsrc.store.queries import mailbox_due_ids
from appsrc.worker import Worker

ALICE = "alice@fund.com"


@pytest.fixture
def keyless(sim, data_dir):
    """The appliance as the package starts it (CRM_DEMO=off) on a volume without a key, with
    one team mailbox that has mail, already synced once and failed for want of the key."""
    sim.add_mailbox(ALICE)
    sim.insert_message(
        ALICE,
        b"From: jane@acme-pension.com\r\nTo: alice@fund.com\r\nSubject: Q3 capital call\r\n\r\nPlease confirm.\r\n",
    )
    settings = load_settings({"CRM_DATA_DIR": str(data_dir), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url})
    runtime = build_runtime(settings)
    assert runtime.demo is None
    add_user(ALICE, "Alice", runtime.clock.now())
    account = EmailAccount.get(EmailAccount.address == ALICE)
    report = runtime.mailbox_sync.sync(account.id)
    assert report.error_kind == "permanent" and "no service-account key" in report.error
    assert "Configure Gmail delegation" in report.fix
    yield runtime, account.id
    runtime.close()


def store_key(sim, data_dir, tmp_path) -> None:
    """Run the real action, as the admin does, with the key Google would have issued."""
    key = sim.make_service_account_key(str(tmp_path / "downloaded-key.json"))
    payload = {"service-account-json": json.dumps(key), "own-domains": "fund.com"}
    ActionRun(
        run_script(ACTIONS / "configure-gmail-delegation", script_env(data_dir), stdin=json.dumps(payload))
    ).output()


def stored(account_id: int) -> int:
    """Messages captured: in full, or bare (a fresh install's scope keeps non-investor mail bare)."""
    from appsrc.store.models import BareSighting

    bare = BareSighting.select().where(BareSighting.account == account_id).count()
    return EmailAccount.get_by_id(account_id).stored_count + bare


def test_the_running_runtime_reads_a_key_written_after_it_started(keyless, sim, data_dir, tmp_path):
    runtime, account_id = keyless
    store_key(sim, data_dir, tmp_path)

    report = runtime.mailbox_sync.sync(account_id)  # what "Sync now" makes the worker run

    assert report.ok, report.error
    assert stored(account_id) == 1
    assert EmailAccount.get_by_id(account_id).last_error is None


def test_the_worker_retries_a_keyless_mailbox_by_itself_once_the_key_appears(keyless, sim, data_dir, tmp_path):
    runtime, account_id = keyless
    worker = Worker(runtime, steps=[])
    worker.release_on_key_change()  # the key watch's first look: no key yet
    store_key(sim, data_dir, tmp_path)

    worker.release_on_key_change()  # its next look, 30 s later in the running service

    assert account_id in mailbox_due_ids(runtime.clock.now(), runtime.settings.sync_interval_s)


def test_a_key_saved_while_the_service_was_stopped_is_used_at_the_next_start(keyless, sim, data_dir, tmp_path):
    runtime, account_id = keyless
    store_key(sim, data_dir, tmp_path)  # the service is stopped; the action runs on its own
    worker = Worker(runtime, steps=[])  # the next start: the watch's first look finds the key
    worker.release_on_key_change()
    assert account_id in mailbox_due_ids(runtime.clock.now(), runtime.settings.sync_interval_s)


def test_a_restart_with_an_old_key_does_not_release_errors_that_came_after_it(keyless, sim, data_dir, tmp_path):
    runtime, account_id = keyless
    store_key(sim, data_dir, tmp_path)
    sim.set_mailbox_status(ALICE, "suspended")  # an error the key cannot fix, after the key
    assert runtime.mailbox_sync.sync(account_id).error_kind == "permanent"
    Worker(runtime, steps=[]).release_on_key_change()
    assert account_id not in mailbox_due_ids(runtime.clock.now(), runtime.settings.sync_interval_s)
