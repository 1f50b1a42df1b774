"""The digest mailer: the hard rule (active admins only, enforced in code), the transport order
(Gmail preferred, SMTP fallback) and the DigestRun record of every attempt."""

from __future__ import annotations

import pytest

from appsrc.clock import FrozenClock
from appsrc.mail.gmail_send import GmailTransport
from appsrc.mail.mailer import (
    NO_TRANSPORT,
    DigestMailer,
    RecipientNotAllowed,
    active_admin_addresses,
    first_active_admin,
)
from appsrc.mail.message import OutgoingMessage
from appsrc.mail.smtp_send import SmtpTransport
from appsrc.secret_files import SmtpConfig
from appsrc.store.models import DigestRun, User
from tests.conftest import NOW

ADMINS = ("ada@fund.example", "ben@fund.example")


def smtp_for(server, tls, **changes):
    values = {
        "host": server.host,
        "port": server.port,
        "security": "starttls",
        "username": server.username,
        "password": server.password,
        "sender": "digest@fund.example",
    }
    values.update(changes)
    return SmtpTransport(lambda: SmtpConfig(**values), ca_file=tls.ca_file, timeout_s=5)


@pytest.fixture
def mailer(gmail_remotes, smtp_server, tls):
    """Gmail through the simulator first, then the STARTTLS+AUTH SMTP server."""
    return DigestMailer(
        [GmailTransport(gmail_remotes, first_active_admin), smtp_for(smtp_server, tls)], FrozenClock(NOW)
    )


def message(to=ADMINS) -> OutgoingMessage:
    return OutgoingMessage(to=to, subject="subject", text="text", html="<p>html</p>")


def test_active_admins_are_the_only_allowed_recipients(people):
    assert active_admin_addresses() == list(ADMINS)


@pytest.mark.parametrize(
    "outsider",
    [
        "tom@fund.example",  # a teammate, not an admin
        "ivy@fund.example",  # a deactivated admin
        "jane@acme-capital.example",  # an investor
        "ADA@fund.example.evil",
    ],
)
def test_anyone_else_is_refused_and_nothing_is_sent_or_recorded(people, mailer, sim, smtp_server, outsider):
    with pytest.raises(RecipientNotAllowed):
        mailer.send_digest(message(ADMINS + (outsider,)), "test")
    assert sim.sent_messages() == [] and smtp_server.received == [] and DigestRun.select().count() == 0


def test_deliver_re_checks_an_already_recorded_attempt(people, mailer, sim, smtp_server):
    """Even a caller holding a pending run cannot skip the rule: the run is failed, nothing sent."""
    run = mailer.record_attempt("send-now", recipients=["tom@fund.example"])
    with pytest.raises(RecipientNotAllowed):
        mailer.deliver(run, message(("tom@fund.example",)))
    run = DigestRun.get_by_id(run.id)
    assert run.status == "failed" and run.error.startswith("refused") and run.transport is None
    assert sim.sent_messages() == [] and smtp_server.received == []


def test_an_admin_deactivated_after_recording_is_refused_at_send_time(people, mailer, sim, smtp_server):
    run = mailer.record_attempt("send-now", recipients=list(ADMINS))
    User.update(is_active=False).where(User.email == "ben@fund.example").execute()
    with pytest.raises(RecipientNotAllowed):
        mailer.deliver(run, message())
    assert sim.sent_messages() == [] and smtp_server.received == []


def test_empty_recipient_list_is_refused(people, mailer):
    with pytest.raises(RecipientNotAllowed):
        mailer.send_digest(message(()), "test")


def test_gmail_is_preferred_and_the_attempt_is_recorded(people, mailer, sim, smtp_server):
    run = mailer.send_digest(message(), "test")
    assert (run.status, run.transport, run.error) == ("sent", "gmail", None)
    assert run.recipients == list(ADMINS) and run.finished_at == NOW and run.created_at == NOW
    assert len(sim.sent_messages()) == 1 and smtp_server.received == []


def test_smtp_is_the_fallback_and_the_gmail_failure_is_noted(people, mailer, sim, smtp_server):
    sim.set_mailbox_status("ada@fund.example", "suspended")
    run = mailer.send_digest(message(), "test")
    assert (run.status, run.transport) == ("sent", "smtp")
    assert run.error.startswith("gmail: ") and "ada@fund.example" in run.error
    assert [r.rcpt_tos for r in smtp_server.received] == [list(ADMINS)] and sim.sent_messages() == []


def test_both_failing_is_a_failed_run_with_each_reason(people, gmail_remotes, sim, smtp_server, tls):
    sim.set_mailbox_status("ada@fund.example", "suspended")
    mailer = DigestMailer(
        [GmailTransport(gmail_remotes, first_active_admin), smtp_for(smtp_server, tls, password="Canary-Wrong-Pw-9")],
        FrozenClock(NOW),
    )
    run = DigestRun.get_by_id(mailer.send_digest(message(), "test").id)
    assert (run.status, run.transport) == ("failed", "gmail,smtp")
    assert "gmail: " in run.error and "smtp: " in run.error and "Canary-Wrong-Pw-9" not in run.error


def test_nothing_configured_says_how_to_fix_it(people):
    mailer = DigestMailer([SmtpTransport(lambda: None)], FrozenClock(NOW))
    run = mailer.send_digest(message(), "test")
    assert (run.status, run.transport, run.error) == ("failed", None, NO_TRANSPORT)


def test_a_crashing_transport_cannot_leave_the_run_pending(people, smtp_server, tls):
    class Broken:
        name = "broken"

        def configured(self):
            return True

        def send(self, message, now):
            raise RuntimeError("password=hunter2 leaked in a bug")

    mailer = DigestMailer([Broken(), smtp_for(smtp_server, tls)], FrozenClock(NOW))
    run = mailer.send_digest(message(), "test")
    assert (run.status, run.transport) == ("sent", "smtp")
    assert run.error == "broken: unexpected RuntimeError"  # the exception text is never stored


def test_outcome_hooks_run_in_the_outcome_transaction(people, mailer):
    seen = []
    run = mailer.record_attempt("scheduled", recipients=list(ADMINS))
    mailer.deliver(
        run,
        message(),
        on_sent=lambda r: seen.append(("sent", r.status)),
        on_failed=lambda r: seen.append(("failed", r.status)),
    )
    assert seen == [("sent", "sent")]
