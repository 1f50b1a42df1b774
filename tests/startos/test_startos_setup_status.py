"""The scripts the StartOS 0.4 package runs in the image beside the actions: setup-status (its
set-up tasks) and write-properties --print (its status action), on the real app and database."""

from __future__ import annotations

import json
import stat

import startos_support as support
from startos_helpers import ACTIONS, START9, ActionRun, run_script, script_env


def test_setup_status_on_a_volume_the_service_never_started_on(data_dir):
    env = script_env(data_dir)
    proc = run_script(START9 / "setup-status", env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"admins_active": 0, "delegation_configured": False}
    # It migrated the database, privately, as the service would have.
    assert stat.S_IMODE((data_dir / "crm.sqlite3").stat().st_mode) == 0o600

    ActionRun(run_script(ACTIONS / "create-admin", env, stdin=json.dumps({"email": "alice@fund.com"}))).output()
    support.write_secret_set(
        data_dir / "secrets" / "dwd", {"service_account.json": "{}"}, support.DWD_FIELDS, root=data_dir
    )
    proc = run_script(START9 / "setup-status", env)
    assert json.loads(proc.stdout) == {"admins_active": 1, "delegation_configured": True}


def test_setup_status_says_why_it_cannot_tell(data_dir):
    env = script_env(data_dir, CRM_DATABASE_URL="mysql://nope/db")
    proc = run_script(START9 / "setup-status", env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: preparing the database failed: ")
    assert "unsupported database URL scheme" in proc.stderr


def test_write_properties_print_shows_them_without_writing_the_file(data_dir):
    proc = run_script(START9 / "write-properties", script_env(data_dir), args=["--print"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["data"]
    assert data["Admins"]["value"] == "None yet: run the Create Admin action"
    assert data["Mailboxes syncing"]["value"] == "0 of 0"
    assert not support.properties_path(data_dir).exists()


def test_write_properties_refuses_unknown_arguments(data_dir):
    proc = run_script(START9 / "write-properties", script_env(data_dir), args=["--prnt"])
    assert proc.returncode == 2 and proc.stderr.strip() == "usage: write-properties [--print]"
