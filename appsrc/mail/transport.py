"""The small contract every transport keeps: one small class per way of sending.

A transport parses its own configuration when it sends (so a changed secret applies at once),
and either returns a `Delivery` or raises `TransportError` whose text is already sanitized
(no credential, no raw server text that could echo one) and which says whether trying again
later can help (`permanent=False`), a human must change something (`permanent=True`), or the
mail may already be on its way (`ambiguous=True`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from appsrc.mail.message import OutgoingMessage


class TransportError(Exception):
    """`ambiguous`: the mail was handed over but never confirmed (a timeout or a dropped
    connection after the data went out), so it may have been delivered. The mailer then stops
    instead of trying another transport, which could deliver it a second time."""

    def __init__(self, message: str, *, permanent: bool, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous

    @property
    def kind(self) -> str:
        return "ambiguous" if self.ambiguous else "permanent" if self.permanent else "transient"


class TransportNotConfigured(TransportError):
    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class Delivery:
    transport: str
    sender: str
    note: str | None = None  # e.g. some recipients refused while others accepted


class Transport(Protocol):
    name: str

    def configured(self) -> bool:
        """Whether this transport has a configuration to try (cheap; no network)."""

    def send(self, message: OutgoingMessage, now: datetime) -> Delivery:
        """Deliver to exactly `message.to`, or raise TransportError."""
