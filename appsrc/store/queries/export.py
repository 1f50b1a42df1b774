"""Activity as CSV, for Excel and the board pack: every page, streamed, safe to open.

The same read models as the API (`email_activity`, `activity_timeline`) walked page by page
through their cursors, so an export of any size holds one page in memory. The first page is read
before anything is sent: bad filters are a clear 400, never a half-written file. Text starts with
a byte-order mark (Excel then reads UTF-8), and a cell that a spreadsheet would run as a formula
(it starts with =, +, -, @, a tab or a carriage return) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, Unpack

from appsrc.store.queries.activity import FilterArgs, email_activity
from appsrc.store.queries.common import MAX_LIMIT
from appsrc.store.queries.investors import activity_timeline

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAGE = MAX_LIMIT

ACTIVITY_COLUMNS = (
    "sent_at",
    "direction",
    "from_name",
    "from_email",
    "subject",
    "investors",
    "mailboxes",
    "thread_id",
    "gmail_url",
    "email_id",
)
TIMELINE_COLUMNS = (
    "occurred_at",
    "kind",
    "direction",
    "investor",
    "contact",
    "summary",
    "note",
    "from_email",
    "email_id",
    "approved_by",
)


def safe_cell(value: Any) -> str:
    """The cell's text, neutralised if a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _activity_row(item: dict[str, Any]) -> list[Any]:
    return [
        item["sent_at"],
        item["direction"],
        item["from_name"],
        item["from_email"],
        item["subject"],
        "; ".join(i["name"] for i in item["investors"]),
        "; ".join(item["mailboxes"]),
        item["thread_id"],
        item["gmail_url"],
        item["email_id"],
    ]


def _timeline_row(item: dict[str, Any]) -> list[Any]:
    return [
        item["occurred_at"],
        item["kind"],
        item["direction"],
        item["investor_name"],
        item["contact_name"],
        item["summary"],
        item["note"],
        item["from_email"],
        item["email_id"],
        item["created_by"],
    ]


def _csv(
    columns: tuple[str, ...],
    read: Callable[[str | None], dict[str, Any]],
    to_row: Callable[[dict[str, Any]], list[Any]],
) -> Iterator[str]:
    first = read(None)  # read now: a bad filter raises before the response starts

    def chunks() -> Iterator[str]:
        page: dict[str, Any] | None = first
        header = True
        while page is not None:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            if header:
                buffer.write(BOM)
                writer.writerow(columns)
                header = False
            writer.writerows([safe_cell(v) for v in to_row(item)] for item in page["items"])
            yield buffer.getvalue()
            page = read(page["next_cursor"]) if page["next_cursor"] else None

    return chunks()


def activity_csv(**filters: Unpack[FilterArgs]) -> Iterator[str]:
    """Captured email matching the filters (those of `email_activity`), newest first, as CSV text
    chunks (a page each)."""
    return _csv(
        ACTIVITY_COLUMNS,
        lambda cursor: email_activity(**filters, limit=PAGE, cursor=cursor),
        _activity_row,
    )


def timeline_csv(*, investor_id: int | None = None, contact_id: int | None = None) -> Iterator[str]:
    """An investor's (or a contact's) approved activities, newest first, as CSV text chunks."""
    return _csv(
        TIMELINE_COLUMNS,
        lambda cursor: activity_timeline(investor_id=investor_id, contact_id=contact_id, limit=PAGE, cursor=cursor),
        _timeline_row,
    )
