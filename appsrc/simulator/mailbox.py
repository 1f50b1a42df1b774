"""One simulated Gmail mailbox: messages, threads, labels, history and list paging.

Not thread-safe on its own; `GmailSimulator` serialises access with its lock.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from . import mime
from .errors import ApiError, invalid, not_found

SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "CHAT",
    "IMPORTANT",
    "UNREAD",
    "STARRED",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
MAILBOX_STATUSES = ("active", "suspended", "unknown", "mail_disabled", "consumer")
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")

_THREAD_HEADERS = frozenset({"message-id", "in-reply-to", "references", "subject"})
_QUERY_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "chat": "CHAT",
    "chats": "CHAT",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
}


class StoredMessage:
    """One message as Gmail holds it; raw bytes are kept as-is (no parsed copies)."""

    __slots__ = (
        "gmail_id",
        "thread_id",
        "labels",
        "internal_date_ms",
        "raw",
        "history_id",
        "message_id",
        "_snippet",
    )

    def __init__(
        self,
        gmail_id: str,
        thread_id: str,
        labels: tuple[str, ...],
        internal_date_ms: int,
        raw: bytes,
        history_id: int,
        message_id: str | None,
    ) -> None:
        self.gmail_id: str = gmail_id
        self.thread_id: str = thread_id
        self.labels: tuple[str, ...] = labels
        self.internal_date_ms: int = internal_date_ms
        self.raw: bytes = raw
        self.history_id: int = history_id
        self.message_id: str | None = message_id
        self._snippet: str | None = None

    @property
    def snippet(self) -> str:
        """Parsed lazily: most benchmark messages are listed far more often than read."""
        if self._snippet is None:
            self._snippet = mime.snippet(self.raw)
        return self._snippet

    @property
    def order_key(self) -> tuple[int, int]:
        """Ascending key for newest-first listing."""
        return (-self.internal_date_ms, -int(self.gmail_id, 16))


class HistoryRecord(NamedTuple):
    id: int
    kind: str
    gmail_id: str
    thread_id: str
    labels: tuple[str, ...]
    changed: tuple[str, ...]
    time: float


class HistoryLog:
    """Change records with a retention horizon: Gmail forgets old history and answers 404."""

    def __init__(self, start_id: int):
        self._records: list[HistoryRecord] = []
        self._first = 0
        self.current = start_id
        self.floor = start_id

    def append(self, kind, message: StoredMessage, changed, now: float) -> int:
        self.current += 1
        self._records.append(
            HistoryRecord(self.current, kind, message.gmail_id, message.thread_id, message.labels, tuple(changed), now)
        )
        return self.current

    def trim(self, keep_last: int | None, max_age_s: float | None, now: float) -> None:
        """Drop records beyond the horizon and raise the oldest answerable startHistoryId."""
        end = len(self._records)
        drop_to = self._first
        if keep_last is not None:
            drop_to = max(drop_to, end - keep_last)
        if max_age_s is not None:
            while drop_to < end and self._records[drop_to].time < now - max_age_s:
                drop_to += 1
        if drop_to > self._first:
            self.floor = self._records[drop_to - 1].id
            self._first = drop_to
            if self._first > 1024 and self._first * 2 > end:
                del self._records[: self._first]
                self._first = 0

    def expire(self) -> None:
        self._first = len(self._records)
        self.floor = self.current

    def after(self, history_id: int) -> Iterable[HistoryRecord]:
        start = bisect.bisect_right(self._records, history_id, lo=self._first, key=lambda r: r.id)
        return (self._records[i] for i in range(start, len(self._records)))


@dataclass(frozen=True)
class ListFilter:
    """What messages.list selects: labelIds, includeSpamTrash and a small `q` subset."""

    required: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    include_spam_trash: bool = False
    after_ms: int | None = None
    before_ms: int | None = None
    larger_than: int | None = None  # bytes of the whole message (Gmail's `larger:` / `size:`)
    smaller_than: int | None = None
    message_id: str | None = None  # Gmail's `rfc822msgid:`, lower-case and without brackets

    def accepts(self, message: StoredMessage) -> bool:
        labels = message.labels
        if not self.include_spam_trash:
            for hidden in ("SPAM", "TRASH"):
                if hidden in labels and hidden not in self.required:
                    return False
        if "DRAFT" in labels and "DRAFT" not in self.required:
            return False
        if any(label not in labels for label in self.required):
            return False
        if any(label in labels for label in self.excluded):
            return False
        if self.after_ms is not None and message.internal_date_ms < self.after_ms:
            return False
        if self.larger_than is not None and len(message.raw) <= self.larger_than:
            return False
        if self.smaller_than is not None and len(message.raw) >= self.smaller_than:
            return False
        if self.message_id is not None and (message.message_id or "").strip("<>").lower() != self.message_id:
            return False
        return self.before_ms is None or message.internal_date_ms < self.before_ms


def _query_time_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    try:
        return calendar.timegm(time.strptime(value.replace("-", "/"), "%Y/%m/%d")) * 1000
    except ValueError:
        raise invalid(f"Invalid date in query: {value}") from None


def _query_size(value: str) -> int:
    """`larger:10M`, `smaller:500K`, `larger:1000000`: bytes (Gmail's K and M are 1024-based)."""
    number, unit = (value[:-1], value[-1]) if value[-1:] in ("k", "m") else (value, "")
    if not number.isdigit():
        raise invalid(f"Invalid size in query: {value}")
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def build_filter(label_ids: list[str], include_spam_trash: bool, query: str, now: float) -> ListFilter:
    """Translate list parameters; unsupported `q` terms fail loudly instead of matching all.

    Real Gmail would run them as full-text search. Answering 400 makes a client's use of
    an unsupported term visible in tests rather than silently returning everything.
    Dates are interpreted in UTC.
    """
    required = {label.upper() if label.upper() in SYSTEM_LABELS else label for label in label_ids}
    excluded: set[str] = set()
    after_ms = before_ms = larger_than = smaller_than = message_id = None
    for term in query.split():
        negated = term.startswith("-")
        key, _, value = term.lstrip("-").partition(":")
        key, value = key.lower(), value.lower()
        if key == "in" and value == "anywhere" and not negated:
            include_spam_trash = True
            continue
        if key in ("in", "label", "is", "category") and value:
            if key == "is" and value == "read":
                label, negated = "UNREAD", not negated
            elif key == "category":
                label = f"CATEGORY_{value.upper()}"
            else:
                label = _QUERY_LABELS.get(value, value.upper())
            (excluded if negated else required).add(label)
            if label in ("SPAM", "TRASH") and not negated:
                include_spam_trash = True
        elif key in ("after", "before") and value and not negated:
            if key == "after":
                after_ms = _query_time_ms(value)
            else:
                before_ms = _query_time_ms(value)
        elif key in ("larger", "size") and value and not negated:
            larger_than = _query_size(value)
        elif key == "smaller" and value and not negated:
            smaller_than = _query_size(value)
        elif key == "rfc822msgid" and value and not negated:
            message_id = value.strip("<>")
        elif key == "newer_than" and value[:-1].isdigit() and value[-1:] in "dmy" and not negated:
            days = int(value[:-1]) * {"d": 1, "m": 31, "y": 366}[value[-1]]
            after_ms = int((now - days * 86400) * 1000)
        else:
            raise invalid(f"Unsupported search term in the simulator: {term}")
    return ListFilter(
        frozenset(required),
        frozenset(excluded),
        include_spam_trash,
        after_ms,
        before_ms,
        larger_than,
        smaller_than,
        message_id,
    )


def _encode_token(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def _decode_token(token: str, count: int) -> list[int]:
    try:
        parts = [int(p) for p in mime.b64url_decode(token).decode().split(":")]
    except (ValueError, UnicodeDecodeError):
        raise invalid("Invalid pageToken") from None
    if len(parts) != count:
        raise invalid("Invalid pageToken")
    return parts


class Mailbox:
    """Messages, threads and history of one address. Ids are per mailbox, like Gmail's."""

    def __init__(self, address: str, status: str):
        self.address = address
        self.status = status
        digest = hashlib.sha256(address.lower().encode()).digest()
        # 16 hex digits, starting like Gmail's ("18..."): a per-mailbox prefix plus a counter,
        # so the same email gets a different id in every mailbox.
        self._id_base = (0x18 << 56) | (int.from_bytes(digest[:5], "big") >> 4 << 20)
        self._next_seq = 1
        self.messages: dict[str, StoredMessage] = {}
        self._thread_of_message_id: dict[str, str] = {}
        self._thread_subject: dict[str, str] = {}
        self._thread_size: dict[str, int] = {}
        self.history = HistoryLog(1000 + int.from_bytes(digest[5:7], "big"))
        self._ordered: list[StoredMessage] | None = None
        self._estimate_cache: tuple[object, int] | None = None

    # -- writes -------------------------------------------------------------------------

    def _new_id(self) -> str:
        if self._next_seq >= 1 << 20:
            raise ApiError(400, "Simulator mailbox is full (1,048,575 messages).", "invalidArgument")
        value = self._id_base | self._next_seq
        self._next_seq += 1
        return format(value, "016x")

    def _changed(self) -> None:
        self._ordered = None
        self._estimate_cache = None

    def _thread_by_headers(self, headers: dict[str, str]) -> str | None:
        """Gmail threads a message into a conversation it references when the subject matches."""
        references = mime.message_ids(headers.get("in-reply-to")) + mime.message_ids(headers.get("references"))[::-1]
        subject = mime.thread_subject(headers.get("subject"))
        for reference in references:
            thread_id = self._thread_of_message_id.get(reference)
            if thread_id and self._thread_subject.get(thread_id) == subject:
                return thread_id
        return None

    def _thread_for_api_write(self, headers: dict[str, str], requested: str | None) -> str | None:
        """drafts.create/messages.send join a thread only with threadId, references and subject.

        This is Gmail's documented rule; a reply missing any of the three starts a new thread.
        """
        if not requested or requested not in self._thread_size:
            return None
        return requested if self._thread_by_headers(headers) == requested else None

    def add(
        self,
        raw: bytes,
        labels: Iterable[str],
        internal_date_ms: int,
        now: float,
        *,
        thread_id: str | None = None,
        requested_thread: str | None = None,
        api_write: bool = False,
    ) -> StoredMessage:
        headers = mime.scan_headers(raw, _THREAD_HEADERS)
        gmail_id = self._new_id()
        if thread_id is None:
            thread_id = (
                self._thread_for_api_write(headers, requested_thread) if api_write else self._thread_by_headers(headers)
            ) or gmail_id
        ids = mime.message_ids(headers.get("message-id"))
        message = StoredMessage(
            gmail_id, thread_id, tuple(dict.fromkeys(labels)), internal_date_ms, raw, 0, ids[0] if ids else None
        )
        self.messages[gmail_id] = message
        if message.message_id:
            self._thread_of_message_id.setdefault(message.message_id, thread_id)
        if thread_id not in self._thread_size:
            self._thread_subject[thread_id] = mime.thread_subject(headers.get("subject"))
        self._thread_size[thread_id] = self._thread_size.get(thread_id, 0) + 1
        message.history_id = self.history.append("messageAdded", message, (), now)
        self._changed()
        return message

    def get(self, gmail_id: str) -> StoredMessage:
        message = self.messages.get(gmail_id)
        if message is None:
            raise not_found()
        return message

    def remove(self, gmail_id: str, now: float) -> None:
        message = self.messages.pop(gmail_id, None)
        if message is None:
            raise not_found()
        remaining = self._thread_size[message.thread_id] - 1
        if remaining:
            self._thread_size[message.thread_id] = remaining
        else:
            del self._thread_size[message.thread_id]
        self.history.append("messageDeleted", message, (), now)
        self._changed()

    def change_labels(self, gmail_id: str, add: Iterable[str], remove: Iterable[str], now: float) -> None:
        """Each effective change gets its own history record, like Gmail's labelAdded/Removed."""
        message = self.get(gmail_id)
        added = [label for label in dict.fromkeys(add) if label not in message.labels]
        removed = [label for label in dict.fromkeys(remove) if label in message.labels]
        if added:
            message.labels = message.labels + tuple(added)
            message.history_id = self.history.append("labelAdded", message, added, now)
        if removed:
            message.labels = tuple(label for label in message.labels if label not in removed)
            message.history_id = self.history.append("labelRemoved", message, removed, now)
        if added or removed:
            self._changed()

    # -- reads --------------------------------------------------------------------------

    @property
    def threads_total(self) -> int:
        return len(self._thread_size)

    def _order(self) -> list[StoredMessage]:
        if self._ordered is None:
            self._ordered = sorted(self.messages.values(), key=lambda m: m.order_key)
        return self._ordered

    def list_page(self, selection: ListFilter, page_token: str | None, max_results: int):
        """One page, newest first. The token is a position, so paging survives new mail."""
        ordered = self._order()
        start = 0
        if page_token:
            date_key, id_key = _decode_token(page_token, 2)
            start = bisect.bisect_right(ordered, (date_key, id_key), key=lambda m: m.order_key)
        page: list[StoredMessage] = []
        next_token = None
        for message in (ordered[i] for i in range(start, len(ordered))):
            if not selection.accepts(message):
                continue
            if len(page) == max_results:
                last = page[-1].order_key
                next_token = _encode_token(*last)
                break
            page.append(message)
        return page, next_token, self._estimate(selection)

    def _estimate(self, selection: ListFilter) -> int:
        if self._estimate_cache is None or self._estimate_cache[0] != selection:
            count = sum(1 for m in self.messages.values() if selection.accepts(m))
            self._estimate_cache = (selection, count)
        return self._estimate_cache[1]

    def history_page(
        self,
        start_history_id: int,
        page_token: str | None,
        max_results: int,
        types: frozenset[str],
        label_id: str | None,
    ):
        """Scan up to `max_results` records; filtered-out records still use up the window,
        so a page can be empty yet carry a nextPageToken, as on Gmail."""
        cursor = _decode_token(page_token, 1)[0] if page_token else start_history_id
        if start_history_id < self.history.floor or cursor < self.history.floor:
            raise not_found()
        records: list[HistoryRecord] = []
        scanned = 0
        next_token = None
        for record in self.history.after(cursor):
            if scanned == max_results:
                next_token = _encode_token(cursor)
                break
            scanned += 1
            cursor = record.id
            if types and record.kind not in types:
                continue
            if label_id and label_id not in record.labels and label_id not in record.changed:
                continue
            records.append(record)
        return records, next_token

    def empty_page_token(self, start_history_id: int, page_token: str | None) -> str:
        """A token that resumes exactly where the given request would have started."""
        cursor = _decode_token(page_token, 1)[0] if page_token else start_history_id
        if start_history_id < self.history.floor or cursor < self.history.floor:
            raise not_found()
        return _encode_token(cursor)
