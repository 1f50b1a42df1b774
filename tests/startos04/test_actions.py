"""Each StartOS 0.4 action's handler, given its input, run through the SDK with the image as its
subcontainer: the files it writes, their modes, its result, and its refusals of bad input."""

from __future__ import annotations

import json
import os
import stat

import pytest

SYSTEM_SMTP = {
    "host": "smtp.box-provider.net",
    "port": 587,
    "from": "box@fund.com",
    "username": "box@fund.com",
    "password": "box smtp pass",
    "security": "starttls",
}
GMAIL_PRESET = {
    "selection": "custom",
    "value": {
        "provider": {
            "selection": "gmail",
            "value": {
                "host": "smtp.gmail.com",
                "from": "IR Desk <ir-desk@fund.com>",
                "username": "ir-desk@fund.com",
                "password": "app password 16ch",
                "security": {"selection": "tls", "value": {"port": "465"}},
            },
        }
    },
}


@pytest.fixture(scope="module")
def key_file_content() -> str:
    """A service-account key as Google Cloud downloads it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fund-ir-desk",
            "private_key_id": "0" * 40,
            "private_key": pem,
            "client_email": "ir-desk@fund-ir-desk.iam.gserviceaccount.com",
            "client_id": "104123456789012345678",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def tree(root) -> dict[str, tuple]:
    """Every path under root with its type, mode and content or link target."""
    state = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            state[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            state[relative] = ("dir", mode(path))
        else:
            state[relative] = ("file", mode(path), path.read_bytes())
    return state


def secret_files(directory) -> dict[str, str]:
    """A secret set as the app reads it: each field through its link, unset when dangling."""
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if not p.name.startswith(".") and p.exists()}


def test_create_admin_shows_the_password_once_masked_and_the_database_is_private(startos):
    out = startos.run_action("create-admin", {"email": "Alice@Fund.com", "name": "Alice Martin"})
    assert out.ok, out.error
    result = out.value["result"]
    assert result["type"] == "single" and result["masked"] and result["copyable"]
    assert len(result["value"]) == 20 and result["value"] not in out.value["message"]
    assert out.value["message"].startswith("Admin alice@fund.com created.")
    assert mode(startos.volume / "crm.sqlite3") == 0o600

    again = startos.run_action("create-admin", {"email": "alice@fund.com", "name": None})
    assert again.ok and "already existed" in again.value["message"]
    assert again.value["result"]["value"] != result["value"]


def test_create_admin_refuses_a_bad_address_and_writes_nothing(startos):
    out = startos.run_action("create-admin", {"email": "not-an-address", "name": None})
    assert not out.ok
    assert "Email" in out.error or "email" in out.error  # the form's pattern, or the action's check
    assert tree(startos.volume) == {}


def test_delegation_writes_the_key_and_domains_privately_and_prefills_only_the_domains(startos, key_file_content):
    out = startos.run_action(
        "configure-gmail-delegation",
        {"service-account-json": key_file_content, "own-domains": "Fund.com; fund-partners.com"},
    )
    assert out.ok, out.error
    assert out.value["result"] == {
        "type": "single",
        "value": "104123456789012345678",
        "copyable": True,
        "qr": False,
        "masked": False,
    }
    assert "gmail.readonly" in out.value["message"] and "gmail.compose" in out.value["message"]
    dwd = startos.volume / "secrets" / "dwd"
    files = secret_files(dwd)
    assert json.loads(files["service_account.json"])["client_id"] == "104123456789012345678"
    assert files["own_domains"] == "fund.com\nfund-partners.com\n"
    for name in files:
        assert mode((dwd / name).resolve()) == 0o600
    assert mode(startos.volume / "secrets") == 0o700

    form = startos.drive("getInput", id="configure-gmail-delegation").value
    assert form["value"] == {"own-domains": "fund.com, fund-partners.com"}  # never the key


def test_delegation_refuses_an_oauth_client_file_and_keeps_the_stored_key(startos, key_file_content):
    assert startos.run_action(
        "configure-gmail-delegation", {"service-account-json": key_file_content, "own-domains": None}
    ).ok
    before = tree(startos.volume)
    oauth_client = json.dumps({"installed": {"client_id": "x.apps.googleusercontent.com"}})
    out = startos.run_action("configure-gmail-delegation", {"service-account-json": oauth_client, "own-domains": None})
    assert not out.ok
    assert out.error == (
        'service-account-json: "type" must be "service_account" (create a key '
        "for a service account, not an OAuth client)"
    )
    assert tree(startos.volume) == before


def test_digest_settings_round_trip_through_the_form(startos):
    settings = {
        "timezone": "Europe/London",
        "llm-url": "http://llm.fund.lan:8000",
        "llm-model": "llama-3.1-8b-instruct",
        "sender": "ir-desk@fund.com",
    }
    out = startos.run_action("configure-digest", settings)
    assert out.ok, out.error
    assert out.value["result"] is None and "time zone Europe/London" in out.value["message"]
    directory = startos.volume / "settings" / "digest"
    assert secret_files(directory) == dict(settings.items())
    assert {mode(p.resolve()) for p in directory.iterdir() if not p.name.startswith(".")} == {0o600}
    assert startos.drive("getInput", id="configure-digest").value["value"] == settings

    cleared = startos.run_action(
        "configure-digest", {"timezone": "Asia/Tokyo", "llm-url": None, "llm-model": None, "sender": None}
    )
    assert cleared.ok, cleared.error
    assert secret_files(directory) == {"timezone": "Asia/Tokyo"}


def test_digest_refuses_an_unknown_time_zone(startos):
    out = startos.run_action(
        "configure-digest", {"timezone": "Mars/Olympus_Mons", "llm-url": None, "llm-model": None, "sender": None}
    )
    assert not out.ok and "timezone" in out.error
    assert tree(startos.volume) == {}


def test_smtp_custom_account_from_a_provider_preset(startos):
    out = startos.run_action("configure-digest-smtp", {"smtp": GMAIL_PRESET})
    assert out.ok, out.error
    assert "smtp.gmail.com:465 (ssl, signing in as ir-desk@fund.com)" in out.value["message"]
    smtp = startos.volume / "secrets" / "smtp"
    assert secret_files(smtp) == {
        "from": "IR Desk <ir-desk@fund.com>",
        "host": "smtp.gmail.com",
        "password": "app password 16ch",
        "port": "465",
        "security": "ssl",
        "username": "ir-desk@fund.com",
    }
    assert {mode(p.resolve()) for p in smtp.iterdir() if not p.name.startswith(".")} == {0o600}
    # The choice is kept for the form without the password, which lives in secrets/ only.
    choice = (startos.volume / "settings" / "startos-smtp.json").read_text()
    assert "app password" not in choice
    form = startos.drive("getInput", id="configure-digest-smtp").value["value"]
    assert form == {"smtp": GMAIL_PRESET}


def test_smtp_the_servers_own_settings(startos):
    choice = {"selection": "system", "value": {"customFrom": "IR Desk <ir-desk@fund.com>"}}
    out = startos.run_action("configure-digest-smtp", {"smtp": choice}, systemSmtp=SYSTEM_SMTP)
    assert out.ok, out.error
    assert secret_files(startos.volume / "secrets" / "smtp") == {
        "from": "IR Desk <ir-desk@fund.com>",
        "host": "smtp.box-provider.net",
        "password": "box smtp pass",
        "port": "587",
        "security": "starttls",
        "username": "box@fund.com",
    }
    form = startos.drive("getInput", id="configure-digest-smtp", systemSmtp=SYSTEM_SMTP).value
    assert form["value"] == {"smtp": choice}


def test_smtp_the_servers_own_settings_when_it_has_none(startos):
    out = startos.run_action("configure-digest-smtp", {"smtp": {"selection": "system", "value": {"customFrom": None}}})
    assert not out.ok and out.error.startswith("This server has no SMTP settings yet")
    assert tree(startos.volume) == {}


def test_smtp_turned_off_removes_every_setting(startos):
    assert startos.run_action("configure-digest-smtp", {"smtp": GMAIL_PRESET}).ok
    out = startos.run_action("configure-digest-smtp", {"smtp": {"selection": "disabled", "value": {}}})
    assert out.ok, out.error
    assert out.value["message"].startswith("Digest SMTP turned off")
    assert secret_files(startos.volume / "secrets" / "smtp") == {}
    assert startos.drive("getInput", id="configure-digest-smtp").value["value"] == {
        "smtp": {"selection": "disabled", "value": {}}
    }


def test_smtp_refuses_a_username_without_a_password(startos):
    no_password = json.loads(json.dumps(GMAIL_PRESET))
    no_password["value"]["provider"]["value"]["password"] = None
    out = startos.run_action("configure-digest-smtp", {"smtp": no_password})
    assert not out.ok
    assert out.error == ("username and password: give both (authenticated SMTP) or neither")
    assert tree(startos.volume) == {}


def test_check_reports_what_is_missing(startos):
    out = startos.run_action("check-gmail-delegation")
    assert out.ok, out.error
    message = out.value["message"]
    assert message.startswith("Gmail delegation needs attention:")
    assert "Configure Gmail" in message  # the fix names the action to run


def test_dashboard_status_stands_in_for_the_properties_page(startos):
    out = startos.run_action("dashboard-status")
    assert out.ok, out.error
    members = {m["name"]: m for m in out.value["result"]["value"]}
    assert members["Dashboard addresses"]["type"] == "group"
    assert members["Admins"]["value"] == "None yet: run the Create Admin action"
    assert members["Gmail capture"]["value"] == "Not configured: run the Configure Gmail Delegation action"
    assert members["Delegation client ID"]["copyable"] is True
    assert "Dashboard" not in members  # the addresses say it better
    assert startos.run_action("create-admin", {"email": "alice@fund.com", "name": None}).ok
    members = {m["name"]: m for m in startos.run_action("dashboard-status").value["result"]["value"]}
    assert members["Admins"]["value"] == "1 active"
