"""What every read model shares: id checks, the page size bound, opaque cursors, timestamps."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from peewee import Expression, Node

from appsrc.matching.direction import DIRECTIONS, OUTBOUND, is_direction
from appsrc.store.models import EmailAccount

__all__ = [
    "DIRECTIONS",
    "MAX_ID",
    "MAX_LIMIT",
    "OUTBOUND_SQL",
    "QueryError",
    "check_ids",
    "check_direction",
    "decode_cursor",
    "encode_cursor",
    "is_row_id",
    "iso",
    "own_mailbox_addresses",
    "sent_by_team",
]

MAX_LIMIT = 200
# Row ids are 1..2^63-1: the largest integer SQLite and PostgreSQL's bigint hold. A bigger one
# cannot even be bound as a query parameter (the driver raises instead of finding nothing).
MAX_ID = 2**63 - 1


class QueryError(ValueError):
    """A caller's argument no query can answer; `field` names it, for the API's error body."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def is_row_id(value: object) -> bool:
    """A JSON/Python integer (not a bool) a row id can have."""
    return type(value) is int and 1 <= value <= MAX_ID


def check_ids(**ids: object) -> None:
    """Filter ids given by callers: None or a row id, else QueryError naming the argument."""
    for name, value in ids.items():
        if value is not None and not is_row_id(value):
            raise QueryError(f"{name} must be an id between 1 and {MAX_ID}", name)


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise QueryError("cursor is not one this API returned", "cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise QueryError("cursor is not one this API returned", "cursor")
    return values


def iso(value: datetime | None) -> str | None:
    """A stored UTC datetime as the API writes it (`...Z`)."""
    return value.isoformat().replace("+00:00", "Z") if value else None


# -- the direction rule (`appsrc.matching.direction`) in SQL ------------------------------------
# Outbound iff the sender is one of the team's mailboxes. Both forms read the mailbox table, so
# they can never disagree with `direction_of(from_email, own_mailbox_addresses())`.
OUTBOUND_SQL = "{sender} IN (SELECT address FROM email_account)"


def own_mailbox_addresses() -> frozenset[str]:
    """The team's mailbox addresses: the "own" side of the direction rule."""
    return frozenset(a.lower() for (a,) in EmailAccount.select(EmailAccount.address).tuples())


def sent_by_team(sender: Node) -> Expression:
    """Peewee condition: the email whose sender column is `sender` is outbound."""
    return sender.in_(EmailAccount.select(EmailAccount.address))


def sent_by_team_named(sender: Node) -> Expression:
    """As `sent_by_team`, with the team's addresses written out: PostgreSQL's planner then sees
    from the sender column's statistics how much of the mail is ours (a subquery hides it)."""
    return sender.in_(sorted(a for (a,) in EmailAccount.select(EmailAccount.address).tuples()))


def check_direction(direction: object) -> None:
    if direction not in (None, "") and not is_direction(direction):
        raise QueryError("direction must be inbound or outbound", "direction")


def wants_outbound(direction: str) -> bool:
    return direction == OUTBOUND
