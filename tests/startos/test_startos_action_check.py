"""The `check-gmail-delegation` action: `python -m appsrc check --json` summarized for an admin.

Contract relied on: one JSON object {"ok", "key": {"ok", "client_id", "error", "fix"},
"mailboxes": [{"address", "ok", "error", "fix"}]}; exit 0 when all ok, 1 otherwise.
"""

from __future__ import annotations

import pytest
from startos_helpers import ACTIONS, ActionRun, run_script, script_env

KEY_OK = {"ok": True, "client_id": "104123456789012345678", "error": None, "fix": None}


def test_all_good(action, data_dir, fake_appsrc):
    fake_appsrc.answer(
        "check",
        "--json",
        rc=0,
        json_out={
            "ok": True,
            "key": KEY_OK,
            "mailboxes": [
                {"address": "alice@fund.com", "ok": True, "error": None, "fix": None},
                {"address": "bob@fund.com", "ok": True, "error": None, "fix": None},
            ],
        },
    )
    out = action("check-gmail-delegation", None, env=fake_appsrc.env(data_dir)).output()
    assert out["message"].startswith("Gmail delegation works for every team mailbox.")
    assert "Mailboxes: 2 of 2 OK." in out["message"]
    assert "104123456789012345678" in out["message"]
    assert out["value"] is None
    assert fake_appsrc.calls()[0]["args"] == ["check", "--json"]


def test_each_failing_mailbox_is_listed_with_its_fix(action_stdin, data_dir, fake_appsrc):
    fake_appsrc.answer(
        "check",
        "--json",
        rc=1,
        json_out={
            "ok": False,
            "key": KEY_OK,
            "mailboxes": [
                {"address": "alice@fund.com", "ok": True, "error": None, "fix": None},
                {
                    "address": "bob@fund.com",
                    "ok": False,
                    "error": "unauthorized_client",
                    "fix": "Grant both scopes to client 104123456789012345678 in the Admin console.",
                },
                {
                    "address": "carol@fund.com",
                    "ok": False,
                    "error": "invalid_grant: Invalid email or User ID",
                    "fix": "Check the user exists.",
                },
            ],
        },
    )
    message = action_stdin("check-gmail-delegation", None, env=fake_appsrc.env(data_dir)).output()["message"]
    assert message.splitlines() == [
        "Gmail delegation needs attention:",
        "Key: OK (client ID 104123456789012345678).",
        "Mailboxes: 1 of 3 OK.",
        "- bob@fund.com: unauthorized_client",
        "  Fix: Grant both scopes to client 104123456789012345678 in the Admin console.",
        "- carol@fund.com: invalid_grant: Invalid email or User ID",
        "  Fix: Check the user exists.",
    ]


def test_a_missing_key_says_what_to_do(action_stdin, data_dir, fake_appsrc):
    fake_appsrc.answer(
        "check",
        "--json",
        rc=1,
        json_out={
            "ok": False,
            "mailboxes": [],
            "key": {
                "ok": False,
                "client_id": None,
                "error": "no delegation key configured",
                "fix": "Run the Configure Gmail Delegation action.",
            },
        },
    )
    message = action_stdin("check-gmail-delegation", None, env=fake_appsrc.env(data_dir)).output()["message"]
    assert "Key: no delegation key configured" in message
    assert "Fix: Run the Configure Gmail Delegation action." in message
    assert "Mailboxes: not checked until the key works." in message


def test_no_mailboxes_yet(action_stdin, data_dir, fake_appsrc):
    fake_appsrc.answer("check", "--json", rc=0, json_out={"ok": True, "key": KEY_OK, "mailboxes": []})
    message = action_stdin("check-gmail-delegation", None, env=fake_appsrc.env(data_dir)).output()["message"]
    assert "Mailboxes: none yet. Add team members on the dashboard's Users page." in message


@pytest.mark.parametrize(
    "rc, stdout, stderr, reason",
    [
        (2, "", "error: bad setting: CRM_PORT='x'\n", "could not run: error: bad setting"),
        (1, "Traceback...\n", "", "did not print its JSON report"),
        (0, '{"ok": true}', "", "missing ok, key or mailboxes"),
    ],
)
def test_a_check_that_cannot_run_is_an_action_error(action_stdin, data_dir, fake_appsrc, rc, stdout, stderr, reason):
    fake_appsrc.answer("check", "--json", rc=rc, stdout=stdout, stderr=stderr)
    run = action_stdin("check-gmail-delegation", None, env=fake_appsrc.env(data_dir))
    assert run.returncode != 0 and run.stdout == "" and reason in run.stderr


def test_end_to_end_without_a_key(data_dir):
    """With no key configured the real check reports the key and the action relays the fix."""
    import subprocess
    import sys

    env = script_env(data_dir)
    subprocess.run([sys.executable, "-m", "appsrc", "migrate"], env=env, check=True, capture_output=True)
    run = ActionRun(run_script(ACTIONS / "check-gmail-delegation", env))
    message = run.output()["message"]
    assert message.startswith("Gmail delegation needs attention:")
    assert "Key:" in message and "Fix:" in message
