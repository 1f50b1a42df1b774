"""Delegation: real google-auth JWTs verified by the simulator's token endpoint, and every
failure classified with its fix, shown on the mailbox, and not retried in a loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from appsrc.crm.users import add_user
from appsrc.gmail.credentials import SCOPE_COMPOSE, SCOPE_READONLY, DelegationError
from appsrc.simulator import GMAIL_READONLY
from appsrc.store.models import EmailAccount
from tests.capture.conftest import make_runtime

GOOD = "alice@fund.example"


@pytest.fixture
def runtime(sim, tmp_path):
    sim.add_mailbox(GOOD)
    rt = make_runtime(sim, tmp_path)
    add_user(GOOD, "Alice", rt.clock.now(), is_admin=True)
    yield rt
    rt.close()


def add_mailbox(rt, sim, address, status):
    if status != "absent":
        sim.add_mailbox(address, status=status)
    add_user(address, address.split("@")[0], rt.clock.now())
    return EmailAccount.get(EmailAccount.address == address)


def test_tokens_are_minted_per_mailbox_and_cached_until_expiry(runtime, sim):
    first = runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
    again = runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
    assert first is again and first.token
    assert len(sim.calls(method="oauth2.token")) == 1


def test_key_file_is_reread_when_it_changes(runtime, sim, tmp_path):
    before = runtime.credentials.key_info().client_id
    time.sleep(0.01)
    sim.make_service_account_key(str(runtime.settings.dwd_key_file), client_id="123456789012345678901")
    assert runtime.credentials.key_info().client_id == "123456789012345678901" != before
    assert runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,)).token


@pytest.mark.parametrize(
    "status, code, fix_words",
    [
        ("unknown", "unknown_user", "active (not suspended or deleted)"),
        ("suspended", "unknown_user", "active (not suspended or deleted)"),
    ],
)
def test_unknown_or_suspended_user_is_permanent_with_a_fix(runtime, sim, status, code, fix_words):
    account = add_mailbox(runtime, sim, f"{status}@fund.example", status)
    report = runtime.mailbox_sync.sync(account.id)
    assert report.error_kind == "permanent" and fix_words in report.fix
    stored = EmailAccount.get_by_id(account.id)
    assert stored.last_error_kind == "permanent" and fix_words in stored.last_error_fix
    assert stored.paused_until is not None and stored.paused_until > runtime.clock.now()
    with pytest.raises(DelegationError) as caught:
        runtime.credentials.credentials_for(account.address, (SCOPE_READONLY,))
    assert caught.value.code == code and caught.value.permanent


def test_consumer_account_is_refused_before_asking_google(runtime, sim):
    sim.clear_calls()
    with pytest.raises(DelegationError) as caught:
        runtime.credentials.credentials_for("someone@gmail.com", (SCOPE_READONLY,))
    assert caught.value.code == "consumer_account" and caught.value.permanent
    assert sim.calls(method="oauth2.token") == []


def test_missing_scope_grant_is_unauthorized_client_naming_the_client_id(runtime, sim):
    client_id = runtime.credentials.key_info().client_id
    sim.set_grant(client_id, [GMAIL_READONLY])  # compose not granted
    runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
    with pytest.raises(DelegationError) as caught:
        runtime.credentials.credentials_for(GOOD, (SCOPE_COMPOSE,))
    assert caught.value.code == "unauthorized_client" and caught.value.permanent
    assert client_id in caught.value.fix and SCOPE_COMPOSE in caught.value.fix


def test_mail_disabled_user_is_permanent(runtime, sim):
    account = add_mailbox(runtime, sim, "nomail@fund.example", "mail_disabled")
    report = runtime.mailbox_sync.sync(account.id)
    assert report.error_kind == "permanent" and "Gmail" in report.fix


def test_malformed_or_missing_key_is_permanent_for_every_mailbox(runtime):
    key = runtime.settings.dwd_key_file
    key.write_text(
        '{"type": "service_account", "client_email": "x@y", "private_key": "not a key", "token_uri": "http://x"}'
    )
    with pytest.raises(DelegationError) as caught:
        runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
    assert caught.value.code == "malformed_key" and "Configure Gmail delegation" in caught.value.fix
    key.unlink()
    with pytest.raises(DelegationError) as caught:
        runtime.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
    assert caught.value.code == "no_key"


def test_clock_skew_is_transient(tmp_path):
    """Our clock an hour ahead of Google's: the JWT's iat is in the future."""
    from appsrc.simulator import GmailSimulator

    with GmailSimulator(clock=lambda: time.time() - 3600) as skewed:
        skewed.add_mailbox(GOOD)
        rt = make_runtime(skewed, tmp_path)
        try:
            with pytest.raises(DelegationError) as caught:
                rt.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
            assert caught.value.code == "clock_skew" and not caught.value.permanent
            assert "clock" in caught.value.fix
        finally:
            rt.close()


def test_network_error_is_transient(tmp_path, sim):
    sim.add_mailbox(GOOD)
    rt = make_runtime(sim, tmp_path)
    sim.stop()
    try:
        with pytest.raises(DelegationError) as caught:
            rt.credentials.credentials_for(GOOD, (SCOPE_READONLY,))
        assert caught.value.code == "network" and not caught.value.permanent
    finally:
        rt.close()


def test_a_permanent_error_is_not_retried_in_a_loop(runtime, sim):
    from appsrc.store.queries import mailbox_due_ids

    account = add_mailbox(runtime, sim, "gone@fund.example", "unknown")
    runtime.mailbox_sync.sync(account.id)
    due = mailbox_due_ids(runtime.clock.now(), interval_s=10)
    assert account.id not in due and EmailAccount.get(EmailAccount.address == GOOD).id in due


def cli(data_dir, sim, *args):
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url}
    return subprocess.run([sys.executable, "-m", "appsrc", *args], capture_output=True, text=True, env=env, timeout=120)


def test_check_command_reports_each_mailbox_with_its_fix(runtime, sim, tmp_path):
    add_mailbox(runtime, sim, "suspended@fund.example", "suspended")
    client_id = runtime.credentials.key_info().client_id
    sim.set_grant(client_id, [GMAIL_READONLY])
    result = cli(tmp_path, sim, "check", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["key"] == {"ok": True, "client_id": client_id, "error": None, "fix": None}
    by_address = {m["address"]: m for m in report["mailboxes"]}
    assert "gmail.compose" in by_address[GOOD]["error"] and client_id in by_address[GOOD]["fix"]
    assert "suspended" in by_address["suspended@fund.example"]["fix"]
    sim.set_grant(client_id, [GMAIL_READONLY, SCOPE_COMPOSE])
    EmailAccount.update(sync_enabled=False).where(EmailAccount.address == "suspended@fund.example").execute()
    human = cli(tmp_path, sim, "check")
    assert human.returncode == 0 and f"{GOOD}: ok" in human.stdout


def test_check_without_a_key_says_how_to_configure_it(tmp_path):
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off"}
    result = subprocess.run([sys.executable, "-m", "appsrc", "check"], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "Configure Gmail delegation" in result.stdout


def test_sync_command_exits_non_zero_naming_the_failed_mailboxes(runtime, sim, tmp_path):
    add_mailbox(runtime, sim, "ghost@fund.example", "unknown")
    result = cli(tmp_path, sim, "sync")
    assert result.returncode == 1
    assert "ghost@fund.example" in result.stderr and "fix:" in result.stdout
    assert f"{GOOD}: backfill" in result.stdout
