"""The one direction rule: an email is outbound iff its sender is one of the team's mailboxes.

Decided per email, not per mailbox: a teammate's reply seen in a colleague's inbox is still the
team writing out. The digest's per-member lines speak of a mailbox's own view instead ("sent" or
"received", from Gmail's SENT label); that is a different question and does not use this rule.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, Literal

Direction = Literal["inbound", "outbound"]
INBOUND: Final = "inbound"
OUTBOUND: Final = "outbound"
DIRECTIONS: Final = (INBOUND, OUTBOUND)


def direction_of(from_email: str | None, own_addresses: Collection[str]) -> Direction:
    """Outbound when `from_email` is one of `own_addresses` (the team's mailboxes), else inbound."""
    return OUTBOUND if from_email in own_addresses else INBOUND


def is_direction(value: object) -> bool:
    return value in DIRECTIONS
