"""Idempotent writes of captured mail, and the sync state they travel with.

Every function here runs inside one transaction together with the mailbox's cursor update, so a
crash at any point leaves either the whole batch and its cursor, or neither: a resumed sync
re-lists at most one page and writes nothing twice (one `Email` per dedupe key, one sighting per
(mailbox, Gmail id)).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from peewee import Case, chunked, fn

from appsrc.matching.matcher import Link, Match, Proposal, match_key
from appsrc.store.db import database
from appsrc.store.fields import JSONField, UTCDateTimeField
from appsrc.store.models import (
    ActivityProposal,
    BareParticipant,
    BareSighting,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    EmailParticipant,
    PendingFetch,
    SkippedMessage,
)

# Reasons a listed message is not stored. Those in RECONSIDER are fetched again if Gmail later
# lists the message normally (taken out of the trash; a processing error after an upgrade).
SKIP_REASONS = ("internal", "excluded", "unparseable", "spam_trash_chat", "draft", "gone", "error")
RECONSIDER = ("spam_trash_chat", "error")
MAX_KEY = 200


@dataclass(frozen=True)
class EmailRecord:
    """An email as the capture side hands it to the store (already parsed and matched)."""

    message_id: str | None
    fingerprint: str
    fallback_key: str  # the content key, for an email without a Message-ID ("" otherwise)
    row: dict[str, Any]  # Email columns other than the keys
    participants: tuple[tuple[str, str], ...]  # (role, address)
    match: Match

    @property
    def dedupe_key(self) -> str:
        return message_key(self.message_id) if self.message_id else self.fallback_key

    @property
    def thread_root(self) -> str:
        """The conversation this email belongs to, from its own headers: the first message of
        References (the thread's root), else the one it replies to, else itself."""
        references = self.row.get("references") or ()
        root = references[0] if references else self.row.get("in_reply_to")
        return message_key(root) if root else self.dedupe_key


def message_key(message_id: str) -> str:
    """A Message-ID as the store keys it (`email.dedupe_key` and `email.thread_key`)."""
    if len(message_id) + 4 <= MAX_KEY:
        return "mid:" + message_id
    return "mid#" + hashlib.sha256(message_id.encode()).hexdigest()


@dataclass(frozen=True)
class Sighting:
    gmail_id: str
    thread_id: str
    label_ids: tuple[str, ...]
    internal_date: datetime | None
    email: EmailRecord


@dataclass(frozen=True)
class BareRecord:
    """An email outside the capture scope as one mailbox holds it: who and when, never what."""

    gmail_id: str
    thread_id: str
    sent_at: datetime
    participants: tuple[tuple[str, str], ...]  # (role, address)


@dataclass
class BatchWrite:
    """Everything one fetched batch changes for one mailbox, applied atomically."""

    sightings: list[Sighting] = field(default_factory=list)
    bare: list[BareRecord] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (gmail_id, reason, detail)
    failed: dict[str, str] = field(default_factory=dict)  # gmail_id -> error
    account_updates: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteCounts:
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    new_emails: int = 0
    proposals: int = 0
    bare: int = 0


def apply_batch(account_id: int, generation: int, batch: BatchWrite, now: datetime) -> WriteCounts:
    with database.atomic():
        counts = _apply(account_id, generation, batch, now)
        updates = dict(batch.account_updates)
        updates.update(
            {
                EmailAccount.stored_count: EmailAccount.stored_count + counts.stored,
                EmailAccount.skipped_count: EmailAccount.skipped_count + counts.skipped,
                EmailAccount.failed_count: (
                    PendingFetch.select(fn.COUNT(PendingFetch.id)).where(PendingFetch.account == account_id)
                ),
            }
        )
        EmailAccount.update(updates).where(EmailAccount.id == account_id).execute()
    return counts


def _apply(account_id: int, generation: int, batch: BatchWrite, now: datetime) -> WriteCounts:
    counts = WriteCounts()
    ids = [s.gmail_id for s in batch.sightings] + [g for g, _, _ in batch.skipped]
    known_sightings = _existing(EmailAccountMessage, account_id, ids + [b.gmail_id for b in batch.bare])
    known_skips = _existing(SkippedMessage, account_id, ids)

    new_sightings = [s for s in batch.sightings if s.gmail_id not in known_sightings]
    email_ids = _upsert_emails([s.email for s in new_sightings], now, counts)
    rows = []
    for sighting in new_sightings:
        rows.append(
            {
                "account_id": account_id,
                "email_id": email_ids[sighting.email.dedupe_key, sighting.email.fingerprint],
                "gmail_id": sighting.gmail_id,
                "gmail_thread_id": sighting.thread_id,
                "label_ids": list(sighting.label_ids),
                "is_sent": "SENT" in sighting.label_ids,
                "internal_date": sighting.internal_date,
                "seen_generation": generation,
                "created_at": now,
            }
        )
    _insert_many(EmailAccountMessage, rows)
    counts.stored = len(rows)
    # A message stored now that was skipped before (e.g. taken out of the trash).
    revived = [s.gmail_id for s in new_sightings if s.gmail_id in known_skips]
    if revived:
        counts.skipped -= _delete_ids(SkippedMessage, account_id, revived)

    skip_rows = [
        {
            "account_id": account_id,
            "gmail_id": gmail_id,
            "reason": reason,
            "detail": detail[:500],
            "seen_generation": generation,
            "created_at": now,
        }
        for gmail_id, reason, detail in {g: (g, r, d) for g, r, d in batch.skipped}.values()
        if gmail_id not in known_skips and gmail_id not in known_sightings
    ]
    _insert_many(SkippedMessage, skip_rows)
    counts.skipped += len(skip_rows)

    # A bare sighting fetched again (it matches now, or the scope became `all`) is replaced by
    # what it turned into; one fetched again that is still out of scope stays bare.
    if ids and has_bare(account_id):
        _delete_ids(BareSighting, account_id, ids)
    counts.bare = _write_bare(account_id, generation, [b for b in batch.bare if b.gmail_id not in known_sightings], now)
    if batch.failed and has_bare(account_id):
        clear_refetch(account_id, list(batch.failed))  # retried as a pending fetch instead

    done = ids + [b.gmail_id for b in batch.bare]
    _delete_ids(PendingFetch, account_id, done)
    for gmail_id, error in batch.failed.items():
        (
            PendingFetch.insert(
                account=account_id,
                gmail_id=gmail_id,
                attempts=1,
                last_error=error[:500],
                created_at=now,
                updated_at=now,
            )
            .on_conflict(
                conflict_target=[PendingFetch.account, PendingFetch.gmail_id],
                update={
                    PendingFetch.attempts: PendingFetch.attempts + 1,
                    PendingFetch.last_error: error[:500],
                    PendingFetch.updated_at: now,
                },
            )
            .execute()
        )
    counts.failed = len(batch.failed)
    return counts


def has_bare(account_id: int) -> bool:
    return BareSighting.select().where(BareSighting.account == account_id).exists()


def _write_bare(account_id: int, generation: int, records: list[BareRecord], now: datetime) -> int:
    """Insert new bare sightings with their participants; one already held is marked seen and
    taken off the refetch queue. Returns how many are new."""
    if not records:
        return 0
    unique = list({r.gmail_id: r for r in records}.values())
    inserted = _insert_many(
        BareSighting,
        [
            {
                "account_id": account_id,
                "gmail_id": r.gmail_id,
                "gmail_thread_id": r.thread_id,
                "sent_at": r.sent_at,
                "seen_generation": generation,
                "refetch_requested_at": None,
                "created_at": now,
            }
            for r in unique
        ],
        ignore_conflicts=True,
        returning=("id", "gmail_id"),
    )
    new = {gmail_id: row_id for row_id, gmail_id in inserted}
    _insert_many(
        BareParticipant,
        [
            {
                "sighting_id": new[r.gmail_id],
                "address": address,
                "match_key": match_key(address),
                "domain": address.rpartition("@")[2],
                "role": role,
            }
            for r in unique
            if r.gmail_id in new
            for role, address in dict.fromkeys(r.participants)
        ],
        ignore_conflicts=True,
    )
    held = [r.gmail_id for r in unique if r.gmail_id not in new]
    for chunk in chunked(held, 500):
        BareSighting.update(refetch_requested_at=None, seen_generation=generation).where(
            (BareSighting.account == account_id) & BareSighting.gmail_id.in_(chunk)
        ).execute()
    return len(new)


def clear_refetch(account_id: int, gmail_ids: Sequence[str]) -> None:
    for chunk in chunked(list(set(gmail_ids)), 500):
        BareSighting.update(refetch_requested_at=None).where(
            (BareSighting.account == account_id) & BareSighting.gmail_id.in_(chunk)
        ).execute()


# -- raw inserts on the hot path ----------------------------------------------------------------
# Building each INSERT through peewee's query compiler cost several times the SQLite work itself
# (bench/capture.py; docs/performance.md); the hot path uses these parameterized statements instead, with each value
# converted by its field's own db_value so the stored form is identical.
#
# Rows go many to a statement, never one statement per row (executemany): an INSERT whose trigger
# writes the FTS5 search index (m0002) runs in a statement savepoint, and FTS5 flushes its pending
# terms to a new on-disk segment at every savepoint, so row-at-a-time inserts made the index
# several times dearer. Emails are also inserted oldest first (see `_upsert_emails`): FTS5 flushes as well when
# a rowid (the time key) is lower than the one before it.
#
# Statements come in power-of-two sizes: SQLite keeps every prepared statement in the
# connection's cache, sized by the rows it binds, and a size per batch length would hold many MB.
MAX_PARAMS = 30_000  # under SQLite's bound-variable limit (32,766)
MAX_ROWS_PER_STATEMENT = 256


def statement_sizes(rows: int, most: int) -> list[int]:
    """`rows` split into powers of two of at most `most` (at least 1), largest first."""
    largest = 1 << (max(1, most).bit_length() - 1)
    sizes = []
    while rows:
        size = largest
        while size > rows:
            size //= 2
        sizes.append(size)
        rows -= size
    return sizes


@lru_cache(maxsize=256)
def _insert_sql(
    model, columns: tuple[str, ...], rows: int, ignore_conflicts: bool, returning: tuple[str, ...], param: str
) -> str:
    row = f"({', '.join([param] * len(columns))})"
    sql = (
        f'INSERT INTO "{model._meta.table_name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
        f"VALUES {', '.join([row] * rows)}"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(chr(34) + c + chr(34) for c in returning)}"
    return sql


@lru_cache(maxsize=64)
def _converters(model, columns: tuple[str, ...]) -> tuple:
    """Per column, the field's db_value where it changes the value (JSON, UTC datetimes), else
    None: plain strings, numbers and booleans go to the driver as they are."""
    fields = model._meta.columns
    return tuple(fields[c].db_value if isinstance(fields[c], (JSONField, UTCDateTimeField)) else None for c in columns)


def _insert_many(
    model, rows: list[dict], *, ignore_conflicts: bool = False, returning: tuple[str, ...] = ()
) -> list[tuple]:
    """Insert `rows` (dicts with the same keys); the `returning` columns of the rows inserted
    (not of those a conflict skipped), in no particular order."""
    if not rows:
        return []
    columns = tuple(rows[0])
    values_of = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    converters = [(i, convert) for i, convert in enumerate(_converters(model, columns)) if convert is not None]
    cursor = database.cursor()
    written = []
    start = 0
    for size in statement_sizes(len(rows), min(MAX_ROWS_PER_STATEMENT, MAX_PARAMS // len(columns))):
        chunk = rows[start : start + size]
        start += size
        values: list[Any] = []
        for row in chunk:
            row_values = values_of(row)
            if converters:
                row_values = list(row_values)
                for i, convert in converters:
                    row_values[i] = convert(row_values[i])
            values.extend(row_values)
        cursor.execute(_insert_sql(model, columns, len(chunk), ignore_conflicts, returning, database.param), values)
        if returning:
            written.extend(cursor.fetchall())
    return written


def _in_list(count: int) -> str:
    return "(" + ", ".join([database.param] * count) + ")"


def _existing(model, account_id: int, gmail_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    table = model._meta.table_name
    for chunk in chunked(list(set(gmail_ids)), 500):
        cursor = database.execute_sql(
            f'SELECT gmail_id FROM "{table}" WHERE account_id = {database.param} '
            f"AND gmail_id IN {_in_list(len(chunk))}",
            [account_id, *chunk],
        )
        found.update(gid for (gid,) in cursor.fetchall())
    return found


def _delete_ids(model, account_id: int, gmail_ids: Sequence[str]) -> int:
    deleted = 0
    table = model._meta.table_name
    for chunk in chunked(list(set(gmail_ids)), 500):
        deleted += database.execute_sql(
            f'DELETE FROM "{table}" WHERE account_id = {database.param} AND gmail_id IN {_in_list(len(chunk))}',
            [account_id, *chunk],
        ).rowcount
    return deleted


def _upsert_emails(records: list[EmailRecord], now: datetime, counts: WriteCounts) -> dict[tuple[str, str], int]:
    """Email ids for `records`, inserting the ones never seen in any mailbox.

    Two different emails may share a Message-ID (broken mailers): when the stored one's Date
    differs, the newcomer gets its own key, `mid:<id>#<date hash>`, instead of being merged.
    New emails, their participants, links and proposals are each written with one statement.
    """
    existing = _emails_by_key({r.dedupe_key for r in records})
    slots: dict[tuple[str, str], str] = {}  # (dedupe key, fingerprint) -> the key it is stored under
    new: dict[str, EmailRecord] = {}
    for record in records:
        slot = (record.dedupe_key, record.fingerprint)
        if slot in slots:
            continue
        key = record.dedupe_key
        stored = existing[key][1] if key in existing else new[key].fingerprint if key in new else ""
        if stored and record.fingerprint and stored != record.fingerprint:
            key = f"{key}#{hashlib.sha1(record.fingerprint.encode()).hexdigest()[:16]}"
            existing.update(_emails_by_key({key}))
        slots[slot] = key
        if key not in existing and key not in new:
            new[key] = record
    if new:
        ordered = sorted(new.items(), key=_sent_at)
        thread_keys = _thread_keys(ordered)
        # Another mailbox's sync may store the same email concurrently (PostgreSQL does not
        # serialize writers like SQLite): the loser's insert yields to the winner's row, and
        # the describing rows below are idempotent too.
        inserted = _insert_many(
            Email,
            [
                {
                    "dedupe_key": key,
                    "fingerprint": r.fingerprint,
                    "message_id": r.message_id,
                    "thread_key": thread_keys[key],
                    "captured_at": now,
                    **r.row,
                }
                for key, r in ordered
            ],
            ignore_conflicts=True,
            returning=("id", "dedupe_key"),
        )
        existing.update((key, (email_id, new[key].fingerprint)) for email_id, key in inserted)
        if len(inserted) < len(new):  # the winner's rows
            existing.update(_emails_by_key(set(new) - {key for _, key in inserted}))
        counts.new_emails += len(new)
        counts.proposals += _describe([(existing[key][0], r) for key, r in new.items()], now)
    return {slot: existing[key][0] for slot, key in slots.items()}


def _sent_at(item: tuple[str, EmailRecord]) -> datetime:
    return item[1].row["sent_at"]


def _thread_keys(ordered: list[tuple[str, EmailRecord]]) -> dict[str, str]:
    """Each new email's conversation key (`email.thread_key`), oldest first: its root's, when
    the root is stored (or earlier in this batch) under a key of its own, else the root itself.
    A reply whose References lack the true root (some clients keep only the parent) so joins
    its parent's conversation; one indexed read per batch."""
    roots = {key: record.thread_root for key, record in ordered}
    stored: dict[str, str] = {}
    for chunk in chunked(list({root for key, root in roots.items() if root != key}), 500):
        cursor = database.execute_sql(
            f"SELECT dedupe_key, thread_key FROM email WHERE dedupe_key IN {_in_list(len(chunk))}", chunk
        )
        stored.update((key, thread_key) for key, thread_key in cursor.fetchall() if thread_key)
    keys: dict[str, str] = {}
    for key, _record in ordered:
        root = roots[key]
        keys[key] = keys.get(root) or stored.get(root) or root
    return keys


def _emails_by_key(keys: set[str]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for chunk in chunked(list(keys), 500):
        cursor = database.execute_sql(
            f"SELECT id, dedupe_key, fingerprint FROM email WHERE dedupe_key IN {_in_list(len(chunk))}", chunk
        )
        for row_id, key, fingerprint in cursor.fetchall():
            found[key] = (row_id, fingerprint)
    return found


def _describe(emails: list[tuple[int, EmailRecord]], now: datetime) -> int:
    """Participants, investor links and proposals of newly stored emails; returns proposals."""
    _insert_many(
        EmailParticipant,
        [
            {
                "email_id": email_id,
                "address": address,
                "match_key": match_key(address),
                "domain": address.rpartition("@")[2],
                "role": role,
            }
            for email_id, record in emails
            for role, address in dict.fromkeys(record.participants)
        ],
        ignore_conflicts=True,
    )
    return sum(_link_many([(email_id, record.match) for email_id, record in emails], now))


def _link_many(matches: list[tuple[int, Match]], now: datetime | None) -> list[int]:
    _insert_many(
        EmailInvestorLink,
        [
            {
                "email_id": email_id,
                "investor_id": link.investor_id,
                "contact_id": link.contact_id,
                "matched_address": link.address,
            }
            for email_id, result in matches
            for link in result.links
        ],
        ignore_conflicts=True,
    )
    _insert_many(
        ActivityProposal,
        [
            {
                "email_id": email_id,
                "investor_id": p.investor_id,
                "contact_id": p.contact_id,
                "address": p.address,
                "target_key": p.target_key,
                "kind": p.kind,
                "status": "pending",
                "created_at": now,
            }
            for email_id, result in matches
            for p in result.proposals
        ],
        ignore_conflicts=True,
    )
    return [len(result.proposals) for _, result in matches]


def uncount_sightings(account_ids: Iterable[int], *, stored: bool, skipped: bool) -> None:
    """Sightings taken out of their mailboxes (one account id per sighting): off the stored count
    when they were stored in full, onto the skipped count when a skip record now stands for them,
    so each mailbox's counters keep adding up to what Gmail listed."""
    for account_id, count in Counter(account_ids).items():
        updates: dict[Any, Any] = {}
        if stored:
            updates[EmailAccount.stored_count] = Case(
                None, [(EmailAccount.stored_count >= count, EmailAccount.stored_count - count)], 0
            )
        if skipped:
            updates[EmailAccount.skipped_count] = EmailAccount.skipped_count + count
        if updates:
            EmailAccount.update(updates).where(EmailAccount.id == account_id).execute()


# -- incremental changes ------------------------------------------------------------------------
def known_ids(account_id: int, gmail_ids: Sequence[str]) -> set[str]:
    """Ids this mailbox already accounts for (stored in full or bare, or skipped for a lasting
    reason)."""
    known = _existing(EmailAccountMessage, account_id, gmail_ids)
    if has_bare(account_id):
        known |= _existing(BareSighting, account_id, list(set(gmail_ids) - known))
    for chunk in chunked(list(set(gmail_ids) - known), 500):
        known.update(
            gid
            for (gid,) in SkippedMessage.select(SkippedMessage.gmail_id)
            .where(
                (SkippedMessage.account == account_id)
                & SkippedMessage.gmail_id.in_(chunk)
                & SkippedMessage.reason.not_in(RECONSIDER)
            )
            .tuples()
        )
    return known


def mark_seen(account_id: int, generation: int, gmail_ids: Sequence[str]) -> None:
    """A full listing saw these known messages: they are live in this mailbox."""
    for chunk in chunked(list(set(gmail_ids)), 500):
        (
            EmailAccountMessage.update(seen_generation=generation, deleted_at=None)
            .where((EmailAccountMessage.account == account_id) & EmailAccountMessage.gmail_id.in_(chunk))
            .execute()
        )
        (
            SkippedMessage.update(seen_generation=generation)
            .where((SkippedMessage.account == account_id) & SkippedMessage.gmail_id.in_(chunk))
            .execute()
        )
        (
            BareSighting.update(seen_generation=generation)
            .where((BareSighting.account == account_id) & BareSighting.gmail_id.in_(chunk))
            .execute()
        )


def set_deleted(account_id: int, gmail_ids: Sequence[str], when: datetime | None) -> int:
    """Soft-delete (when set) or revive (None) this mailbox's sightings of `gmail_ids`. A bare
    sighting deleted in Gmail is forgotten: if the message comes back, it is fetched again."""
    changed = 0
    if when is not None and gmail_ids and has_bare(account_id):
        _delete_ids(BareSighting, account_id, gmail_ids)
    for chunk in chunked(list(set(gmail_ids)), 500):
        query = EmailAccountMessage.update(deleted_at=when).where(
            (EmailAccountMessage.account == account_id) & EmailAccountMessage.gmail_id.in_(chunk)
        )
        query = query.where(EmailAccountMessage.deleted_at.is_null(when is not None))
        changed += query.execute()
    return changed


def set_labels(account_id: int, labels_by_id: dict[str, list[str]]) -> None:
    for gmail_id, labels in labels_by_id.items():
        (
            EmailAccountMessage.update(label_ids=sorted(labels), is_sent="SENT" in labels)
            .where((EmailAccountMessage.account == account_id) & (EmailAccountMessage.gmail_id == gmail_id))
            .execute()
        )


def reconcile_full_sync(account_id: int, generation: int, now: datetime) -> int:
    """After a full listing: sightings it did not see are gone from the mailbox."""
    BareSighting.delete().where(
        (BareSighting.account == account_id) & (BareSighting.seen_generation < generation)
    ).execute()
    return (
        EmailAccountMessage.update(deleted_at=now)
        .where(
            (EmailAccountMessage.account == account_id)
            & (EmailAccountMessage.seen_generation < generation)
            & EmailAccountMessage.deleted_at.is_null()
        )
        .execute()
    )


def pending_fetch_ids(account_id: int, limit: int = 500) -> list[str]:
    return [
        gid
        for (gid,) in PendingFetch.select(PendingFetch.gmail_id)
        .where(PendingFetch.account == account_id)
        .order_by(PendingFetch.updated_at)
        .limit(limit)
        .tuples()
    ]


# -- link state, for the CRM's rematch (`appsrc.crm.rematch`) ------------------------------------
@dataclass
class LinkState:
    """What the store holds for a few emails: the inputs and outputs of matching them."""

    facts: list[tuple[int, bool, datetime]]  # (email id, is_bulk, sent_at)
    participants: dict[int, list[tuple[str, str]]]  # email id -> [(role, address)]
    links: dict[int, dict[int, tuple[int | None, str]]]  # email id -> investor id -> (contact id, address)
    proposals: dict[int, dict[str, tuple[str, str, int]]]  # email id -> target key -> (status, kind, investor)


def email_id_batches(email_ids: Iterable[int] | None, size: int = 500) -> Iterator[list[int]]:
    """The ids given (or every email's, in id order) in batches of at most `size`."""
    if email_ids is not None:
        yield from chunked(sorted(set(email_ids)), size)
        return
    last = 0
    while True:
        ids = [i for (i,) in Email.select(Email.id).where(Email.id > last).order_by(Email.id).limit(size).tuples()]
        if not ids:
            return
        yield ids
        last = ids[-1]


def link_state(email_ids: Sequence[int]) -> LinkState:
    """Read with plain parameterized statements: a rematch reads this for every email it
    touches, and peewee's query building and row conversion cost several times the SQL."""
    ids = sorted(set(email_ids))
    if not ids:
        return LinkState([], {}, {}, {})
    marks = _in_list(len(ids))
    sent_at = Email.sent_at.python_value
    rows = database.execute_sql(f"SELECT id, is_bulk, sent_at FROM email WHERE id IN {marks} ORDER BY id", ids)
    facts = [(i, bool(bulk), sent_at(when)) for i, bulk, when in rows.fetchall()]
    state = LinkState(facts, {i: [] for i, _, _ in facts}, {i: {} for i, _, _ in facts}, {i: {} for i, _, _ in facts})
    rows = database.execute_sql(f"SELECT email_id, role, address FROM email_participant WHERE email_id IN {marks}", ids)
    for email_id, role, address in rows.fetchall():
        state.participants[email_id].append((role, address))
    rows = database.execute_sql(
        f"SELECT email_id, investor_id, contact_id, matched_address FROM email_investor_link WHERE email_id IN {marks}",
        ids,
    )
    for email_id, investor_id, contact_id, address in rows.fetchall():
        state.links[email_id][investor_id] = (contact_id, address)
    rows = database.execute_sql(
        f"SELECT email_id, target_key, status, kind, investor_id FROM activity_proposal WHERE email_id IN {marks}",
        ids,
    )
    for email_id, key, status, kind, investor_id in rows.fetchall():
        state.proposals[email_id][key] = (status, kind, investor_id)
    return state


def remove_links(email_id: int, investor_ids: Sequence[int]) -> None:
    EmailInvestorLink.delete().where(
        (EmailInvestorLink.email == email_id) & EmailInvestorLink.investor.in_(list(investor_ids))
    ).execute()


def add_links(email_id: int, links: Sequence[Link], now: datetime | None) -> None:
    _link_many([(email_id, Match("capture", tuple(links)))], now)


def remove_pending_proposals(email_id: int, target_keys: Sequence[str]) -> None:
    """Only pending ones: a decided proposal is history."""
    ActivityProposal.delete().where(
        (ActivityProposal.email == email_id)
        & (ActivityProposal.status == "pending")
        & ActivityProposal.target_key.in_(list(target_keys))
    ).execute()


def set_proposal(email_id: int, target_key: str, kind: str, investor_id: int) -> None:
    """A pending proposal's kind or investor changed (a graveyard return; a contact's move)."""
    ActivityProposal.update(kind=kind, investor=investor_id).where(
        (ActivityProposal.email == email_id) & (ActivityProposal.target_key == target_key)
    ).execute()


def add_proposals(email_id: int, proposals: Sequence[Proposal], now: datetime | None) -> int:
    return _link_many([(email_id, Match("capture", (), tuple(proposals)))], now)[0]


def emails_involving(addresses: Iterable[str] = (), domains: Iterable[str] = ()) -> set[int]:
    """Ids of emails with a participant at one of these addresses (compared by match key) or
    at one of these domains or their subdomains."""
    found: set[int] = set()
    for chunk in chunked(sorted({match_key(a) for a in addresses}), 500):
        found.update(
            i
            for (i,) in EmailParticipant.select(EmailParticipant.email)
            .where(EmailParticipant.match_key.in_(chunk))
            .tuples()
        )
    for domain in set(domains):
        found.update(
            i
            for (i,) in EmailParticipant.select(EmailParticipant.email)
            .where((EmailParticipant.domain == domain) | EmailParticipant.domain.endswith("." + domain))
            .tuples()
        )
    return found
