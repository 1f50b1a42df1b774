"""The digest mailer: the one path by which the appliance sends mail, and the hard rule's guard.

Contract (what callers may rely on):
- `check_recipients(addrs)` returns the normalized list, or raises `RecipientNotAllowed` unless
  every address is an **active admin** at this moment (read from the database, not cached). It is
  called again inside `deliver`, so no caller can skip it: nothing is sent to anyone else — never
  to an investor, a teammate who is not an admin, or a deactivated admin.
- Every attempt is a `DigestRun` row written *before* any transport is touched (`record_attempt`),
  then marked `sent` or `failed` with a sanitized error (`deliver`). A crash in between leaves
  the row `pending` — evidence, not a guess (see `digest.service` for what that means).
- Transports are tried in order (Gmail delegation preferred, SMTP fallback); the first that
  delivers wins. A transport that fails is noted on the run even when a later one delivers.
- Each attempt has one Message-ID (`DigestRun.message_id`), the same on every transport, saved
  before anything is sent: mail clients show two copies as one, and the Gmail transport finds a
  send Gmail left unanswered by it (see `gmail_send`).
- A transport that lost the connection *after* handing the mail over (an ambiguous failure) ends
  the attempt as `unconfirmed`: no other transport is tried, since it could deliver a second copy.
- `deliver` never raises for a transport failure: it returns the run with `status="failed"` (and
  `error_kind` `permanent` when every transport needs an admin's fix, else `transient`) or
  `status="unconfirmed"` (`error_kind="ambiguous"`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from email.utils import make_msgid

from appsrc.clock import Clock
from appsrc.mail.message import OutgoingMessage
from appsrc.mail.sanitize import sanitize_error
from appsrc.mail.transport import Transport, TransportError
from appsrc.store.db import database
from appsrc.store.models import DigestRun, User

log = logging.getLogger(__name__)

NO_TRANSPORT = (
    "no way to send: configure Gmail delegation (and grant gmail.compose) or run the "
    "StartOS action “Configure Digest SMTP”"
)


class RecipientNotAllowed(Exception):
    """A recipient is not an active admin: nothing was sent."""


def active_admin_addresses() -> list[str]:
    """Every active admin's address, in a stable order (by id): the only digest recipients."""
    query = User.select(User.email).where(User.is_admin & User.is_active).order_by(User.id)
    return [email.strip().lower() for (email,) in query.tuples()]


def first_active_admin() -> str | None:
    admins = active_admin_addresses()
    return admins[0] if admins else None


class DigestMailer:
    def __init__(self, transports: Sequence[Transport], clock: Clock) -> None:
        self.transports = tuple(transports)
        self.clock = clock

    # -- the hard rule --------------------------------------------------------------------------
    def check_recipients(self, addresses: Iterable[str]) -> tuple[str, ...]:
        wanted = tuple(dict.fromkeys(a.strip().lower() for a in addresses if a and a.strip()))
        if not wanted:
            raise RecipientNotAllowed("no recipients: the digest goes to the active admins and there are none")
        allowed = set(active_admin_addresses())
        outsiders = [a for a in wanted if a not in allowed]
        if outsiders:
            raise RecipientNotAllowed(
                f"refusing to send to {len(outsiders)} address(es) that are not active "
                "admins; the appliance only mails its own admins"
            )
        return wanted

    # -- record attempt -> send -> record outcome ---------------------------------------------------
    def record_attempt(
        self,
        kind: str,
        message: OutgoingMessage | None = None,
        *,
        recipients: Sequence[str] = (),
        local_date: str | None = None,
        window: tuple[datetime, datetime] | None = None,
        requested_by: User | None = None,
    ) -> DigestRun:
        """The pending row that exists before any transport is touched."""
        return DigestRun.create(
            kind=kind,
            local_date=local_date,
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
            recipients=list(message.to if message is not None else recipients),
            subject=message.subject if message is not None else "",
            status="pending",
            requested_by=requested_by,
            created_at=self.clock.now(),
        )

    def deliver(
        self,
        run: DigestRun,
        message: OutgoingMessage,
        *,
        on_sent: Callable[[DigestRun], None] | None = None,
        on_failed: Callable[[DigestRun], None] | None = None,
        on_unconfirmed: Callable[[DigestRun], None] | None = None,
    ) -> DigestRun:
        """Send `message` for the recorded attempt `run` and record the outcome on it.

        The `on_*` hooks run in the same transaction as the outcome (the scheduler moves its
        cursor, releases its daily claim, or keeps it, there, so the two can never disagree)."""
        try:
            recipients = self.check_recipients(message.to)
        except RecipientNotAllowed as exc:
            self._finish(run, "failed", None, f"refused: {exc}", "permanent", on_failed)
            raise
        run.recipients, run.subject = list(recipients), message.subject
        if run.message_id is None:
            run.message_id = make_msgid(f"digest.{run.id}", domain=recipients[0].rpartition("@")[2])
            run.save(only=[DigestRun.message_id])
        message = dataclasses.replace(message, message_id=run.message_id)
        notes: list[str] = []
        tried: list[str] = []
        kinds: list[str] = []
        for transport in self.transports:
            if not transport.configured():
                continue
            tried.append(transport.name)
            try:
                delivery = transport.send(message, self.clock.now())
            except TransportError as exc:
                text = sanitize_error(exc)
                notes.append(f"{transport.name}: {text}")
                kinds.append(exc.kind)
                log.warning("digest run %s: %s transport failed (%s): %s", run.id, transport.name, exc.kind, text)
                if exc.ambiguous:
                    self._finish(run, "unconfirmed", transport.name, "; ".join(notes), "ambiguous", on_unconfirmed)
                    return run
                continue
            except Exception as exc:  # a bug in a transport must not leave the run pending
                notes.append(f"{transport.name}: unexpected {exc.__class__.__name__}")
                kinds.append("transient")
                log.error("digest run %s: %s transport crashed with %s", run.id, transport.name, exc.__class__.__name__)
                continue
            if delivery.note:
                notes.append(delivery.note)
            fell_back = "; ".join(notes) if notes else None
            self._finish(run, "sent", delivery.transport, fell_back, None, on_sent)
            log.info(
                "digest run %s (%s) sent via %s to %d admin(s)", run.id, run.kind, delivery.transport, len(recipients)
            )
            return run
        error = "; ".join(notes) if tried else NO_TRANSPORT
        kind = "permanent" if all(k == "permanent" for k in kinds) else "transient"
        self._finish(run, "failed", ",".join(tried) or None, error, kind, on_failed)
        log.warning("digest run %s (%s) failed (%s): %s", run.id, run.kind, kind, run.error)
        return run

    def send_digest(
        self,
        message: OutgoingMessage,
        kind: str,
        *,
        requested_by: User | None = None,
        local_date: str | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> DigestRun:
        """check → record → deliver, for callers without a claim of their own (send-now, test)."""
        self.check_recipients(message.to)
        run = self.record_attempt(kind, message, local_date=local_date, window=window, requested_by=requested_by)
        return self.deliver(run, message)

    def _finish(
        self,
        run: DigestRun,
        status: str,
        transport: str | None,
        error: str | None,
        error_kind: str | None,
        hook: Callable[[DigestRun], None] | None,
    ) -> None:
        run.status, run.transport, run.finished_at = status, transport, self.clock.now()
        run.error = sanitize_error(error) if error else None
        run.error_kind = error_kind
        with database.atomic():
            run.save()
            if hook is not None:
                hook(run)
