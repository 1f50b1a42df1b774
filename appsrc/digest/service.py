"""The digest as the appliance runs it: the scheduled step, send-now, the test email and preview.

`DigestService` receives its adapters (mailer, clock, LLM function) from `build_digest_service`,
the composition function the worker, the web app and the CLI call.

## What happens when the process dies mid-send (decided here)

A scheduled digest is built first (LLM included), then *claimed*: one transaction sets
`digest_last_sent_date` to the local day and writes the attempt's `DigestRun` as `pending`; only
then is a transport touched. The outcome is written in one transaction with its consequence —
`sent` + the cursor moved to the window's end, or `failed` + the day's claim released (so the
next cycle retries, the cursor untouched).

If the process dies between the claim and the outcome, whether the mail left is unknown (SMTP
may have accepted it; Gmail may have sent it), and no one is left to look: the Gmail transport's
lookup of an unanswered send (`mail.gmail_send`) runs only while the send call is alive. We
choose **at most one scheduled digest per local day**: the claim stays, so no later cycle sends
again that day; the stale `pending` row is marked `interrupted` after `STALE_AFTER`, which is
visible in the history. The cursor was not moved, so the next day's digest covers the
interrupted window too: no activity is ever missing from the digests — at worst it is repeated
once, the day after a crash that happened after delivery.

A transport that loses the connection after handing the mail over (a Gmail 5xx or timeout on
`messages.send`, an SMTP link dropped after DATA) is the same situation without a crash: the run
ends `unconfirmed`, no other transport is tried, the claim stays and the cursor does not move.
A digest that cannot even be built is recorded as a failed attempt and retried with back-off.

Send-now and test emails never touch the claim or the cursor (a preview never suppresses the
scheduled send); an interrupted one is marked the same way and simply not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appsrc.clock import Clock
from appsrc.digest import scheduler
from appsrc.digest.builder import build_digest
from appsrc.digest.policy import DigestPolicy, load_digest_policy
from appsrc.llm import ChatFn, LlmConfig, make_chat_fn
from appsrc.mail.mailer import DigestMailer, active_admin_addresses, first_active_admin
from appsrc.mail.message import OutgoingMessage
from appsrc.mail.sanitize import sanitize_error
from appsrc.mail.transport import Transport
from appsrc.store.db import database
from appsrc.store.models import DigestRun, User

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=30)  # far longer than any send (SMTP 30 s timeout, Gmail retries)
INTERRUPTED = (
    "interrupted: the process stopped during this attempt, so whether it was delivered is "
    "unknown; it is not resent (at most one scheduled digest a day) and its window rolls "
    "into the next digest"
)

TEST_TEXT = (
    "This is a test of the IR Mail Desk daily digest delivery.\n\n"
    "If you can read this, the appliance can send the digest to its admins. "
    "The digest itself goes only to the fund's active admins, once a day."
)
TEST_HTML = (
    '<!DOCTYPE html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;'
    'color:#1f2328"><p><strong>Test of the IR Mail Desk daily digest delivery.</strong></p>'
    "<p>If you can read this, the appliance can send the digest to its admins. The digest "
    "itself goes only to the fund's active admins, once a day.</p></body></html>"
)


class DigestService:
    def __init__(
        self,
        *,
        mailer: DigestMailer,
        clock: Clock,
        timezone: str = "UTC",
        chat_fn: ChatFn | None = None,
        llm_timeout_s: float = 20.0,
        llm_concurrency: int = 64,
        env_enabled: bool | None = None,
        env_send_hour: int | None = None,
        db=None,
        stale_after: timedelta = STALE_AFTER,
        own_addresses: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        self.mailer = mailer
        self.clock = clock
        self.tz_name = timezone
        self.tz = ZoneInfo(timezone)
        self.chat_fn = chat_fn
        self.llm_deadline_s = llm_timeout_s + 2.0  # all calls start together; then fall back
        self.llm_concurrency = llm_concurrency
        self.env_enabled = env_enabled
        self.env_send_hour = env_send_hour
        self.db = db
        self.stale_after = stale_after
        self.own_addresses = own_addresses

    # -- reading ------------------------------------------------------------------------------------
    def policy(self) -> DigestPolicy:
        return load_digest_policy(self.env_enabled, self.env_send_hour)

    def build(self, since: datetime, until: datetime, *, use_llm: bool = True) -> dict:
        return build_digest(
            self.db,
            since,
            until,
            self.chat_fn if use_llm else None,
            own_addresses=self.own_addresses() if self.own_addresses else None,
            tz=self.tz,
            tz_name=self.tz_name,
            llm_concurrency=self.llm_concurrency,
            llm_deadline_s=self.llm_deadline_s,
        )

    def next_window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        return scheduler.window_for(now or self.clock.now(), scheduler.read_state())

    def preview(self, *, window: str = "next", use_llm: bool = True) -> dict:
        """What the next scheduled digest (`next`) or a send-now (`24h`) would contain now."""
        now = self.clock.now()
        since, until = self.next_window(now) if window == "next" else (now - scheduler.FIRST_WINDOW, now)
        digest = self.build(since, until, use_llm=use_llm)
        digest["recipients"] = active_admin_addresses()
        return digest

    def status(self) -> dict:
        now = self.clock.now()
        policy = self.policy()
        state = scheduler.read_state()
        decision = scheduler.decide(
            now, self.tz, policy, state, scheduler.failures_on(scheduler.local_date(now, self.tz))
        )
        return {
            "policy": policy.as_dict(),
            "timezone": self.tz_name,
            "local_date": decision.local_date,
            "due": decision.due,
            "reason": decision.reason,
            "last_sent_at": state.last_sent_at.isoformat() if state.last_sent_at else None,
            "last_sent_date": state.last_sent_date,
            "recipients": active_admin_addresses(),
        }

    # -- the scheduled digest ------------------------------------------------------------------------
    def step(self) -> None:
        """The worker's 60-second step."""
        self.maybe_send_digest()

    def maybe_send_digest(self, now: datetime | None = None, force: bool = False) -> DigestRun | None:
        """Send today's scheduled digest if it is due; `force=True` is send-now (last 24 h,
        regardless of the policy, cursor untouched). Returns the attempt, or None if none was due."""
        now = now or self.clock.now()
        if force:
            return self.send_now(now)
        self.mark_interrupted(now)
        policy = self.policy()
        state = scheduler.read_state()
        decision = scheduler.decide(now, self.tz, policy, state, [])
        if decision.due:  # only then is the back-off after failed attempts worth a query
            decision = scheduler.decide(now, self.tz, policy, state, scheduler.failures_on(decision.local_date))
        if not decision.due:
            return None
        today = decision.local_date
        recipients = active_admin_addresses()
        if not recipients:
            log.warning("digest due for %s but there is no active admin to send it to", today)
            return None
        since, until = scheduler.window_for(now, state)
        try:
            digest = self.build(since, until)  # before the claim: a crash here costs nothing
        except Exception as exc:  # recorded like a failed send: visible, and retried with back-off
            log.exception("could not build the digest for %s", today)
            run = self.mailer.record_attempt(
                "scheduled", recipients=recipients, local_date=today, window=(since, until)
            )
            self._fail(run, f"could not build the digest ({exc.__class__.__name__})")
            return run
        with database.atomic():
            won, previous = scheduler.claim_day(today, self.clock.now())
            if not won:
                log.info("digest for %s already claimed by another attempt", today)
                return None
            run = self.mailer.record_attempt(
                "scheduled", recipients=recipients, local_date=today, window=(since, until)
            )
            run.subject = digest["subject"]
            run.save()
        message = self._message(digest, recipients, run)
        # Unconfirmed (the transport lost the link after handing the mail over) is treated like a
        # crash mid-send: the day stays claimed and the cursor stays, so nothing is sent twice.
        return self.mailer.deliver(
            run,
            message,
            on_sent=lambda _run: scheduler.advance_cursor(until, self.clock.now()),
            on_failed=lambda _run: scheduler.release_day(today, previous, self.clock.now()),
        )

    def mark_interrupted(self, now: datetime | None = None) -> int:
        """Pending attempts older than `stale_after` belong to a process that died mid-send."""
        now = now or self.clock.now()
        count = (
            DigestRun.update(status="interrupted", error=INTERRUPTED, finished_at=now)
            .where((DigestRun.status == "pending") & (DigestRun.created_at < now - self.stale_after))
            .execute()
        )
        if count:
            log.warning("marked %d digest attempt(s) interrupted (process stopped mid-send)", count)
        return count

    # -- on demand -----------------------------------------------------------------------------------
    def send_now(
        self, now: datetime | None = None, *, requested_by: User | None = None, run: DigestRun | None = None
    ) -> DigestRun:
        """The real last-24 h digest to every active admin, regardless of the policy; the daily
        cursor and claim are never touched. `run` is a pending row made by a job, if any."""
        now = now or self.clock.now()
        since, until = now - scheduler.FIRST_WINDOW, now
        recipients = active_admin_addresses()
        if run is None:
            self.mailer.check_recipients(recipients)
            run = self.mailer.record_attempt(
                "send-now", recipients=recipients, window=(since, until), requested_by=requested_by
            )
        else:
            run.window_start, run.window_end, run.recipients = since, until, recipients
            run.save()
        try:
            digest = self.build(since, until)
        except Exception as exc:
            self._fail(run, f"could not build the digest ({exc.__class__.__name__})")
            raise
        return self.mailer.deliver(run, self._message(digest, recipients, run))

    def send_test(
        self, recipients: Sequence[str] | None = None, *, requested_by: User | None = None, run: DigestRun | None = None
    ) -> DigestRun:
        """A short test email to `recipients` (default: every active admin), each of whom must be
        an active admin (`RecipientNotAllowed` otherwise: nothing is sent)."""
        wanted = self.mailer.check_recipients(recipients if recipients is not None else active_admin_addresses())
        message = OutgoingMessage(
            to=wanted,
            subject="IR Mail Desk — test of the daily digest email",
            text=TEST_TEXT,
            html=TEST_HTML,
            headers=(("X-IR-Digest-Kind", "test"),),
        )
        if run is None:
            run = self.mailer.record_attempt("test", message, requested_by=requested_by)
        return self.mailer.deliver(run, message)

    def _message(self, digest: dict, recipients: Sequence[str], run: DigestRun) -> OutgoingMessage:
        return OutgoingMessage(
            to=tuple(recipients),
            subject=digest["subject"],
            text=digest["body"],
            html=digest["html"],
            headers=(("X-IR-Digest-Kind", run.kind), ("X-IR-Digest-Run", str(run.id))),
        )

    def _fail(self, run: DigestRun, error: str) -> None:
        run.status, run.error, run.finished_at = "failed", sanitize_error(error), self.clock.now()
        run.error_kind = "transient"
        run.save()


def build_digest_service(runtime, *, smtp_ca_file=None) -> DigestService:
    """The digest wired from the runtime: Gmail delegation first, SMTP (re-read at each send) second,
    the local LLM when `CRM_LLM_URL` is set."""
    from appsrc.mail.gmail_send import GmailTransport
    from appsrc.mail.smtp_send import SmtpTransport
    from appsrc.secret_files import load_smtp_config

    settings = runtime.settings

    def sender() -> str | None:
        return (settings.digest_sender or "").strip().lower() or first_active_admin()

    transports: list[Transport] = [
        GmailTransport(runtime.remotes, sender),
        SmtpTransport(lambda: load_smtp_config(settings.secrets_dir), ca_file=smtp_ca_file),
    ]
    llm = LlmConfig.from_settings(settings)
    return DigestService(
        mailer=DigestMailer(transports, runtime.clock),
        clock=runtime.clock,
        timezone=settings.timezone,
        chat_fn=make_chat_fn(llm),
        llm_timeout_s=settings.llm_timeout_s,
        env_enabled=settings.digest_enabled,
        env_send_hour=settings.digest_send_hour,
        db=runtime.db,
    )
