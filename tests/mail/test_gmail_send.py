"""The Gmail transport against the simulator: users.messages.send with the gmail.compose scope
through the capture engine's remote, the `{raw}` body, the sender rule and error classes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from appsrc.gmail.client import GmailError
from appsrc.mail.gmail_send import GmailTransport
from appsrc.mail.mailer import first_active_admin
from appsrc.mail.message import OutgoingMessage
from appsrc.mail.transport import TransportError, TransportNotConfigured
from appsrc.simulator import GMAIL_COMPOSE, GMAIL_READONLY

NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
ADMINS = ("ada@fund.example", "ben@fund.example")


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    """Poll until `condition()` holds (an event, not a duration: the bound only ends a hang)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def message() -> OutgoingMessage:
    return OutgoingMessage(to=ADMINS, subject="IR digest — test", text="text part", html="<p>html part</p>")


def test_sends_as_the_first_active_admin_with_the_compose_scope_and_a_raw_body(people, sim, gmail_remotes):
    delivery = GmailTransport(gmail_remotes, first_active_admin).send(message(), NOW)
    assert (delivery.transport, delivery.sender) == ("gmail", "ada@fund.example")
    [sent] = sim.sent_messages()
    assert sent.sender == "ada@fund.example" and set(sent.recipients) == set(ADMINS)
    parsed = message_from_bytes(sent.raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative" and "ada@fund.example" in parsed["From"]
    [call] = list(sim.calls("users.messages.send"))
    assert call.status == 200 and call.user == "ada@fund.example"
    assert [c.status for c in sim.calls("oauth2.token", user="ada@fund.example")] == [200]
    assert b"Subject: IR digest" in sent.raw and b"text part" in sent.raw
    # The remote asked only for compose: a read with the same remote is refused by Gmail's scopes.
    remote = gmail_remotes.remote("ada@fund.example", (GMAIL_COMPOSE,))
    assert remote.scopes == (GMAIL_COMPOSE,)
    with pytest.raises(GmailError) as caught:
        remote.execute("users.messages.list", lambda s: s.users().messages().list(userId="me"))
    assert caught.value.status == 403 and caught.value.permanent


def test_configured_sender_wins(people, sim, gmail_remotes):
    GmailTransport(gmail_remotes, lambda: "digest@fund.example").send(message(), NOW)
    assert [m.sender for m in sim.sent_messages()] == ["digest@fund.example"]


def test_compose_scope_not_granted_is_permanent_with_the_fix(people, sim, gmail_remotes):
    client_id = gmail_remotes.credentials.key_info().client_id
    sim.set_grant(client_id, [GMAIL_READONLY])
    with pytest.raises(TransportError) as caught:
        GmailTransport(gmail_remotes, first_active_admin).send(message(), NOW)
    assert caught.value.permanent and "fix:" in str(caught.value)
    assert sim.sent_messages() == []


def test_suspended_sender_is_permanent(people, sim, gmail_remotes):
    sim.set_mailbox_status("ada@fund.example", "suspended")
    with pytest.raises(TransportError) as caught:
        GmailTransport(gmail_remotes, first_active_admin).send(message(), NOW)
    assert caught.value.permanent and sim.sent_messages() == []


QUICK_SETTLE = (0.01, 0.01, 0.01)  # the real schedule waits minutes; what is checked is the same


def lookups(sim) -> list[str]:
    """The searches made in the sender's mailbox for an unanswered send."""
    return [c.params.get("q") for c in sim.calls("users.messages.list", user="ada@fund.example")]


def test_a_5xx_before_gmail_acted_is_settled_as_not_sent_from_the_senders_mailbox(people, sim, gmail_remotes):
    """Gmail may have sent before failing to answer: the send is never repeated; instead the
    sender's mailbox is searched for the digest's Message-ID, and its absence is the answer."""
    sim.faults.fail_next("users.messages.send", 5, 503)
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    with pytest.raises(TransportError) as caught:
        transport.send(message(), NOW)
    assert caught.value.kind == "transient"  # not sent: the mailer may try SMTP
    assert "was not in the mailbox" in str(caught.value)
    assert [c.status for c in sim.calls("users.messages.send")] == [503]
    assert sim.sent_messages() == []
    searched = lookups(sim)  # each look: by Message-ID, then what was sent since the attempt
    by_id = [q for q in searched if q.startswith("rfc822msgid:")]
    assert len(by_id) == len(QUICK_SETTLE) and len(set(by_id)) == 1
    assert by_id[0].endswith(".digest@fund.example")
    assert len(searched) == 2 * len(QUICK_SETTLE)
    assert all(q.startswith("in:sent after:") for q in searched if q not in by_id)


def test_a_5xx_after_gmail_sent_is_settled_as_sent(people, sim, gmail_remotes):
    sim.faults.fail_next("users.messages.send", 1, 503, after=True)
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    delivery = transport.send(message(), NOW)
    assert (delivery.transport, delivery.sender) == ("gmail", "ada@fund.example")
    assert "found in ada@fund.example's mailbox" in delivery.note
    [sent] = sim.sent_messages()
    message_id = message_from_bytes(sent.raw, policy=policy.default)["Message-ID"]
    assert lookups(sim) == [f"rfc822msgid:{message_id.strip('<>')}"]  # found at the first look


def test_a_send_gmail_gave_its_own_message_id_is_found_by_the_digest_id(people, sim, gmail_remotes):
    """Should Gmail replace the Message-ID of what it sends, the digest is still recognised among
    the mail sent since the attempt, by the id it also carries in X-IR-Digest-Id."""
    sim.configure(own_message_ids=True)
    sim.faults.fail_next("users.messages.send", 1, 503, after=True)
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    delivery = transport.send(message(), NOW)
    assert "found in ada@fund.example's mailbox" in delivery.note
    [sent] = sim.sent_messages()
    headers = message_from_bytes(sent.raw, policy=policy.default)
    assert headers["X-IR-Digest-Id"] == headers["X-Google-Original-Message-ID"] != headers["Message-ID"]
    assert len(sim.calls("users.messages.get", user="ada@fund.example")) == 1


def test_a_lookup_that_fails_in_an_unexpected_way_is_a_look_not_made(people, sim, gmail_remotes):
    """Any failure of a look, not only Gmail's own errors, leaves the send ambiguous, never
    a reason to send again by SMTP."""
    sim.faults.fail_next("users.messages.send", 1, 503)
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    real_remote = gmail_remotes.remote

    def broken_for_reads(address, scopes):
        remote = real_remote(address, scopes)
        if GMAIL_READONLY in scopes:
            remote.execute = lambda *a, **k: (_ for _ in ()).throw(KeyError("payload"))
        return remote

    gmail_remotes.remote = broken_for_reads
    with pytest.raises(TransportError) as caught:
        transport.send(message(), NOW)
    assert caught.value.ambiguous and "could not be searched" in str(caught.value)


def test_a_5xx_with_a_mailbox_that_cannot_be_searched_stays_ambiguous(people, sim, gmail_remotes):
    """Without the gmail.readonly grant nothing can be learnt: unconfirmed, never repeated."""
    sim.set_grant(gmail_remotes.credentials.key_info().client_id, [GMAIL_COMPOSE])
    sim.faults.fail_next("users.messages.send", 1, 503)
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    with pytest.raises(TransportError) as caught:
        transport.send(message(), NOW)
    assert caught.value.ambiguous and not caught.value.permanent
    assert "could not be searched" in str(caught.value) and "may have been sent" in str(caught.value)
    assert [c.status for c in sim.calls("users.messages.send")] == [503]
    # The grant is missing: the first look's token is refused, and no look is tried again.
    assert [c.status for c in sim.calls("oauth2.token")] == [200, 401]


def test_a_throttled_send_is_retried_because_gmail_did_not_act(people, sim, gmail_remotes):
    sim.faults.fail_next("users.messages.send", 1, 429, "userRateLimitExceeded")
    GmailTransport(gmail_remotes, first_active_admin).send(message(), NOW)
    assert [c.status for c in sim.calls("users.messages.send")] == [429, 200]
    assert len(sim.sent_messages()) == 1


def test_a_timeout_after_gmail_acted_is_ambiguous_and_sent_exactly_once(people, sim, tmp_path):
    """The simulator answers only after 1 s, then acts anyway; our 0.3 s timeout gives up first."""
    from appsrc.clock import SystemClock
    from appsrc.gmail.client import GmailRemotes, RetryPolicy
    from appsrc.gmail.credentials import DelegatedCredentials

    sim.add_mailbox("ada@fund.example")
    key = tmp_path / "key.json"
    sim.make_service_account_key(str(key))
    remotes = GmailRemotes(
        DelegatedCredentials(key, SystemClock()),
        sim.url,
        SystemClock(),
        http_timeout_s=0.3,
        retry=RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.02),
    )
    sim.faults.update(timeout=1.0, timeout_mode="sleep", timeout_sleep_s=1.0)
    with pytest.raises(TransportError) as caught:  # every search of the mailbox times out too
        GmailTransport(remotes, first_active_admin, settle_delays_s=(0.01,)).send(message(), NOW)
    assert caught.value.ambiguous and "may have been sent" in str(caught.value)
    # Every request reached the simulator before the client gave up on it (each is logged as
    # delayed on arrival): exactly one of them was a send, so there was no resend to wait for.
    delayed = [c.params["path"] for c in sim.calls(method="connection.delayed")]
    assert [p for p in delayed if p.endswith("/messages/send")] == ["/gmail/v1/users/me/messages/send"]
    assert wait_for(lambda: len(sim.sent_messages()) == 1)  # the one send lands after its delay


def test_gmail_unreachable_is_transient_and_not_ambiguous(people, sim, gmail_remotes):
    """A refused connection means nothing left: safe to fall back to SMTP."""
    transport = GmailTransport(gmail_remotes, first_active_admin)
    transport.send(message(), NOW)  # tokens minted and a connection kept alive
    sim.stop()
    try:
        with pytest.raises(TransportError) as caught:
            transport.send(message(), NOW)
        assert caught.value.kind == "transient"
    finally:
        sim.start()
    assert len(sim.sent_messages()) == 1


def test_no_key_or_no_sender_is_not_configured(people, sim, gmail_remotes, tmp_path):
    assert GmailTransport(gmail_remotes, lambda: None).configured()
    with pytest.raises(TransportNotConfigured):
        GmailTransport(gmail_remotes, lambda: None).send(message(), NOW)
    (tmp_path / "secrets" / "dwd" / "service_account.json").unlink()
    transport = GmailTransport(gmail_remotes, first_active_admin)
    assert not transport.configured()
    with pytest.raises(TransportNotConfigured):
        transport.send(message(), NOW)
    assert sim.sent_messages() == []


def test_a_send_whose_answer_never_comes_is_not_sent_again_by_the_http_layer(people, sim, gmail_remotes):
    """Stock httplib2 takes a connection closed without an answer for a stale keep-alive and
    sends the request again; a write must go out exactly once and come back ambiguous."""
    transport = GmailTransport(gmail_remotes, first_active_admin, settle_delays_s=QUICK_SETTLE)
    transport.send(message(), NOW)  # tokens minted; the next send starts from a warm client
    sim.clear_calls()
    sim.faults.update(timeout=1.0, timeout_mode="close")  # every API request: read, then hang up
    with pytest.raises(TransportError) as caught:  # and every search of the mailbox after it
        transport.send(message(), NOW)
    assert caught.value.ambiguous
    dropped_sends = [c for c in sim.calls("connection.dropped") if c.params.get("path", "").endswith("/messages/send")]
    assert len(dropped_sends) == 1 and len(sim.sent_messages()) == 1
