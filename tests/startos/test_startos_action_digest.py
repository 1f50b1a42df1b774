"""The `configure-digest` action: time zone, local LLM server and sender, validated, one 0600 file
each under settings/digest/, replaced as a set; empty optional fields leave no file."""

from __future__ import annotations

import os
import stat

import pytest
from startos_helpers import ACTIONS, load_script, run_script, script_env, snapshot
from startos_support import ActionError

GOOD = {
    "timezone": "Europe/London",
    "llm-url": "http://llm.fund.lan:8000/",
    "llm-model": "llama-3.1-8b-instruct",
    "sender": "IR-Desk@Fund.com",
}
FIELDS = ("timezone", "llm-url", "llm-model", "sender")


def digest_dir(data_dir):
    return data_dir / "settings" / "digest"


def digest_files(data_dir):
    directory = digest_dir(data_dir)
    return {name: (directory / name).read_text() for name in FIELDS if (directory / name).exists()}


def test_writes_one_private_file_per_field(action, data_dir):
    out = action("configure-digest", GOOD).output()

    assert digest_files(data_dir) == {
        "timezone": "Europe/London",
        "llm-url": "http://llm.fund.lan:8000",
        "llm-model": "llama-3.1-8b-instruct",
        "sender": "ir-desk@fund.com",
    }
    assert out["value"] is None and out["copyable"] is False and out["qr"] is False
    assert "Europe/London" in out["message"] and "http://llm.fund.lan:8000" in out["message"]
    assert "Restart the service" in out["message"]
    for name in FIELDS:
        assert stat.S_IMODE(os.stat(digest_dir(data_dir) / name).st_mode) == 0o600
    for directory in (data_dir / "settings", digest_dir(data_dir), (digest_dir(data_dir) / ".current").resolve()):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert not (data_dir / "secrets").exists()  # not secrets: kept apart from them


def test_only_the_time_zone_is_needed_and_empty_fields_remove_settings(action_stdin, data_dir):
    action_stdin("configure-digest", GOOD).output()
    out = action_stdin(
        "configure-digest", {"timezone": "Asia/Singapore", "llm-url": "", "llm-model": None, "sender": "  "}
    ).output()

    assert digest_files(data_dir) == {"timezone": "Asia/Singapore"}
    assert "local LLM server none" in out["message"]
    assert "the first active admin's mailbox" in out["message"]
    assert not any(
        "llama" in p.read_text() for p in digest_dir(data_dir).rglob("*") if p.is_file()
    )  # the old generation is gone from the disk
    generations = [p for p in digest_dir(data_dir).iterdir() if p.name.startswith(".gen-")]
    assert len(generations) == 1


def test_an_omitted_time_zone_is_utc(action_stdin, data_dir):
    out = action_stdin("configure-digest", {}).output()
    assert digest_files(data_dir) == {"timezone": "UTC"}
    assert "time zone UTC" in out["message"]


DIGEST = load_script(ACTIONS / "configure-digest")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: 'Mars/Olympus_Mons' is not an IANA time zone"),
        ({"timezone": "Europe/london"}, "is not an IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "is not an IANA time zone"),
        ({"timezone": "/usr/share/zoneinfo/UTC"}, "is not an IANA time zone"),
        ({"timezone": "localtime"}, "is not an IANA time zone"),
        ({"timezone": "Factory"}, "is not an IANA time zone"),
        ({"timezone": "GMT+2"}, "is not an IANA time zone"),
        ({"timezone": 3}, "timezone: expected text"),
        ({"timezone": ["UTC"]}, "timezone: expected text"),
        ({"llm-url": "llm.fund.lan:8000"}, "llm-url: expected an http:// or https:// URL"),
        ({"llm-url": "ftp://llm.fund.lan"}, "llm-url: expected an http:// or https:// URL"),
        ({"llm-url": "not a url"}, "llm-url: expected an http:// or https:// URL"),
        ({"llm-url": "http://"}, "llm-url: expected an http:// or https:// URL"),
        ({"llm-url": "http://user:pw@llm.fund.lan"}, "llm-url: must not contain a user name"),
        ({"llm-url": "http://llm.fund.lan/?key=1"}, "without ?query or #fragment"),
        ({"llm-url": "http://llm.fund.lan:99999"}, "llm-url: the port is not a number"),
        ({"llm-url": "http://llm.fund.lan:0"}, "llm-url: the port is not a number"),
        ({"llm-url": "http://llm.fund.lan:http"}, "llm-url: the port is not a number"),
        ({"llm-url": "http://bad_host!/"}, "is not a valid host name"),
        ({"llm-url": "https://8.8.8.8/v1"}, "8.8.8.8 is a public address"),
        ({"llm-url": "http://[2001:4860::8888]:8000"}, "is a public address"),
        ({"llm-url": "http://llm.fund.lan\nHost: x"}, "llm-url: must be a single line"),
        ({"llm-url": 8000}, "llm-url: expected text"),
        ({"llm-url": None, "llm-model": "llama3"}, "llm-model: only used with an LLM server"),
        ({"llm-model": "x" * 201}, "llm-model: longer than 200"),
        ({"llm-model": {"name": "llama3"}}, "llm-model: expected text"),
        ({"sender": "not an address"}, "sender: expected one email address"),
        ({"sender": "IR Desk <ir@fund.com>"}, "sender: expected one email address"),
        ({"sender": "a@fund.com, b@fund.com"}, "sender: expected one email address"),
        ({"sender": "ir@localhost"}, "sender: expected one email address"),
        ({"sender": True}, "sender: expected text"),
    ],
)
def test_validation_names_the_bad_field(change, reason):
    with pytest.raises(ActionError) as caught:
        DIGEST.validate({**GOOD, **change})
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"timezone": " America/Argentina/Buenos_Aires "}, {"timezone": "America/Argentina/Buenos_Aires"}),
        ({"timezone": "Etc/GMT+5"}, {"timezone": "Etc/GMT+5"}),
        ({"timezone": ""}, {"timezone": "UTC"}),
        ({"llm-url": "https://10.0.0.7/v1"}, {"llm-url": "https://10.0.0.7/v1"}),
        ({"llm-url": "http://[fd00::7]:8080/"}, {"llm-url": "http://[fd00::7]:8080"}),
        ({"llm-url": "http://127.0.0.1:11434"}, {"llm-url": "http://127.0.0.1:11434"}),
        ({"llm-url": "http://spark"}, {"llm-url": "http://spark"}),
        ({"sender": " Ops@Fund.COM "}, {"sender": "ops@fund.com"}),
    ],
)
def test_validation_normalizes_good_values(change, expected):
    files = DIGEST.validate({**GOOD, **change})
    assert {k: files[k] for k in expected} == expected


def test_the_saved_values_are_what_the_app_accepts():
    """The entrypoint exports the files as CRM_* settings: the app's own parser must take them,
    or the service would not start."""
    from appsrc.settings import load_settings

    files = DIGEST.validate(GOOD)
    settings = load_settings(
        {
            "CRM_DATA_DIR": "/nonexistent",
            "CRM_SECRET_KEY": "k",
            "CRM_TIMEZONE": files["timezone"],
            "CRM_LLM_URL": files["llm-url"],
            "CRM_LLM_MODEL": files["llm-model"],
            "CRM_DIGEST_SENDER": files["sender"],
        }
    )
    assert (settings.timezone, settings.llm_url, settings.llm_model, settings.digest_sender) == (
        "Europe/London",
        "http://llm.fund.lan:8000",
        "llama-3.1-8b-instruct",
        "ir-desk@fund.com",
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"timezone": "Nowhere/Special"}, "timezone"),
        ({"llm-url": "llm.fund.lan"}, "llm-url"),
        ({"sender": "nobody"}, "sender"),
        ({"llm-model": 7}, "llm-model"),
    ],
)
def test_bad_input_is_refused_and_the_previous_set_survives(action_stdin, data_dir, change, reason):
    action_stdin("configure-digest", GOOD).output()
    before = snapshot(data_dir)

    run = action_stdin("configure-digest", {**GOOD, **change})

    assert run.returncode != 0
    assert run.stdout == ""
    assert reason in run.stderr
    assert snapshot(data_dir) == before


def test_bad_input_on_a_fresh_volume_writes_nothing(action, data_dir):
    run = action("configure-digest", {**GOOD, "timezone": "Atlantis/Capital"})
    assert run.returncode != 0 and "timezone" in run.stderr and run.stdout == ""
    assert list(data_dir.iterdir()) == []


def test_input_that_is_not_a_json_object_is_refused(data_dir):
    proc = run_script(ACTIONS / "configure-digest", script_env(data_dir), stdin='["UTC"]')
    assert proc.returncode != 0 and "must be a JSON object" in proc.stderr
    proc = run_script(ACTIONS / "configure-digest", script_env(data_dir), stdin="{timezone:")
    assert proc.returncode != 0 and "not valid JSON" in proc.stderr
    assert proc.stdout == ""
    assert list(data_dir.iterdir()) == []
