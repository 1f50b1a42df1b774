import subprocess
import sys

import pytest

from appsrc.settings import SPECS, Settings, SettingsError, load_settings


def test_every_setting_is_declared_once_with_help_and_a_field():
    envs = [s.env for s in SPECS]
    assert len(envs) == len(set(envs))
    assert {s.field for s in SPECS} == set(Settings.__dataclass_fields__)
    assert all(len(s.help) > 20 for s in SPECS)


def test_defaults_follow_the_design(tmp_path):
    s = load_settings({"CRM_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    assert (s.host, s.port, s.timezone, s.sync_interval_s) == ("127.0.0.1", 8050, "UTC", 300)
    assert s.dwd_key_file == tmp_path / "secrets" / "dwd" / "service_account.json"
    assert s.gmail_api_endpoint == "https://gmail.googleapis.com/"
    assert s.digest_enabled is None and s.digest_send_hour is None


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_settings({"CRM_DATA_DIR": str(tmp_path)}).secret_key
    second = load_settings({"CRM_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) > 40
    key_file = tmp_path / "secrets" / "flask_secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "env, value, words",
    [
        ("CRM_PORT", "eighty", "integer"),
        ("CRM_PORT", "70000", "integer from 1 to 65535"),
        ("CRM_TIMEZONE", "Mars/Olympus", "time zone"),
        ("CRM_DIGEST_SEND_HOUR", "24", "0 to 23"),
        ("CRM_DIGEST_ENABLED", "maybe", "true/false"),
        ("CRM_GMAIL_API_ENDPOINT", "ftp://x", "http"),
        ("CRM_GMAIL_API_ENDPOINT", "http://gmail.googleapis.com/", "plain http is allowed only to this machine"),
        ("CRM_GMAIL_API_ENDPOINT", "http://192.168.1.20:8443/", "use https"),
        ("CRM_LLM_URL", "localhost:8000", "http"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, env, value, words):
    with pytest.raises(SettingsError) as caught:
        load_settings({"CRM_DATA_DIR": str(tmp_path), env: value})
    assert env in str(caught.value) and words in str(caught.value)


def test_own_domains_are_parsed_and_normalized(tmp_path):
    s = load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_OWN_DOMAINS": " Fund.Example, @alt.example;fund.example"})
    assert s.own_domains == ("alt.example", "fund.example")


def test_redacted_view_hides_secrets(tmp_path):
    s = load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_DATABASE_URL": "postgresql://u:hunter2secret@db/crm"})
    shown = s.redacted()
    assert "hunter2secret" not in str(shown) and shown["CRM_DATABASE_URL"] == "••••••"
    assert shown["CRM_PORT"] == "8050"


def test_cli_bad_setting_exits_2_with_the_name(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "appsrc", "migrate"],
        capture_output=True,
        text=True,
        env={"CRM_DATA_DIR": str(tmp_path), "CRM_PORT": "x", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "CRM_PORT" in result.stderr


def test_the_settings_command_lists_smtp_from_the_action_files_with_the_password_hidden(tmp_path):
    smtp = tmp_path / "secrets" / "smtp"
    smtp.mkdir(parents=True)
    for name, value in {"host": "mail.fund.example", "port": "587", "password": "hunter2-canary"}.items():
        (smtp / name).write_text(value)
    env = {
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_DEMO": "off",
        "PATH": "/usr/bin:/bin",
        "SMTP_HOST": "ignored.example",
    }  # the action's files win over the environment
    result = subprocess.run([sys.executable, "-m", "appsrc", "settings"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "SMTP_HOST=mail.fund.example" in result.stdout and "SMTP_PASSWORD=••••••" in result.stdout
    assert "SMTP_SECURITY=\n" in result.stdout and "hunter2-canary" not in result.stdout
    assert "ignored.example" not in result.stdout and "CRM_TIMEZONE=UTC" in result.stdout


@pytest.mark.parametrize(
    "endpoint",
    ["https://gmail.googleapis.com/", "http://127.0.0.1:8765/", "http://localhost:8765", "http://[::1]:8765/"],
)
def test_the_gmail_endpoint_is_https_or_this_machine(tmp_path, endpoint):
    """Delegated tokens and every captured email travel to it: plain http only on loopback."""
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path), "CRM_GMAIL_API_ENDPOINT": endpoint})
    assert settings.gmail_api_endpoint == endpoint.rstrip("/") + "/"
