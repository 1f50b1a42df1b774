"""The `configure-digest-smtp` action: validated fields, one 0600 file each, replaced as a set."""

from __future__ import annotations

import os
import stat

import pytest
from startos_helpers import ACTIONS, load_script, snapshot
from startos_support import ActionError

GOOD = {
    "host": "smtp.fastmail.com",
    "port": 465,
    "security": "ssl",
    "username": "ir-desk@fund.com",
    "password": "correct horse battery staple",
    "from": "IR Desk <ir-desk@fund.com>",
}


def smtp_files(data_dir):
    directory = data_dir / "secrets" / "smtp"
    return {
        name: (directory / name).read_text()
        for name in ("host", "port", "security", "username", "password", "from")
        if (directory / name).exists()
    }


def test_writes_one_private_file_per_field(action, data_dir):
    out = action("configure-digest-smtp", GOOD).output()

    assert smtp_files(data_dir) == {
        "host": "smtp.fastmail.com",
        "port": "465",
        "security": "ssl",
        "username": "ir-desk@fund.com",
        "password": "correct horse battery staple",
        "from": "IR Desk <ir-desk@fund.com>",
    }
    assert out["value"] is None and out["copyable"] is False and out["qr"] is False
    assert "smtp.fastmail.com:465" in out["message"]
    for name in GOOD:
        assert stat.S_IMODE(os.stat(data_dir / "secrets" / "smtp" / name).st_mode) == 0o600
    for directory in (
        data_dir / "secrets",
        data_dir / "secrets" / "smtp",
        (data_dir / "secrets" / "smtp" / ".current").resolve(),
    ):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_password_is_never_printed(action):
    run = action("configure-digest-smtp", GOOD)
    run.output()
    assert GOOD["password"] not in run.stdout + run.stderr


def test_port_defaults_to_the_security_mode(action_stdin, data_dir):
    action_stdin("configure-digest-smtp", {**GOOD, "port": None, "security": "starttls"}).output()
    assert smtp_files(data_dir)["port"] == "587"
    action_stdin("configure-digest-smtp", {**GOOD, "port": None, "security": "ssl"}).output()
    assert smtp_files(data_dir)["port"] == "465"


def test_a_relay_without_sign_in_leaves_no_credentials_behind(action_stdin, data_dir):
    action_stdin("configure-digest-smtp", GOOD).output()
    relay = {
        "host": "10.0.0.25",
        "port": 25,
        "security": "none",
        "username": None,
        "password": None,
        "from": "digest@fund.com",
    }
    out = action_stdin("configure-digest-smtp", relay).output()

    files = smtp_files(data_dir)
    assert files == {"host": "10.0.0.25", "port": "25", "security": "none", "from": "digest@fund.com"}
    assert "no sign-in" in out["message"]
    # The old password is gone from the disk, not just unlinked from the current set.
    leftovers = [p for p in (data_dir / "secrets" / "smtp").rglob("*") if p.is_file()]
    assert all(GOOD["password"] not in p.read_text() for p in leftovers)


def test_a_second_run_replaces_the_whole_set_and_cleans_old_generations(action_stdin, data_dir):
    action_stdin("configure-digest-smtp", GOOD).output()
    action_stdin(
        "configure-digest-smtp", {**GOOD, "host": "mail.fund.com", "port": 587, "security": "starttls"}
    ).output()
    assert smtp_files(data_dir)["host"] == "mail.fund.com"
    generations = [p for p in (data_dir / "secrets" / "smtp").iterdir() if p.name.startswith(".gen-")]
    assert len(generations) == 1


SMTP = load_script(ACTIONS / "configure-digest-smtp")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"host": ""}, "host: required"),
        ({"host": "smtp://smtp.fund.com"}, "host: give the server name only"),
        ({"host": "smtp.fund.com:587"}, "put the port in the Port field"),
        ({"host": "bad_host!.com"}, "host: not a valid host name"),
        ({"port": 0}, "port: expected a whole number from 1 to 65535"),
        ({"port": 70000}, "port: expected a whole number from 1 to 65535"),
        ({"port": 25.5}, "port: expected a whole number"),
        ({"port": "smtp"}, "port: expected a whole number"),
        ({"port": True}, "port: expected a whole number"),
        ({"security": "tls13"}, "security: expected one of starttls, ssl, none"),
        ({"username": None}, "give both"),
        ({"password": ""}, "give both"),
        ({"password": "   "}, "give both"),
        ({"security": "none"}, "refusing to send a password unencrypted"),
        ({"from": "not an address"}, "from: expected one email address"),
        ({"from": "a@fund.com, b@fund.com"}, "from: expected one email address"),
        ({"from": "ir@localhost"}, "from: expected one email address"),
        ({"from": "IR Desk <IR Desk <ir@fund.com>>"}, "from: expected one email address"),
        ({"from": "IR Desk <ir@fund.com> extra"}, "from: expected one email address"),
        ({"from": None}, "from: required"),
        ({"username": "ir\nBcc: x@evil.com"}, "username: must be a single line"),
        ({"password": "pw\r\nQUIT"}, "password: must be a single line"),
        ({"password": " pasted with a space"}, "password: starts or ends with a space"),
        ({"host": 25}, "host: expected text"),
    ],
)
def test_validation_names_the_bad_field(change, reason):
    with pytest.raises(ActionError) as caught:
        SMTP.validate({**GOOD, **change})
    assert reason in str(caught.value)
    assert GOOD["password"] not in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"host": "SMTP.Fund.COM."}, {"host": "smtp.fund.com"}),
        ({"host": "2001:db8::25", "port": "2525"}, {"host": "2001:db8::25", "port": "2525"}),
        ({"host": "mailrelay", "port": 587.0}, {"host": "mailrelay", "port": "587"}),
        ({"from": "ir-desk@fund.com"}, {"from": "ir-desk@fund.com"}),
        ({"from": '"Fund, IR" <ir@fund.com>'}, {"from": '"Fund, IR" <ir@fund.com>'}),
        ({"from": "  IR   Desk  <IR-Desk@Fund.COM> "}, {"from": "IR Desk <IR-Desk@fund.com>"}),
        ({"from": "<ir@fund.com>"}, {"from": "ir@fund.com"}),
        ({"from": "Acme Capital L.P. <ir@acme.com>"}, {"from": '"Acme Capital L.P." <ir@acme.com>'}),
        ({"from": "Équipe IR <ir@fund.com>"}, {"from": "Équipe IR <ir@fund.com>"}),
        ({"password": "spaces inside kept"}, {"password": "spaces inside kept"}),
        ({"security": "STARTTLS", "port": None}, {"security": "starttls", "port": "587"}),
    ],
)
def test_validation_normalizes_good_values(value, expected):
    files = SMTP.validate({**GOOD, **value})
    assert {k: files[k] for k in expected} == expected


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"port": 70000}, "port"),
        ({"from": "nobody"}, "from"),
        ({"username": None}, "give both"),
    ],
)
def test_bad_input_is_refused_and_the_previous_set_survives(action_stdin, data_dir, change, reason):
    action_stdin("configure-digest-smtp", GOOD).output()
    before = snapshot(data_dir)

    run = action_stdin("configure-digest-smtp", {**GOOD, **change})

    assert run.returncode != 0
    assert run.stdout == ""
    assert reason in run.stderr
    assert GOOD["password"] not in run.stderr
    assert snapshot(data_dir) == before


def test_bad_input_on_a_fresh_volume_writes_nothing(action, data_dir):
    run = action("configure-digest-smtp", {**GOOD, "port": -1})
    assert run.returncode != 0 and "port" in run.stderr
    assert list(data_dir.iterdir()) == []


def test_input_that_is_not_a_json_object_is_refused(data_dir):
    from startos_helpers import run_script, script_env

    proc = run_script(ACTIONS / "configure-digest-smtp", script_env(data_dir), stdin="[1, 2]")
    assert proc.returncode != 0 and "must be a JSON object" in proc.stderr
    proc = run_script(ACTIONS / "configure-digest-smtp", script_env(data_dir), stdin="{host:")
    assert proc.returncode != 0 and "not valid JSON" in proc.stderr
    assert proc.stdout == ""


def test_enabled_false_turns_the_fallback_off(action_stdin, data_dir):
    action_stdin("configure-digest-smtp", GOOD).output()
    out = action_stdin("configure-digest-smtp", {"enabled": False}).output()
    assert out["message"].startswith("Digest SMTP turned off")
    assert smtp_files(data_dir) == {}  # every field's link dangles: unset for the app


@pytest.mark.parametrize(
    "payload, error",
    [
        ({"enabled": False, "host": "smtp.fund.com"}, "host: not used when enabled is false (SMTP turned off)"),
        ({"enabled": "no"}, "enabled: expected true or false"),
    ],
)
def test_enabled_false_with_settings_or_not_a_boolean_is_refused(action_stdin, data_dir, payload, error):
    action_stdin("configure-digest-smtp", GOOD).output()
    before = snapshot(data_dir)
    run = action_stdin("configure-digest-smtp", payload)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == f"error: {error}"
    assert snapshot(data_dir) == before
