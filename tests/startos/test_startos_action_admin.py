"""The `create-admin` action: a generated password shown once, handed to the app's CLI on stdin.

The CLI contract it relies on (appsrc/cli.py):
  python -m appsrc migrate                                                exit 0
  python -m appsrc users add --name=NAME --admin --password-stdin -- EMAIL  exit 0, or 3 if the user exists
  python -m appsrc users set-password --password-stdin --make-admin -- EMAIL  exit 0
(values glued to their option and the address after "--": input starting with "-" stays data)
The fake-CLI tests pin how the action uses that contract; the end-to-end test runs the real CLI
once it is on main.
"""

from __future__ import annotations

import sqlite3

import pytest
from startos_helpers import script_env


def test_a_new_admin_gets_a_generated_password_once(action, data_dir, fake_appsrc):
    fake_appsrc.answer("migrate")
    fake_appsrc.answer("users", "add", rc=0, stdout="created alice@fund.com\n")

    run = action("create-admin", {"email": "Alice@Fund.com", "name": "Alice Martin"}, env=fake_appsrc.env(data_dir))
    out = run.output()

    password = out["value"]
    assert out["copyable"] is True and out["qr"] is False
    assert len(password) >= 20 and password.isprintable()
    assert "Admin alice@fund.com created" in out["message"]
    assert password not in out["message"] and password not in run.stderr
    calls = fake_appsrc.calls()
    assert [c["args"] for c in calls] == [
        ["migrate"],
        ["users", "add", "--name=Alice Martin", "--admin", "--password-stdin", "--", "alice@fund.com"],
    ]
    assert calls[1]["stdin"] == password + "\n"  # on stdin, never on the command line
    assert all(c["data_dir"] == str(data_dir) for c in calls)


def test_an_existing_user_is_made_admin_with_a_new_password(action, data_dir, fake_appsrc):
    fake_appsrc.answer("migrate")
    fake_appsrc.answer("users", "add", rc=3, stderr="error: alice@fund.com already exists\n")
    fake_appsrc.answer("users", "set-password", rc=0)

    out = action("create-admin", {"email": "alice@fund.com"}, env=fake_appsrc.env(data_dir)).output()

    calls = fake_appsrc.calls()
    assert calls[2]["args"] == ["users", "set-password", "--password-stdin", "--make-admin", "--", "alice@fund.com"]
    assert calls[1]["stdin"] == calls[2]["stdin"] == out["value"] + "\n"
    assert "already existed" in out["message"] and "active admin" in out["message"]


def test_the_name_defaults_to_the_address_local_part(action_stdin, data_dir, fake_appsrc):
    fake_appsrc.answer("migrate")
    fake_appsrc.answer("users", "add")
    action_stdin("create-admin", {"email": "bob@fund.com", "name": None}, env=fake_appsrc.env(data_dir)).output()
    assert fake_appsrc.calls()[1]["args"][2] == "--name=bob"


def test_two_runs_give_different_passwords(action_stdin, data_dir, fake_appsrc):
    fake_appsrc.answer("migrate")
    fake_appsrc.answer("users", "add", rc=3)
    fake_appsrc.answer("users", "set-password")
    first = action_stdin("create-admin", {"email": "a@fund.com"}, env=fake_appsrc.env(data_dir))
    second = action_stdin("create-admin", {"email": "a@fund.com"}, env=fake_appsrc.env(data_dir))
    assert first.output()["value"] != second.output()["value"]


@pytest.mark.parametrize(
    "answers, reason",
    [
        ([("migrate", 1, "error: database is locked")], "preparing the database failed: error: database is locked"),
        ([("migrate", 0, ""), ("users add", 2, "error: bad name")], "creating the admin failed: error: bad name"),
        (
            [("migrate", 0, ""), ("users add", 3, ""), ("users set-password", 1, "error: boom")],
            "resetting the password failed: error: boom",
        ),
    ],
)
def test_cli_failures_are_reported_without_the_password(action_stdin, data_dir, fake_appsrc, answers, reason):
    for command, rc, stderr in answers:
        fake_appsrc.answer(*command.split(), rc=rc, stderr=stderr + "\n")
    run = action_stdin("create-admin", {"email": "a@fund.com"}, env=fake_appsrc.env(data_dir))
    assert run.returncode != 0 and run.stdout == ""
    assert reason in run.stderr
    sent = [c["stdin"].strip() for c in fake_appsrc.calls() if c["stdin"]]
    assert all(pw not in run.stderr for pw in sent)


def test_a_cli_that_echoes_the_password_is_redacted(action_stdin, data_dir, fake_appsrc):
    # A misbehaving CLI that prints what it read on stdin: the action must not relay it.
    (fake_appsrc.root / "appsrc" / "__main__.py").write_text(
        "import sys\n"
        "if sys.argv[1] == 'migrate':\n    sys.exit(0)\n"
        "sys.stderr.write('could not use password ' + sys.stdin.read())\n"
        "sys.exit(1)\n"
    )
    run = action_stdin("create-admin", {"email": "a@fund.com"}, env=fake_appsrc.env(data_dir))
    assert run.returncode != 0
    assert "could not use password ********" in run.stderr


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({}, "email: required"),
        ({"email": "not-an-email"}, "email: not a valid email address"),
        ({"email": "a@fund.com", "name": "x" * 201}, "name: longer than 200"),
        ({"email": "a@fund.com", "name": "Al\nice"}, "name: must be a single line"),
    ],
)
def test_bad_input_calls_nothing(action_stdin, data_dir, fake_appsrc, payload, reason):
    run = action_stdin("create-admin", payload, env=fake_appsrc.env(data_dir))
    assert run.returncode != 0 and reason in run.stderr and run.stdout == ""
    assert fake_appsrc.calls() == []


def test_end_to_end_with_the_real_cli(action_stdin, data_dir):
    """Create, then reset: the real database holds one active admin whose hash matches.
    (stdin only: the argument path is the same code, proven with the fake CLI above.)"""

    def run(payload):
        return action_stdin("create-admin", payload, env=script_env(data_dir))

    first = run({"email": "alice@fund.com", "name": "Alice"}).output()
    second = run({"email": "alice@fund.com", "name": "Alice"}).output()
    assert "created" in first["message"] and "already existed" in second["message"]
    assert first["value"] != second["value"]

    db = sqlite3.connect(data_dir / "crm.sqlite3")
    rows = db.execute("SELECT email, is_admin, is_active, password_hash FROM user").fetchall()
    assert len(rows) == 1
    email, is_admin, is_active, password_hash = rows[0]
    assert (email, bool(is_admin), bool(is_active)) == ("alice@fund.com", True, True)
    assert password_hash and second["value"] not in password_hash
    from werkzeug.security import check_password_hash

    assert check_password_hash(password_hash, second["value"])
    assert not check_password_hash(password_hash, first["value"])


def test_input_that_looks_like_an_option_stays_data_with_the_real_cli(action_stdin, data_dir):
    """A name such as "--admin" (argparse once read it as an option and failed) and an address
    starting with "-" are stored as given, on create and on reset."""
    run = lambda payload: action_stdin("create-admin", payload, env=script_env(data_dir))  # noqa: E731

    created = run({"email": "-ops@fund.com", "name": "--admin"}).output()
    reset = run({"email": "-ops@fund.com", "name": "--admin"}).output()
    dash_name = run({"email": "eve@fund.com", "name": "-e"}).output()

    assert "created" in created["message"] and "already existed" in reset["message"]
    assert "created" in dash_name["message"]
    db = sqlite3.connect(data_dir / "crm.sqlite3")
    rows = db.execute("SELECT email, name, is_admin FROM user ORDER BY email").fetchall()
    assert rows == [("-ops@fund.com", "--admin", 1), ("eve@fund.com", "-e", 1)]
