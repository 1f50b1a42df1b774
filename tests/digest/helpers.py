"""Helpers for the digest tests: services wired to real servers, and a transport wrapper that
makes the process "die" around a send."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes, policy

from appsrc.digest.policy import update_digest_policy
from appsrc.digest.service import DigestService
from appsrc.gmail.client import GmailRemotes, RetryPolicy
from appsrc.gmail.credentials import DelegatedCredentials
from appsrc.mail.gmail_send import GmailTransport
from appsrc.mail.mailer import DigestMailer, first_active_admin
from appsrc.mail.smtp_send import SmtpTransport
from appsrc.secret_files import SmtpConfig
from appsrc.store.db import database

TZ = "America/New_York"


class ProcessDied(BaseException):
    """Stands for SIGKILL / power loss: not an Exception, so nothing in the app catches it."""


class Dying:
    """Wraps a transport; `when="before"` dies before sending, `"after"` after the server accepted."""

    def __init__(self, inner, when: str) -> None:
        self.inner, self.when, self.name = inner, when, inner.name

    def configured(self):
        return self.inner.configured()

    def send(self, message, now):
        if self.when == "before":
            raise ProcessDied()
        self.inner.send(message, now)
        raise ProcessDied()


def smtp_transport(server, tls, **changes) -> SmtpTransport:
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


def gmail_transport(sim, key_path, clock, retry_delay_s: float = 0.01) -> GmailTransport:
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        sim.make_service_account_key(str(key_path))
    remotes = GmailRemotes(
        DelegatedCredentials(key_path, clock),
        sim.url,
        clock,
        retry=RetryPolicy(attempts=2, base_delay_s=retry_delay_s, max_delay_s=retry_delay_s),
    )
    return GmailTransport(remotes, first_active_admin)


def make_service(clock, transports, *, chat_fn=None, tz: str = TZ, llm_timeout_s: float = 5.0) -> DigestService:
    return DigestService(
        mailer=DigestMailer(transports, clock),
        clock=clock,
        timezone=tz,
        chat_fn=chat_fn,
        llm_timeout_s=llm_timeout_s,
        db=database.obj,
    )


def enable(send_hour: int, now: datetime) -> None:
    update_digest_policy({"enabled": True, "send_hour": send_hour}, now, actor_label="test")


def run_cycles(service, clock, duration: timedelta, step_s: float = 60.0) -> list:
    """Advance the frozen clock cycle by cycle, as the worker would; returns the attempts made."""
    runs = []
    end = clock.now() + duration
    while clock.now() < end:
        clock.advance(step_s)
        run = service.maybe_send_digest()
        if run is not None:
            runs.append(run)
    return runs


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)
