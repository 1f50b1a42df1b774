"""The SMTP transport against a real SMTP server (aiosmtpd): STARTTLS, implicit TLS and none,
AUTH, certificate verification, failure classification, and settings re-read at every send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appsrc.mail.message import OutgoingMessage
from appsrc.mail.smtp_send import SmtpTransport
from appsrc.mail.transport import TransportError, TransportNotConfigured
from appsrc.secret_files import SmtpConfig, load_smtp_config
from tests.mail.servers import SmtpServer, free_port

NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
ADMINS = ("ada@fund.example", "ben@fund.example")


def message(to=ADMINS) -> OutgoingMessage:
    return OutgoingMessage(
        to=to,
        subject="IR digest — Mon 2 Nov 2026: 3 emails, 1 investor",
        text="Plain text part.\n",
        html="<p>HTML <strong>part</strong></p>",
        headers=(("X-IR-Digest-Kind", "scheduled"),),
    )


def config_for(server: SmtpServer, **changes) -> SmtpConfig:
    values = {
        "host": server.host,
        "port": server.port,
        "security": server.security,
        "username": server.username,
        "password": server.password,
        "sender": "digest@fund.example",
    }
    values.update(changes)
    return SmtpConfig(**values)


def transport(config, tls=None, **kwargs) -> SmtpTransport:
    return SmtpTransport(lambda: config, ca_file=tls.ca_file if tls else None, timeout_s=5, **kwargs)


def test_starttls_and_auth_deliver_a_multipart_message_to_exactly_the_given_envelope(people, smtp_server, tls):
    delivery = transport(config_for(smtp_server), tls).send(message(), NOW)
    assert (delivery.transport, delivery.sender, delivery.note) == ("smtp", "digest@fund.example", None)
    [got] = smtp_server.received
    assert got.tls and got.authenticated_as == smtp_server.username
    assert got.mail_from == "digest@fund.example" and got.rcpt_tos == list(ADMINS)
    parsed = got.message
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"].startswith("IR digest") and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-IR-Digest-Kind"] == "scheduled"
    assert parsed["Cc"] is None and parsed["Bcc"] is None


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: it is TLS
def test_implicit_tls_port(people, tls):
    server = SmtpServer(tls, security="ssl").start()
    try:
        transport(config_for(server), tls).send(message(), NOW)
        assert [r.rcpt_tos for r in server.received] == [list(ADMINS)] and server.received[0].tls
    finally:
        server.stop()


def test_security_none_for_a_local_relay_without_auth(people):
    server = SmtpServer(None, security="none").start()
    try:
        transport(config_for(server, username=None, password=None)).send(message(), NOW)
        assert server.received[0].rcpt_tos == list(ADMINS) and not server.received[0].tls
    finally:
        server.stop()


def test_a_password_is_never_sent_over_an_unencrypted_connection(people):
    server = SmtpServer(None, security="none").start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server)).send(message(), NOW)
        assert caught.value.permanent and "unencrypted" in str(caught.value)
        assert server.received == [] and server.auth_attempts == 0
    finally:
        server.stop()


def test_starttls_required_but_not_offered_is_refused_before_auth(people):
    """A server (or a downgrade attack) without STARTTLS gets no password and no mail."""
    server = SmtpServer(None, security="none").start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server, security="starttls")).send(message(), NOW)
        assert caught.value.permanent and "STARTTLS" in str(caught.value)
        assert server.received == [] and server.auth_attempts == 0
    finally:
        server.stop()


def test_certificate_is_verified_against_the_system_store_by_default(people, smtp_server):
    """Without the test CA, the self-signed chain is refused: verification is never switched off."""
    with pytest.raises(TransportError) as caught:
        transport(config_for(smtp_server)).send(message(), NOW)
    assert caught.value.permanent and "not trusted" in str(caught.value)
    assert smtp_server.received == [] and smtp_server.auth_attempts == 0


def test_wrong_password_is_permanent_and_names_no_credential(people, smtp_server, tls):
    with pytest.raises(TransportError) as caught:
        transport(config_for(smtp_server, password="wrong-canary-Pa55word"), tls).send(message(), NOW)
    text = str(caught.value)
    assert caught.value.permanent and "rejected the username or password" in text and "535" in text
    assert "wrong-canary-Pa55word" not in text and smtp_server.received == []


def test_a_server_echoing_the_password_in_its_auth_reply_is_not_repeated(people, tls):
    server = SmtpServer(tls, mode="echo-auth").start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server, password="Canary-Echo-7731"), tls).send(message(), NOW)
        assert "Canary-Echo-7731" not in str(caught.value) and caught.value.permanent
    finally:
        server.stop()


@pytest.mark.parametrize("mode, permanent, code", [("tempfail", False, "451"), ("reject", True, "554")])
def test_data_refusals_are_classified_by_code(people, tls, mode, permanent, code):
    server = SmtpServer(tls, mode=mode).start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server), tls).send(message(), NOW)
        assert caught.value.permanent is permanent and code in str(caught.value)
    finally:
        server.stop()


def test_a_link_lost_after_the_body_was_taken_is_ambiguous_not_a_failure(people, tls):
    """The server may have queued it: the caller must not resend, nor try another transport."""
    server = SmtpServer(tls, mode="vanish").start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server), tls).send(message(), NOW)
        assert caught.value.ambiguous and not caught.value.permanent
        assert "may have been delivered" in str(caught.value) and len(server.received) == 1
    finally:
        server.stop()


def test_a_non_ascii_address_goes_out_with_smtputf8_or_is_refused_clearly(people, smtp_server, tls):
    transport(config_for(smtp_server, sender="zoë@fund.example"), tls).send(message(), NOW)
    assert [r.mail_from for r in smtp_server.received] == ["zoë@fund.example"]
    server = SmtpServer(tls, smtputf8=False).start()
    try:
        with pytest.raises(TransportError) as caught:
            transport(config_for(server, sender="zoë@fund.example"), tls).send(message(), NOW)
        assert caught.value.permanent and "SMTPUTF8" in str(caught.value) and server.received == []
    finally:
        server.stop()


def test_server_down_is_transient(people):
    config = SmtpConfig("127.0.0.1", free_port(), "starttls", "u", "p", "digest@fund.example")
    with pytest.raises(TransportError) as caught:
        transport(config).send(message(), NOW)
    assert not caught.value.permanent and "could not talk to SMTP server" in str(caught.value)


def test_not_configured_and_no_from_address(people, smtp_server, tls):
    assert not SmtpTransport(lambda: None).configured()
    with pytest.raises(TransportNotConfigured):
        SmtpTransport(lambda: None).send(message(), NOW)
    with pytest.raises(TransportError, match="no From address"):
        transport(config_for(smtp_server, sender=None, username="not-an-address"), tls).send(message(), NOW)
    assert smtp_server.received == []


def test_configuration_is_re_read_at_every_send_from_the_action_files(people, tmp_path, tls):
    """The StartOS action rewrites the files; the next send uses the new account, no restart."""
    first, second = SmtpServer(tls).start(), SmtpServer(tls, username="other@fund.example", password="pw-two-2").start()
    try:
        secrets_dir = tmp_path / "secrets"
        smtp = SmtpTransport(lambda: load_smtp_config(secrets_dir, {}), ca_file=tls.ca_file, timeout_s=5)
        assert not smtp.configured()
        first.secret_files(secrets_dir)
        smtp.send(message(), NOW)
        second.secret_files(secrets_dir)
        smtp.send(message(), NOW)
        assert len(first.received) == 1 and len(second.received) == 1
        (secrets_dir / "smtp" / "security").write_text("carrier-pigeon\n")
        with pytest.raises(TransportError, match="unusable") as caught:
            smtp.send(message(), NOW)
        assert caught.value.permanent
    finally:
        first.stop()
        second.stop()


def test_environment_variables_are_the_fallback(people, smtp_server, tls, tmp_path):
    env = {
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_SECURITY": "starttls",
        "SMTP_USERNAME": smtp_server.username,
        "SMTP_PASSWORD": smtp_server.password,
        "SMTP_FROM": "digest@fund.example",
    }
    SmtpTransport(lambda: load_smtp_config(tmp_path / "none", env), ca_file=tls.ca_file, timeout_s=5).send(
        message(), NOW
    )
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize(
    "typed, mail_from, header",
    [
        ("digest@fund.example", "digest@fund.example", "IR Mail Desk <digest@fund.example>"),
        ("IR Desk <Digest@Fund.Example>", "digest@fund.example", "IR Desk <digest@fund.example>"),
        ('"Desk, IR" <digest@fund.example>', "digest@fund.example", '"Desk, IR" <digest@fund.example>'),
        ("J. Smith <digest@fund.example>", "digest@fund.example", '"J. Smith" <digest@fund.example>'),
    ],
)
def test_the_from_address_as_people_type_it(people, smtp_server, tls, tmp_path, typed, mail_from, header):
    """An address alone, or with a display name, as Configure Digest SMTP (or SMTP_FROM) holds
    it: one envelope sender, one From, the name kept."""
    secrets_dir = tmp_path / "secrets"
    smtp_server.secret_files(secrets_dir, **{"from": typed})
    smtp = SmtpTransport(lambda: load_smtp_config(secrets_dir, {}), ca_file=tls.ca_file, timeout_s=5)
    assert smtp.send(message(), NOW).sender == mail_from
    [got] = smtp_server.received
    assert got.mail_from == mail_from
    assert got.message["From"] == header


@pytest.mark.parametrize(
    "typed",
    [
        "IR Desk <IR Desk <ir@fund.example>>",
        "a@fund.example, b@fund.example",
        "IR Desk",
        "IR Desk <ir@fund.example> extra",
    ],
)
def test_a_from_that_is_not_exactly_one_address_is_a_clear_permanent_error(people, smtp_server, tls, tmp_path, typed):
    secrets_dir = tmp_path / "secrets"
    smtp_server.secret_files(secrets_dir, **{"from": typed})
    smtp = SmtpTransport(lambda: load_smtp_config(secrets_dir, {}), ca_file=tls.ca_file, timeout_s=5)
    with pytest.raises(TransportError) as caught:
        smtp.send(message(), NOW)
    assert caught.value.permanent
    assert str(caught.value) == (
        "SMTP settings are unusable: SMTP from: expected one email address, e.g. ir@fund.com or IR Desk <ir@fund.com>"
    )
    assert smtp_server.received == []
