"""The Gmail transport: `users.messages.send` as a delegated mailbox, with the `gmail.compose`
scope (the deployment grants compose, which authorizes send, not the narrow `gmail.send`).

It goes through `GmailRemote.execute`, so quota pacing and the token cache are the capture
engine's (as a non-idempotent write: retried only when Gmail certainly did not send); this module
never imports googleapiclient. The body is `{"raw": ...}` (a draft's would be
`{"message": {"raw": ...}}`). The sender is resolved at send time: `CRM_DIGEST_SENDER`, else the
first active admin.

When Gmail leaves a send unanswered (a 5xx, a timeout, a dropped connection after the request
went out), the digest may or may not have gone. Rather than give up on that day's digest, or
risk a second copy, the transport looks for the digest in the sender's mailbox (the
`gmail.readonly` grant), after a short grace and then with backoff for about two minutes: Gmail
files what it sends at once. It looks by Message-ID (`rfc822msgid:`) and, should Gmail have given
the message an id of its own, among the mail sent since by the id the digest also carries in
X-IR-Digest-Id. Found: it was sent. Absent at the last look: it was not, and the mailer goes on
to the SMTP fallback. When that last look cannot be made (no grant, Gmail unreachable), the send
stays ambiguous (unconfirmed, never repeated).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import make_msgid

from appsrc.gmail.client import GmailError, GmailRemotes
from appsrc.gmail.credentials import SCOPE_COMPOSE, SCOPE_READONLY, DelegationError
from appsrc.mail.message import DIGEST_ID_HEADER, OutgoingMessage
from appsrc.mail.sanitize import sanitize_error
from appsrc.mail.transport import Delivery, TransportError, TransportNotConfigured

log = logging.getLogger(__name__)


# Seconds to wait before each look for an unanswered send: 5 s of grace, then backoff; about
# two minutes and a quarter in all.
SETTLE_DELAYS_S = (5.0, 10.0, 20.0, 40.0, 60.0)


class GmailTransport:
    name = "gmail"

    def __init__(
        self,
        remotes: GmailRemotes,
        sender: Callable[[], str | None],
        *,
        settle_delays_s: Sequence[float] = SETTLE_DELAYS_S,
    ) -> None:
        self._remotes = remotes
        self._sender = sender
        self._settle_delays_s = tuple(settle_delays_s)

    def configured(self) -> bool:
        return self._remotes.credentials.configured()

    def send(self, message: OutgoingMessage, now: datetime) -> Delivery:
        if not self._remotes.credentials.configured():
            raise TransportNotConfigured("Gmail delegation is not configured (no service-account key)")
        sender = self._sender()
        if not sender:
            raise TransportNotConfigured("no digest sender: set CRM_DIGEST_SENDER or make an admin active")
        # The mailer gives each attempt a Message-ID; a direct caller gets one here.
        message_id = message.message_id or make_msgid("digest", domain=sender.rpartition("@")[2])
        message = dataclasses.replace(message, message_id=message_id)
        raw = base64.urlsafe_b64encode(message.to_bytes(sender, now)).decode("ascii")
        remote = self._remotes.remote(sender, (SCOPE_COMPOSE,))
        try:
            remote.execute(
                "users.messages.send",
                lambda s: s.users().messages().send(userId="me", body={"raw": raw}),
                idempotent=False,
            )
        except DelegationError as exc:
            raise TransportError(
                f"Gmail delegation for {sender} failed: {sanitize_error(exc, limit=200)}"
                + (f" — fix: {exc.fix}" if exc.fix else ""),
                permanent=exc.permanent,
            ) from None
        except GmailError as exc:
            if exc.ambiguous:
                return self._settle(sender, message_id, sanitize_error(exc, limit=200))
            raise TransportError(
                f"Gmail refused the send as {sender}: {sanitize_error(exc, limit=200)}"
                + (f" — fix: {exc.fix}" if exc.fix else ""),
                permanent=exc.permanent,
            ) from None
        except Exception as exc:  # the client library's own failures (parsing a reply, ...)
            return self._settle(sender, message_id, exc.__class__.__name__)
        return Delivery(self.name, sender)

    def _settle(self, sender: str, message_id: str, why: str) -> Delivery:
        """Whether an unanswered send went out, from the sender's own mailbox (see the module
        docstring). Returns the delivery when found. Raises a plain failure (the mailer then
        tries SMTP) only when the last look, after the longest wait, could be made and found
        nothing; raises an ambiguous one when that look could not be made."""
        remote = self._remotes.remote(sender, (SCOPE_READONLY,))
        since = self._remotes.clock.now()
        waited, last_error = 0.0, None
        for delay in self._settle_delays_s:
            self._remotes.clock.sleep(delay)
            waited += delay
            try:
                found = _sent_copy(remote, message_id, since)
            except Exception as exc:
                last_error = sanitize_error(exc, limit=200)
                log.warning("digest as %s: looking for the unanswered send failed: %s", sender, last_error)
                if getattr(exc, "permanent", False):
                    break  # e.g. no gmail.readonly grant: asking again cannot help
                continue
            if found:
                log.info(
                    "digest as %s: Gmail left the send unanswered (%s); found it sent %.0f s later", sender, why, waited
                )
                return Delivery(
                    self.name,
                    sender,
                    note=f"Gmail left the send unanswered ({why}); the "
                    f"digest was found in {sender}'s mailbox {waited:.0f} s later",
                )
            last_error = None
        if last_error is None:
            raise TransportError(
                f"Gmail did not send it as {sender}: it left the send unanswered ({why}) "
                f"and the digest was not in the mailbox {waited:.0f} s later",
                permanent=False,
            )
        raise TransportError(
            f"Gmail did not confirm the send as {sender} ({why}), and the mailbox "
            f"could not be searched for it ({last_error}); it may have been sent",
            permanent=False,
            ambiguous=True,
        )


def _sent_copy(remote, message_id: str, since) -> bool:
    """Whether the sender's mailbox holds the digest: by its Message-ID (`rfc822msgid:`), or,
    should Gmail have given it a Message-ID of its own, among what was sent since `since` by
    the id it carries in X-IR-Digest-Id (or X-Google-Original-Message-ID)."""
    listing = remote.execute(
        "users.messages.list",
        lambda s: (
            s.users()
            .messages()
            .list(userId="me", q=f"rfc822msgid:{message_id.strip('<>')}", includeSpamTrash=True, maxResults=1)
        ),
    )
    if listing.get("messages"):
        return True
    recent = remote.execute(
        "users.messages.list",
        lambda s: (
            s.users().messages().list(userId="me", q=f"in:sent after:{int(since.timestamp()) - 60}", maxResults=25)
        ),
    )
    for item in recent.get("messages", []):
        meta = remote.execute(
            "users.messages.get",
            lambda s, i=item["id"]: (
                s.users()
                .messages()
                .get(
                    userId="me",
                    id=i,
                    format="metadata",
                    metadataHeaders=["Message-ID", DIGEST_ID_HEADER, "X-Google-Original-Message-ID"],
                )
            ),
        )
        headers = (meta.get("payload") or {}).get("headers") or []
        if any(h.get("value", "").strip() == message_id for h in headers):
            return True
    return False
