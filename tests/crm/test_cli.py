"""The real command line (`python -m appsrc ...` in a subprocess, data dir in a temporary folder):
`import investors FILE.csv` and `users token EMAIL`, as an admin's scripts use them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.store.models import ApiToken, AuditEvent, ContactEmail, Investor, InvestorDomain

ROOT = Path(__file__).resolve().parents[2]
HEADER = "investor,domains,graveyard,contact_name,contact_email\n"
GOOD = HEADER + (
    "Acme Capital,acme.example;acmecap.example,0,Jane Roe,jane@acme.example\n"
    "Acme Capital,,,Sam Lee,sam@acme.example\n"
    "Beta Partners,beta.example,1,,\n"
)


@pytest.fixture
def cli(tmp_path):
    """Run `python -m appsrc ARGS` against a data dir of its own; returns the CompletedProcess."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CRM_DATA_DIR": str(tmp_path / "data"),
        "CRM_DEMO": "off",
        "CRM_OWN_DOMAINS": "fund.example",
        "CRM_LOG_LEVEL": "warning",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "appsrc", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )

    run.env = env
    return run


@pytest.fixture
def store(cli):
    """The same store, opened in this process to look at what the CLI wrote (after it ran)."""
    opened = []

    def open_store():
        runtime = build_runtime(load_settings(dict(cli.env)), allow_demo=False)
        opened.append(runtime)
        return runtime

    yield open_store
    for runtime in opened:
        runtime.close()


def state():
    return (
        sorted((i.name, i.graveyard) for i in Investor.select()),
        sorted((d.domain, d.investor.name) for d in InvestorDomain.select()),
        sorted((c.address, c.contact.name) for c in ContactEmail.select()),
    )


def test_a_bad_row_is_reported_by_line_on_stderr_and_nothing_is_written(cli, store, tmp_path):
    path = tmp_path / "lps.csv"
    path.write_text(GOOD + "Gamma,gmail.com,0,,\nDelta,delta.example,7,,\n", encoding="utf-8")
    result = cli("import", "investors", str(path))
    assert result.returncode != 0
    assert f"{path}:5: gmail.com is a free-mail domain" in result.stderr
    assert f"{path}:6: graveyard must be 0 or 1" in result.stderr
    assert "2 problem(s)" in result.stderr and "nothing was imported" in result.stderr
    assert "imported" not in result.stdout
    store()
    assert state() == ([], [], [])
    assert not AuditEvent.select().where(AuditEvent.action == "investors.import").exists()


def test_a_good_file_is_written_and_a_second_run_changes_nothing(cli, store, tmp_path):
    path = tmp_path / "lps.csv"
    path.write_text(GOOD, encoding="utf-8")
    dry = cli("import", "investors", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import 3 row(s): investors 2 new, 0 updated; contacts 2 new, 0 updated" in dry.stdout
    first = cli("import", "investors", str(path))
    assert first.returncode == 0, first.stderr
    assert "imported 3 row(s): investors 2 new, 0 updated; contacts 2 new, 0 updated" in first.stdout
    second = cli("import", "investors", str(path))
    assert second.returncode == 0, second.stderr
    assert "investors 0 new, 0 updated; contacts 0 new, 0 updated" in second.stdout
    store()
    assert state() == (
        [("Acme Capital", False), ("Beta Partners", True)],
        [("acme.example", "Acme Capital"), ("acmecap.example", "Acme Capital"), ("beta.example", "Beta Partners")],
        [("jane@acme.example", "Jane Roe"), ("sam@acme.example", "Sam Lee")],
    )
    assert AuditEvent.select().where(AuditEvent.action == "investors.import").count() == 2


def test_the_cli_keeps_domains_a_file_leaves_empty_and_replaces_listed_ones(cli, store, tmp_path):
    """The same semantics as the dashboard's import: they share `import_investors_csv`."""
    path = tmp_path / "lps.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert cli("import", "investors", str(path)).returncode == 0
    path.write_text(
        HEADER + "Acme Capital,,,Ann Poe,ann@acme.example\nBeta Partners,beta-lp.example,,,\n", encoding="utf-8"
    )
    result = cli("import", "investors", str(path))
    assert result.returncode == 0, result.stderr
    assert "investors 0 new, 1 updated; contacts 1 new, 0 updated" in result.stdout
    store()
    assert state()[1] == [
        ("acme.example", "Acme Capital"),
        ("acmecap.example", "Acme Capital"),
        ("beta-lp.example", "Beta Partners"),
    ]


def test_users_token_prints_a_working_token_last_and_stores_only_its_hash(cli, store):
    assert cli("users", "add", "ada@fund.example", "--name", "Ada", "--admin").returncode == 0
    result = cli("users", "token", "ada@fund.example", "--label", "nightly export")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("irm_") and len(token) > 30
    runtime = store()
    row = ApiToken.get()
    assert (row.user.email, row.label) == ("ada@fund.example", "nightly export")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    database_bytes = b"".join(p.read_bytes() for p in Path(cli.env["CRM_DATA_DIR"]).glob("crm.sqlite3*"))
    assert token.encode() not in database_bytes
    from appsrc.web.app import create_app

    client = create_app(runtime, dashboard=False).test_client()
    response = client.get("/api/investors", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json == {"items": []}
    assert client.get("/api/investors", headers={"Authorization": f"Bearer {token}x"}).status_code == 401


def test_users_token_refuses_a_teammate_and_an_unknown_address(cli, store):
    assert cli("users", "add", "bob@fund.example", "--name", "Bob").returncode == 0
    refused = cli("users", "token", "bob@fund.example")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "bob@fund.example is not an admin" in refused.stderr
    unknown = cli("users", "token", "nobody@fund.example")
    assert unknown.returncode != 0 and "no user" in unknown.stderr
    store()
    assert ApiToken.select().count() == 0


def test_capture_scope_and_mailbox_lifecycle_from_the_command_line(cli, store):
    shown = cli("capture-scope")
    assert shown.returncode == 0 and "capture scope: investors" in shown.stdout  # a new install
    assert cli("capture-scope", "everything").returncode == 2  # argparse names the choices
    switched = cli("capture-scope", "all")
    assert switched.returncode == 0 and "capture scope: all" in switched.stdout

    assert cli("users", "add", "bob@fund.example").returncode == 0
    missing = cli("mailboxes", "pause", "nobody@fund.example")
    assert missing.returncode == 1 and "no mailbox nobody@fund.example" in missing.stderr
    assert cli("mailboxes", "pause", "bob@fund.example").stdout.strip() == "bob@fund.example: paused"
    refused = cli("mailboxes", "remove", "bob@fund.example", stdin="alice@fund.example\n")
    assert refused.returncode == 1 and "type the mailbox's address" in refused.stderr
    removed = cli("mailboxes", "remove", "bob@fund.example", stdin="bob@fund.example\n")
    assert removed.returncode == 0 and "sightings removed 0" in removed.stdout

    from appsrc.store import queries

    store()
    assert [(m["address"], m["state"]) for m in queries.list_mailboxes()] == [("bob@fund.example", "removed")]
    assert cli("mailboxes", "resume", "bob@fund.example").returncode == 0
    assert [m["state"] for m in queries.list_mailboxes()] == ["active"]
