"""Error scrubbing (no credential survives) and the outgoing message's shape."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appsrc.mail.message import OutgoingMessage
from appsrc.mail.sanitize import REDACTED, sanitize_error

NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)


@given(
    password=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=40),
    prefix=st.sampled_from(["535 auth failed: ", "password=", "AUTH PLAIN ", "error: '", ""]),
)
@settings(max_examples=200, deadline=None)
def test_a_known_secret_never_survives_in_any_form(password, prefix):
    plain = base64.b64encode(f"\0digest@fund.example\0{password}".encode()).decode()
    login = base64.b64encode(password.encode()).decode()
    for text in (prefix + password, f"{prefix}{plain} rejected", f"334 {login}", f"x {password} y {password}"):
        out = sanitize_error(text, [password])
        assert password not in out and plain not in out and login not in out


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("Authorization: Bearer ya29.a0AfH6SMBx-token-value", "ya29.a0AfH6SMBx-token-value"),
        ("token=abc123secretvalue&x=1", "abc123secretvalue"),
        ('{"access_token": "sk-live-51H8x9"}', "sk-live-51H8x9"),
        ("smtp://digest:hunter2@smtp.example.com:587", "hunter2"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "MIIEvQIBADANBg"),
        ("535 5.7.8 AGRpZ2VzdEBmdW5kLmV4YW1wbGUAaHVudGVyMg== invalid", "AGRpZ2VzdEBmdW5kLmV4YW1wbGUAaHVudGVyMg=="),
    ],
)
def test_credential_shaped_fragments_are_redacted_without_knowing_the_secret(text, leaked):
    out = sanitize_error(text)
    assert leaked not in out and REDACTED in out


def test_ordinary_error_text_is_kept_readable_and_bounded():
    text = "could not talk to SMTP server smtp.fastmail.example.com:587 (ConnectionRefusedError)"
    assert sanitize_error(text) == text
    assert sanitize_error("line one\r\nline two\x00") == "line one line two"
    assert len(sanitize_error("x " * 1000)) == 400


def test_message_is_multipart_alternative_with_only_to_recipients():
    message = OutgoingMessage(
        to=(" Ada@Fund.Example ", "ben@fund.example", "ada@fund.example"),
        subject="Digest\r\nBcc: jane@acme.example",
        text="hello",
        html="<p>hello</p>",
        headers=(("X-IR-Digest-Run", "7"),),
    )
    assert message.to == ("ada@fund.example", "ben@fund.example")
    mime = message.to_mime("digest@fund.example", NOW)
    assert mime["Bcc"] is None and mime["Cc"] is None and "\n" not in mime["Subject"]
    assert mime["To"] == "ada@fund.example, ben@fund.example" and mime["X-IR-Digest-Run"] == "7"
    assert mime["Message-ID"].endswith("@fund.example>")
    assert [p.get_content_type() for p in mime.iter_parts()] == ["text/plain", "text/html"]


def test_only_x_headers_can_be_added():
    with pytest.raises(ValueError):
        OutgoingMessage(to=("ada@fund.example",), subject="s", text="t", headers=(("Bcc", "jane@acme.example"),))
