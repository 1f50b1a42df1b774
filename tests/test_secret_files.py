import pytest

from appsrc.secret_files import SecretError, load_own_domains_file, load_smtp_config


def write(secrets_dir, **fields):
    folder = secrets_dir / "smtp"
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in fields.items():
        (folder / name.rstrip("_")).write_text(value + "\n")


def test_environment_is_used_when_the_action_never_ran(tmp_path):
    config = load_smtp_config(
        tmp_path,
        {"SMTP_HOST": "mail.fund.example", "SMTP_SECURITY": "ssl", "SMTP_USERNAME": "ir", "SMTP_PASSWORD": "pw"},
    )
    assert (config.host, config.port, config.security, config.username) == ("mail.fund.example", 465, "ssl", "ir")
    assert "pw" not in repr(config)


def test_the_action_files_are_the_whole_configuration_once_written(tmp_path):
    """A username removed by rerunning the action is gone, even though the entrypoint exported
    the old one at start."""
    write(tmp_path, host="smtp.new.example", port="2525", security="none", from_="ir@fund.example")
    config = load_smtp_config(
        tmp_path, {"SMTP_HOST": "old.example", "SMTP_USERNAME": "old-user", "SMTP_PASSWORD": "old-secret"}
    )
    assert (config.host, config.port, config.security, config.username, config.password, config.sender) == (
        "smtp.new.example",
        2525,
        "none",
        None,
        None,
        "ir@fund.example",
    )


def test_nothing_configured_and_bad_values(tmp_path):
    assert load_smtp_config(tmp_path, {}) is None
    with pytest.raises(SecretError, match="security"):
        load_smtp_config(tmp_path, {"SMTP_HOST": "h", "SMTP_SECURITY": "tls1.3"})
    with pytest.raises(SecretError, match="port"):
        load_smtp_config(tmp_path, {"SMTP_HOST": "h", "SMTP_PORT": "smtp"})


def test_own_domains_file(tmp_path):
    (tmp_path / "dwd").mkdir()
    (tmp_path / "dwd" / "own_domains").write_text("Fund.example\n\n@alt.example, fund.example\n")
    assert load_own_domains_file(tmp_path) == ("alt.example", "fund.example")
