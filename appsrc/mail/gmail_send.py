"""The Gmail transport: `users.messages.send` as a delegated mailbox, with the `gmail.compose`
scope (the deployment grants compose, which authorizes send, not the narrow `gmail.send`).

It goes through `GmailRemote.execute`, so quota pacing and the token cache are the capture
engine's (as a non-idempotent write: retried only when Gmail certainly did not send); this module
never imports googleapiclient. The body is `{"raw": ...}` (a draft's would be
`{"message": {"raw": ...}}`). The sender is resolved at send time: `CRM_DIGEST_SENDER`, else the
first active admin.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime

from appsrc.capture.credentials import SCOPE_COMPOSE, DelegationError
from appsrc.capture.gmail import GmailError, GmailRemotes
from appsrc.mail.message import OutgoingMessage
from appsrc.mail.sanitize import sanitize_error
from appsrc.mail.transport import Delivery, TransportError, TransportNotConfigured

log = logging.getLogger(__name__)


class GmailTransport:
    name = "gmail"

    def __init__(self, remotes: GmailRemotes, sender: Callable[[], str | None]) -> None:
        self._remotes = remotes
        self._sender = sender

    def configured(self) -> bool:
        return self._remotes.credentials.configured()

    def send(self, message: OutgoingMessage, now: datetime) -> Delivery:
        if not self._remotes.credentials.configured():
            raise TransportNotConfigured("Gmail delegation is not configured (no service-account key)")
        sender = self._sender()
        if not sender:
            raise TransportNotConfigured("no digest sender: set CRM_DIGEST_SENDER or make an admin active")
        raw = base64.urlsafe_b64encode(message.to_bytes(sender, now)).decode("ascii")
        remote = self._remotes.remote(sender, (SCOPE_COMPOSE,))
        try:
            remote.execute("users.messages.send",
                           lambda s: s.users().messages().send(userId="me", body={"raw": raw}),
                           idempotent=False)
        except DelegationError as exc:
            raise TransportError(f"Gmail delegation for {sender} failed: {sanitize_error(exc, limit=200)}"
                                 + (f" — fix: {exc.fix}" if exc.fix else ""), permanent=exc.permanent) from None
        except GmailError as exc:
            if exc.ambiguous:
                raise TransportError(f"Gmail did not confirm the send as {sender} "
                                     f"({sanitize_error(exc, limit=200)}); it may have been sent",
                                     permanent=False, ambiguous=True) from None
            raise TransportError(f"Gmail refused the send as {sender}: {sanitize_error(exc, limit=200)}"
                                 + (f" — fix: {exc.fix}" if exc.fix else ""), permanent=exc.permanent) from None
        except Exception as exc:  # the client library's own failures (parsing a reply, ...)
            raise TransportError(f"Gmail send as {sender} ended without a confirmation "
                                 f"({exc.__class__.__name__}); it may have been sent",
                                 permanent=False, ambiguous=True) from None
        return Delivery(self.name, sender)
