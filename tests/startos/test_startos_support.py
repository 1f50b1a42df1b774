"""startos_support in-process: atomic secret sets (including a failure half-way), ownership for
the app user, the input protocol and the privilege drop of `python -m appsrc` calls."""

from __future__ import annotations

import io
import os
import stat
import subprocess

import pytest
import startos_support as support
from startos_helpers import snapshot

FIELDS = ("host", "port", "password")


def read_set(directory):
    return {f: support.read_secret(directory / f) for f in FIELDS}


def test_a_set_is_published_whole_with_private_modes(data_dir, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "a", "port": "1", "password": "p"}, FIELDS)

    assert read_set(directory) == {"host": "a", "port": "1", "password": "p"}
    live = (directory / support.CURRENT_LINK).resolve()
    assert stat.S_IMODE(live.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in live.iterdir()} == {0o600}
    assert all(os.readlink(directory / f) == f".current/{f}" for f in FIELDS)


def test_an_unset_field_reads_as_missing(data_dir, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "a", "port": "1", "password": "p"}, FIELDS)
    support.write_secret_set(directory, {"host": "b", "port": "2"}, FIELDS)
    assert read_set(directory) == {"host": "b", "port": "2", "password": None}
    assert not (directory / "password").exists()  # a dangling link: "no such file" to readers


def test_a_failure_half_way_leaves_the_old_set_complete_and_no_debris(data_dir, monkeypatch):
    """Disk full (or a crash) while writing the second file of the new set."""
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "old", "port": "1", "password": "old-pw"}, FIELDS)
    before = snapshot(data_dir)

    real_write = os.write
    writes = []

    def failing_write(fd, data):
        writes.append(data)
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(support.os, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        support.write_secret_set(directory, {"host": "new", "port": "2", "password": "new-pw"}, FIELDS)

    assert read_set(directory) == {"host": "old", "port": "1", "password": "old-pw"}
    assert snapshot(data_dir) == before


def test_a_failure_at_the_commit_rename_leaves_the_old_set(data_dir, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "old", "port": "1"}, FIELDS)
    before = snapshot(data_dir)

    def failing_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(support.os, "replace", failing_replace)
    with pytest.raises(OSError):
        support.write_secret_set(directory, {"host": "new", "port": "2"}, FIELDS)
    assert snapshot(data_dir) == before


def test_a_legacy_plain_file_is_taken_over(data_dir, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    directory.mkdir(parents=True)
    (directory / "host").write_text("hand-made")
    support.write_secret_set(directory, {"host": "a"}, FIELDS)
    assert (directory / "host").is_symlink() and read_set(directory)["host"] == "a"


def test_unknown_fields_are_a_programming_error(data_dir):
    with pytest.raises(ValueError):
        support.write_secret_set(data_dir / "x", {"nope": "1"}, FIELDS, root=data_dir)


def test_a_missing_data_dir_is_reported(tmp_path):
    with pytest.raises(support.ActionError, match="does not exist"):
        support.write_secret_set(tmp_path / "absent" / "smtp", {"host": "a"}, FIELDS, root=tmp_path / "absent")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing ownership needs root")
def test_as_root_files_go_to_the_data_dirs_owner(data_dir, monkeypatch):
    """Actions run as root; the app (the volume's owner) must be able to read what they write."""
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    os.chown(data_dir, 1234, 2345)
    support.write_secret_set(data_dir / "secrets" / "smtp", {"host": "a"}, FIELDS)
    support.write_file_atomically(data_dir / "start9" / "stats.yaml", "{}\n")
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in data_dir.rglob("*")}
    assert owners == {(1234, 2345)}


def test_run_appsrc_drops_to_the_data_dirs_owner_when_root(data_dir, monkeypatch):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen.update(kwargs, cmd=cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(support.subprocess, "run", fake_run)
    monkeypatch.setattr(support.os, "geteuid", lambda: 0)
    monkeypatch.setattr(support, "data_owner", lambda root=None: (1000, 1000))
    support.run_appsrc(["migrate"], root=data_dir)
    assert (seen["user"], seen["group"], seen["extra_groups"]) == (1000, 1000, [])
    assert seen["cmd"][1:] == ["-m", "appsrc", "migrate"]
    assert seen["cwd"] == data_dir and seen["env"]["CRM_DATA_DIR"] == str(data_dir)
    assert seen["stdin"] == subprocess.DEVNULL

    seen.clear()
    monkeypatch.setattr(support, "data_owner", lambda root=None: (0, 0))
    support.run_appsrc(["users", "add"], input="pw\n", root=data_dir)
    assert "user" not in seen and seen["input"] == "pw\n"  # a root-owned volume: stay root


@pytest.mark.parametrize(
    "argv, stdin, expected",
    [
        (["x", '{"a": 1}'], "", {"a": 1}),  # 0.4: the last argument
        (["x"], '{"a": 2}', {"a": 2}),  # 0.3.x: stdin
        (["x", "--verbose"], '{"a": 3}', {"a": 3}),  # an argument that is not JSON
        (["x", "[1]"], '{"a": 4}', {"a": 4}),  # JSON, but not an object
        (["x"], "", {}),  # no input at all
        (["x"], "null", {}),
    ],
)
def test_read_input(argv, stdin, expected):
    assert support.read_input(argv, io.StringIO(stdin)) == expected


@pytest.mark.parametrize(
    "value, ok",
    [
        ("smtp.fund.com", True),
        ("mailrelay", True),
        ("10.0.0.5", True),
        ("::1", True),
        ("xn--bcher-kva.example", True),
        ("-bad.com", False),
        ("bad-.com", False),
        ("a" * 64 + ".com", False),
        ("under_score.com", False),
        ("", False),
    ],
)
def test_is_hostname(value, ok):
    assert support.is_hostname(value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("fund.com", True),
        ("mail.fund.co.uk", True),
        ("xn--bcher-kva.ch", True),
        ("fund", False),
        ("10.0.0.5", False),
        ("fund.c0m", False),
        ("fund..com", False),
    ],
)
def test_is_domain(value, ok):
    assert support.is_domain(value) is ok


# --- properties ---------------------------------------------------------------------------------


def test_properties_show_status_and_settings_but_no_secret(data_dir, service_account):
    import json

    support.write_secret_set(
        data_dir / "secrets" / "smtp",
        {
            "host": "smtp.fund.com",
            "port": "465",
            "security": "ssl",
            "username": "u",
            "password": "hunter2-secret",
            "from": "a@fund.com",
        },
        support.SMTP_FIELDS,
        root=data_dir,
    )
    support.write_secret_set(
        data_dir / "secrets" / "dwd",
        {"service_account.json": json.dumps(service_account)},
        support.DWD_FIELDS,
        root=data_dir,
    )
    status = {
        "admins_active": 0,
        "mailboxes_total": 4,
        "mailboxes_syncing": 3,
        "demo": False,
        "last_digest": None,
        "mailboxes_in_error": [
            {"address": "x@fund.com", "kind": "permanent", "error": "unauthorized_client", "fix": "grant"}
        ],
    }

    assert support.write_properties(status, root=data_dir) is True
    text = support.properties_path(data_dir).read_text()
    data = json.loads(text)["data"]
    assert data["Mailboxes syncing"]["value"] == "3 of 4"
    assert data["Admins"]["value"] == "None yet: run the Create Admin action"
    assert data["Mailboxes needing a fix"]["value"] == "1"
    assert data["Gmail capture"]["value"] == "Live Gmail capture"
    assert data["Last digest"]["value"] == "none yet"
    assert data["Digest SMTP"]["value"] == "smtp.fund.com:465 (ssl)"
    assert data["Delegation client ID"] == {
        "type": "string",
        "value": service_account["client_id"],
        "copyable": True,
        "qr": False,
        "masked": False,
        "description": data["Delegation client ID"]["description"],
    }
    for secret in ("hunter2-secret", service_account["private_key_id"], "PRIVATE KEY"):
        assert secret not in text
    # Unchanged content is not rewritten (the health check refreshes it every run).
    assert support.write_properties(status, root=data_dir) is False
    assert support.write_properties({**status, "mailboxes_syncing": 4}, root=data_dir) is True
    assert support.write_properties({**status, "admins_active": 2}, root=data_dir) is True
    assert json.loads(support.properties_path(data_dir).read_text())["data"]["Admins"]["value"] == "2 active"


def test_properties_without_a_status(data_dir):
    data = support.build_properties(None, root=data_dir)["data"]
    assert data["Mailboxes syncing"]["value"].startswith("unknown")
    assert data["Digest SMTP"]["value"] == "not configured"
    assert data["Delegation client ID"]["value"] == "not configured"
    assert data["Gmail capture"]["value"] == "Not configured: run the Configure Gmail Delegation action"
    assert data["Digest settings"]["value"] == "time zone UTC; local LLM none; sent from the first active admin"


def test_properties_show_the_saved_digest_settings(data_dir):
    support.write_secret_set(
        support.digest_settings_dir(data_dir),
        {
            "timezone": "Europe/London",
            "llm-url": "http://llm.fund.lan:8000",
            "llm-model": "llama3",
            "sender": "ir@fund.com",
        },
        support.DIGEST_SETTINGS,
        root=data_dir,
    )
    data = support.build_properties(None, root=data_dir)["data"]
    assert data["Digest settings"]["value"] == (
        "time zone Europe/London; local LLM http://llm.fund.lan:8000 (model llama3); sent from ir@fund.com"
    )


@pytest.mark.parametrize(
    "stdin, grace", [("0", True), ("59999", True), ("60000", False), ("1234.5\n", True), ("", False), ("soon", False)]
)
def test_health_grace_period(stdin, grace):
    assert support.in_grace_period(support.read_elapsed_ms(io.StringIO(stdin))) is grace


@pytest.mark.parametrize(
    "typed",
    [
        "ir@fund.com",
        "IR Desk <ir@fund.com>",
        '"Desk, IR" <IR@Fund.com>',
        "Équipe IR <ir@fund.com>",
        "J. Smith <j@fund.com>",
        "<ir@fund.com>",
        "  IR   Desk  <ir@fund.com> ",
        "ir@fund.com, x@fund.com",
        "IR Desk",
        "IR Desk <ir@fund.com> extra",
        "a@b.com <c@d.com>",
        "IR Desk <IR Desk <ir@fund.com>>",
        "ir@",
        "Desk <ir@fund>",
        "",
        "(" * 3000 + "x <a@b.com>",
    ],
)
def test_the_action_and_the_app_read_a_sender_alike(typed):
    """The action saves what it accepts in its normal form; the app must read that back as the
    same mailbox, and refuse what the action refuses."""
    from appsrc.secret_files import parse_mailbox as app_reads

    try:
        saved = support.parse_mailbox(typed)
    except ValueError:
        with pytest.raises(ValueError):
            app_reads(typed)
        return
    assert app_reads(saved) == app_reads(typed)
