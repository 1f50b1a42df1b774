"""Mailbox sync: Gmail (through the remote) turned into idempotent writes to the store.

State machine per mailbox (explicit in `EmailAccount`):
- backfill: take the cursor from getProfile *before* listing, list pages (the page token saved
  after each page's messages are stored, so a restart resumes), fetch what is not yet known, then
  promote the cursor and catch up from history;
- incremental: apply history since the cursor (added, deleted, moved to/from TRASH or SPAM);
  the new cursor is saved only after everything it covers is stored;
- resync: an expired cursor (404) starts a new backfill *generation*; messages it lists are
  matched to existing sightings (nothing is duplicated) and sightings it no longer sees are
  marked deleted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from appsrc.capture.parser import ParsedEmail, UnparseableEmail, parse_email
from appsrc.clock import Clock
from appsrc.gmail.client import (
    LARGE_MESSAGE_BYTES,
    SMALL_MESSAGE_BYTES,
    GmailError,
    GmailRemote,
    GmailRemotes,
    HistoryExpired,
    RateLimited,
)
from appsrc.gmail.credentials import DelegationError
from appsrc.gmail.payload import raw_from_full_payload
from appsrc.matching.matcher import Directory, bulk_reason, match, returning_proposals
from appsrc.matching.scope import CapturePolicy
from appsrc.store import bare
from appsrc.store import capture as store
from appsrc.store.db import database
from appsrc.store.models import EmailAccount
from appsrc.store.queries.mailboxes import capturing_mailboxes

log = logging.getLogger(__name__)

KEEP_ALL = CapturePolicy()  # scope `all`, no exclusions of the owner's

# The rules a sync pass applies, loaded on first need: the directory and this mailbox's policy.
Rules = Callable[[], tuple[Directory, CapturePolicy]]

EXCLUDED_LABELS = frozenset({"SPAM", "TRASH", "CHAT"})
GONE_LABELS = frozenset({"SPAM", "TRASH"})  # a sighting with one of these is not live
PERMANENT_RETRY = timedelta(hours=1)  # a permanent error is re-probed slowly, never in a loop
MAX_DATE_SKEW = timedelta(days=2)
GROUP_WRITE = 250  # messages per write transaction during a backfill
GROUP_WRITE_S = 3.0  # ...or whatever arrived in this long, at Gmail's pace
REFETCH_CHUNK = 500  # bare sightings fetched again per step, between checks for a pause
SHUTDOWN = "interrupted by shutdown"
LEASE_LOST = "another worker took this mailbox over (this one's lease expired)"
NOT_CAPTURING = "not capturing: the mailbox is paused or removed, or its owner is deactivated"
MEMBER_EXCLUDED = "kept out by the mailbox's owner"  # names no address: the owner's choice is private


@dataclass
class SyncReport:
    address: str
    mode: str = "incremental"  # backfill | incremental | resync
    listed: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    new_emails: int = 0
    proposals: int = 0
    bare: int = 0
    refetched: int = 0
    deleted: int = 0
    restored: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None  # transient | permanent
    fix: str | None = None
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class SyncInterrupted(Exception):
    """The worker is stopping, or an admin paused the mailbox: everything stored so far is
    consistent and resumable."""


def capturing(account_id: int) -> bool:
    """Whether this mailbox may be synced now: not paused or removed, and its owner active."""
    return capturing_mailboxes().where(EmailAccount.id == account_id).exists()


class MailboxSync:
    """Syncs one mailbox per call; safe to run for different mailboxes on different threads."""

    def __init__(
        self,
        remotes: GmailRemotes,
        clock: Clock,
        load_directory: Callable[[], Directory],
        *,
        load_policy: Callable[[int], CapturePolicy] = bare.capture_policy,
        max_body_chars: int = 20_000,
    ) -> None:
        self._remotes = remotes
        self._clock = clock
        self._load_directory = load_directory
        self._load_policy = load_policy
        self._max_body_chars = max_body_chars
        self.should_stop: Callable[[], bool] = lambda: False  # set by the worker on SIGTERM
        # Set by the worker: whether it still holds this mailbox's lease (another worker may
        # have taken it over if this one stalled past the lease's expiry).
        self.still_leased: Callable[[int], bool] = lambda _account_id: True

    def sync(self, account_id: int, *, full: bool = False) -> SyncReport:
        with database.connection_context():
            account = EmailAccount.get_by_id(account_id)
            report = SyncReport(account.address)
            now = self._clock.now()
            started = self._clock.monotonic()
            try:
                if not capturing(account.id):
                    raise SyncInterrupted(NOT_CAPTURING)  # no Gmail call at all
                remote = self._remotes.remote(account.address)
                # Loaded on first need: an idle cycle (nothing new) never reads the directory.
                load_directory = functools.cache(self._load_directory)
                policy = self._load_policy(account.id)
                directory: Rules = lambda: (load_directory(), policy)  # noqa: E731
                if full or account.backfill_state != "done" or not account.history_id:
                    self._backfill(account, remote, directory, report, restart=full)
                else:
                    try:
                        self._incremental(account, remote, directory, report)
                    except HistoryExpired:
                        log.warning("%s: history cursor expired, starting a full resync", account.address)
                        self._backfill(account, remote, directory, report, restart=True)
                self._retry_pending(account, remote, directory, report)
                self._refetch(account, remote, directory, report)
            except SyncInterrupted as exc:
                report.error, report.error_kind = str(exc) or SHUTDOWN, "transient"
            except DelegationError as exc:
                self._record_error(account, report, str(exc), exc.permanent, exc.fix, now)
            except RateLimited as exc:
                self._record_error(
                    account,
                    report,
                    str(exc),
                    False,
                    None,
                    now,
                    paused_until=now + timedelta(seconds=exc.retry_after_s or 60),
                )
            except GmailError as exc:
                self._record_error(account, report, str(exc), exc.permanent, exc.fix, now)
            except Exception as exc:  # a bug or a database error: recorded, retried next cycle
                log.exception("%s: sync crashed", account.address)
                self._record_error(account, report, f"internal error: {exc!r}"[:500], False, None, now)
            else:
                EmailAccount.update(
                    last_sync_at=now,
                    last_success_at=self._clock.now(),
                    last_error=None,
                    last_error_kind=None,
                    last_error_fix=None,
                    last_error_at=None,
                    paused_until=None,
                    sync_requested_at=None,
                ).where(EmailAccount.id == account.id).execute()
            report.elapsed_s = self._clock.monotonic() - started
        return report

    # -- backfill -------------------------------------------------------------------------------
    def _backfill(
        self,
        account: EmailAccount,
        remote: GmailRemote,
        directory: Rules,
        report: SyncReport,
        *,
        restart: bool,
    ) -> None:
        report.mode = "resync" if restart else "backfill"
        if restart or account.backfill_state != "running":
            profile = remote.get_profile()  # the cursor comes first: nothing after it is missed
            generation = account.sync_generation + 1
            EmailAccount.update(
                backfill_state="running",
                backfill_history_id=str(profile["historyId"]),
                backfill_page_token=None,
                backfill_listed=0,
                backfill_started_at=self._clock.now(),
                backfill_finished_at=None,
                sync_generation=generation,
                messages_total=profile.get("messagesTotal"),
                full_resyncs=EmailAccount.full_resyncs + (1 if generation > 1 else 0),
            ).where(EmailAccount.id == account.id).execute()
            account = EmailAccount.get_by_id(account.id)
        generation = account.sync_generation
        token = account.backfill_page_token
        size_of = self._size_classes(remote)
        while True:
            self._check_continue(account.id)
            messages, next_token = remote.list_messages(token)
            ids = [m["id"] for m in messages]
            report.listed += len(ids)
            known = store.known_ids(account.id, ids)
            if generation > 1 and known:
                with database.atomic():
                    store.mark_seen(account.id, generation, list(known))
            self._fetch_and_store(account, remote, directory, [i for i in ids if i not in known], report, size_of)
            # Saved only once the page's messages are stored: a crash re-lists this page.
            EmailAccount.update(
                backfill_page_token=next_token, backfill_listed=EmailAccount.backfill_listed + len(ids)
            ).where(EmailAccount.id == account.id).execute()
            if not next_token:
                break
            token = next_token
        with database.atomic():
            if generation > 1:
                report.deleted += store.reconcile_full_sync(account.id, generation, self._clock.now())
            EmailAccount.update(
                history_id=EmailAccount.backfill_history_id,
                backfill_state="done",
                backfill_page_token=None,
                backfill_finished_at=self._clock.now(),
            ).where(EmailAccount.id == account.id).execute()
        self._incremental(EmailAccount.get_by_id(account.id), remote, directory, report)

    # -- incremental ------------------------------------------------------------------------------
    def _incremental(self, account: EmailAccount, remote: GmailRemote, directory: Rules, report: SyncReport) -> None:
        labels: dict[str, list[str]] = {}  # final labels of every message the history touched
        added: set[str] = set()
        deleted: set[str] = set()
        token = None
        latest = account.history_id
        while True:
            page = remote.list_history(account.history_id, token)
            for record in page.records:
                for kind in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                    for change in record.get(kind, []):
                        message = change.get("message", {})
                        if message.get("id"):
                            labels[message["id"]] = list(message.get("labelIds", []))
                            if kind == "messagesAdded":
                                added.add(message["id"])
                for change in record.get("messagesDeleted", []):
                    gmail_id = change.get("message", {}).get("id")
                    if gmail_id:
                        deleted.add(gmail_id)
                        added.discard(gmail_id)
            latest = page.history_id
            token = page.next_page_token  # pages can be empty and still have a next page
            if not token:
                break

        now = self._clock.now()
        touched = [i for i in labels if i not in deleted]
        known = store.known_ids(account.id, touched)  # stored, or skipped for a lasting reason
        with database.atomic():
            report.deleted += store.set_deleted(account.id, list(deleted), now)
            live_labels = {i: labels[i] for i in touched if i in known}
            store.set_labels(account.id, live_labels)
            report.deleted += store.set_deleted(
                account.id, [i for i, labels in live_labels.items() if GONE_LABELS & set(labels)], now
            )
            report.restored += store.set_deleted(
                account.id, [i for i, labels in live_labels.items() if not GONE_LABELS & set(labels)], None
            )
        to_fetch, skipped = [], []
        for gmail_id in touched:
            if gmail_id in known:
                continue
            if EXCLUDED_LABELS & set(labels[gmail_id]):
                if gmail_id in added:
                    skipped.append(
                        (gmail_id, "spam_trash_chat", ",".join(sorted(EXCLUDED_LABELS & set(labels[gmail_id]))))
                    )
            elif "DRAFT" in labels[gmail_id]:
                skipped.append((gmail_id, "draft", "a draft, not a sent or received email"))
            else:
                to_fetch.append(gmail_id)
        report.listed += len(added)
        if skipped:
            self._apply(account, store.BatchWrite(skipped=skipped), report)
        self._fetch_and_store(account, remote, directory, to_fetch, report, self._exact_sizes(remote, to_fetch))
        # The cursor moves only after everything it covers is stored.
        EmailAccount.update(history_id=latest).where(EmailAccount.id == account.id).execute()

    def _retry_pending(self, account: EmailAccount, remote: GmailRemote, directory: Rules, report: SyncReport) -> None:
        ids = store.pending_fetch_ids(account.id)
        if ids:
            self._fetch_and_store(account, remote, directory, ids, report, self._exact_sizes(remote, ids))

    def _refetch(self, account: EmailAccount, remote: GmailRemote, directory: Rules, report: SyncReport) -> None:
        """Fetch again the bare sightings queued by a rematch (they match an investor now) or by
        a switch to scope `all`, at the quota's pace. Each is stored in full, or stays bare."""
        size_of = None
        while ids := bare.refetch_ids(account.id, REFETCH_CHUNK):
            self._check_continue(account.id)
            size_of = size_of or self._size_classes(remote)
            self._fetch_and_store(account, remote, directory, ids, report, size_of)
            store.clear_refetch(account.id, ids)  # whatever became of them, they are done
            report.refetched += len(ids)

    def _check_continue(self, account_id: int) -> None:
        """Between pages: stop for a shutdown, when an admin paused or removed the mailbox, or
        when another worker holds it now."""
        reason = self._why_stop(account_id)
        if reason:
            raise SyncInterrupted(reason)

    def _why_stop(self, account_id: int) -> str | None:
        if self.should_stop():
            return SHUTDOWN
        if not capturing(account_id):
            return NOT_CAPTURING
        if not self.still_leased(account_id):
            return LEASE_LOST
        return None

    # -- sizes: how each message is fetched (see gmail.BATCH_BYTES) ------------------------------
    @staticmethod
    def _size_classes(remote: GmailRemote) -> Callable[[str], int]:
        """A backfill lists ids, not sizes: two size searches class every message as small,
        medium (an upper bound of LARGE_MESSAGE_BYTES) or large, for a few list calls."""
        large = remote.ids_larger_than(LARGE_MESSAGE_BYTES)
        medium = remote.ids_larger_than(SMALL_MESSAGE_BYTES)
        return lambda i: (
            LARGE_MESSAGE_BYTES if i in large else (LARGE_MESSAGE_BYTES - 1 if i in medium else SMALL_MESSAGE_BYTES)
        )

    @staticmethod
    def _exact_sizes(remote: GmailRemote, ids: list[str]) -> Callable[[str], int]:
        """New mail comes a few messages at a time: asking each one's size is cheap."""
        sizes = remote.message_sizes(ids) if ids else {}
        return lambda i: sizes.get(i, SMALL_MESSAGE_BYTES)

    # -- fetch, parse, match, store ----------------------------------------------------------------
    def _fetch_and_store(
        self,
        account: EmailAccount,
        remote: GmailRemote,
        directory: Rules,
        ids: list[str],
        report: SyncReport,
        size_of: Callable[[str], int],
    ) -> None:
        """Fetch, parse, match and store `ids`. Fetched batches are written together, up to
        GROUP_WRITE messages or GROUP_WRITE_S seconds at a time: one commit per ~250 messages
        costs a fraction of one per 50, and the write lock is still held only while writing."""
        if not ids:
            return
        batch = store.BatchWrite()
        buffered, since = 0, self._clock.monotonic()
        for fetched in remote.fetch(ids, size_of):
            batch.failed.update(fetched.failed)
            for message in fetched.messages.values():
                outcome = self._prepare_safely(message, *directory())
                if isinstance(outcome, store.Sighting):
                    batch.sightings.append(outcome)
                elif isinstance(outcome, store.BareRecord):
                    batch.bare.append(outcome)
                else:
                    batch.skipped.append(outcome)
            for gmail_id in fetched.gone:
                batch.skipped.append((gmail_id, "gone", "deleted from the mailbox before it could be fetched"))
            buffered += len(fetched.messages) + len(fetched.gone) + len(fetched.failed)
            stopping = SHUTDOWN if self.should_stop() else None
            if buffered >= GROUP_WRITE and not stopping:
                stopping = self._why_stop(account.id)
            if buffered >= GROUP_WRITE or self._clock.monotonic() - since >= GROUP_WRITE_S or stopping:
                if stopping != LEASE_LOST:  # the new holder writes these itself
                    self._apply(account, batch, report)
                batch, buffered, since = store.BatchWrite(), 0, self._clock.monotonic()
            if stopping:
                raise SyncInterrupted(stopping)
        self._apply(account, batch, report)

    def _apply(self, account: EmailAccount, batch: store.BatchWrite, report: SyncReport) -> None:
        if not (batch.sightings or batch.bare or batch.skipped or batch.failed or batch.account_updates):
            return
        counts = store.apply_batch(account.id, account.sync_generation, batch, self._clock.now())
        report.stored += counts.stored
        report.skipped += counts.skipped
        report.failed += counts.failed
        report.new_emails += counts.new_emails
        report.proposals += counts.proposals
        report.bare += counts.bare
        for _, reason, _ in batch.skipped:
            report.skipped_reasons[reason] = report.skipped_reasons.get(reason, 0) + 1

    def _prepare_safely(
        self, message: dict, directory: Directory, policy: CapturePolicy
    ) -> store.Sighting | store.BareRecord | tuple[str, str, str]:
        """`prepare`, but a message that trips a bug is skipped with the reason `error` (and
        fetched again by a later full listing) instead of failing the batch: one odd email
        must never stall a mailbox's cursor."""
        try:
            return self.prepare(message, directory, policy)
        except Exception as exc:
            gmail_id = str(message.get("id", "?"))
            log.exception("could not process message %s; recorded as skipped", gmail_id)
            return gmail_id, "error", f"processing failed: {exc.__class__.__name__}"[:200]

    def prepare(
        self, message: dict, directory: Directory, policy: CapturePolicy = KEEP_ALL
    ) -> store.Sighting | store.BareRecord | tuple[str, str, str]:
        """A fetched Gmail message as a sighting to store in full, a bare sighting (outside the
        capture scope), or (gmail_id, reason, detail) to skip."""
        gmail_id = message["id"]
        labels = tuple(message.get("labelIds") or ())
        if EXCLUDED_LABELS & set(labels):
            return gmail_id, "spam_trash_chat", ",".join(sorted(EXCLUDED_LABELS & set(labels)))
        if "DRAFT" in labels:
            return gmail_id, "draft", "a draft, not a sent or received email"
        left_out: list[tuple[str, int]] = []
        if "raw" in message:
            try:
                raw = base64.urlsafe_b64decode(message["raw"] + "===")
            except (binascii.Error, ValueError, TypeError) as exc:
                return gmail_id, "unparseable", f"raw is not base64url: {exc}"
        else:  # a large message, fetched in format=full without its attachments
            rendered = raw_from_full_payload(message.get("payload") or {})
            raw, left_out = rendered.raw, rendered.attachments
        try:
            parsed = parse_email(raw, max_body_chars=self._max_body_chars)
        except UnparseableEmail as exc:
            return gmail_id, "unparseable", f"{exc.reason}: {exc}"
        if left_out:
            parsed = _with_attachment_sizes(parsed, left_out, message.get("sizeEstimate"))
        participants = _participants(parsed)
        bulk = bulk_reason(parsed.bulk_reason, parsed.list_domain, directory)
        internal_date = _internal_date(message)
        sent_at = _sent_at(parsed, internal_date or self._clock.now())
        result = match(participants, directory, is_bulk=bulk is not None, sent_at=sent_at)
        if result.verdict == "internal":
            return gmail_id, "internal", "every participant is one of the fund's own"
        if result.verdict == "excluded":
            return gmail_id, "excluded", "matches an exclusion rule"
        if policy.excludes(participants):
            return gmail_id, "excluded", MEMBER_EXCLUDED
        if not policy.keeps_in_full(result):
            return store.BareRecord(gmail_id, message.get("threadId", ""), sent_at, participants)
        record = _email_record(
            parsed,
            participants,
            result,
            html.unescape(message.get("snippet", "")),
            internal_date or self._clock.now(),
            bulk,
            directory,
        )
        return store.Sighting(gmail_id, message.get("threadId", ""), labels, internal_date, record)

    def _record_error(
        self,
        account: EmailAccount,
        report: SyncReport,
        message: str,
        permanent: bool,
        fix: str | None,
        now: datetime,
        paused_until: datetime | None = None,
    ) -> None:
        report.error, report.error_kind, report.fix = message, "permanent" if permanent else "transient", fix
        if permanent:
            paused_until = now + PERMANENT_RETRY
        log.warning("%s: sync failed (%s): %s", account.address, report.error_kind, message)
        EmailAccount.update(
            last_sync_at=now,
            last_error=message[:2000],
            last_error_kind=report.error_kind,
            last_error_fix=fix,
            last_error_at=now,
            paused_until=paused_until,
            sync_requested_at=None,
        ).where(EmailAccount.id == account.id).execute()


def _participants(parsed: ParsedEmail) -> tuple[tuple[str, str], ...]:
    pairs = []
    if parsed.from_addr is not None:
        pairs.append(("from", parsed.from_addr.email))
    for role, addresses in (("reply_to", parsed.reply_to), ("to", parsed.to), ("cc", parsed.cc), ("bcc", parsed.bcc)):
        pairs.extend((role, a.email) for a in addresses)
    return tuple(dict.fromkeys(pairs))


def _with_attachment_sizes(parsed: ParsedEmail, left_out: list[tuple[str, int]], size_estimate) -> ParsedEmail:
    """Give the attachments Gmail left out of a format=full answer their real sizes and the
    message its size. They are the parsed attachments that came back empty under the same file
    name, in the same order (an attachment that really is empty keeps its 0)."""
    pending = list(left_out)
    attachments = []
    for attachment in parsed.attachments:
        if attachment.size == 0 and pending and pending[0][0] == attachment.filename:
            attachment = dataclasses.replace(attachment, size=pending.pop(0)[1])
        attachments.append(attachment)
    size = size_estimate if isinstance(size_estimate, int) and size_estimate > 0 else parsed.size
    return dataclasses.replace(parsed, attachments=tuple(attachments), size=size)


def _internal_date(message: dict) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def _content_key(parsed: ParsedEmail, from_email: str, fingerprint: str) -> str:
    """Without a Message-ID, the same email in two mailboxes is recognised by its content."""
    content = "\x1f".join(
        [
            from_email,
            fingerprint,
            parsed.subject,
            ",".join(sorted(a.email for a in parsed.to + parsed.cc)),
            parsed.body_text[:4096],
        ]
    )
    return "fp:" + hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _sent_at(parsed: ParsedEmail, received: datetime) -> datetime:
    """The Date header is the sender's claim; a wildly wrong one (spam "from 2099") yields to the
    time Gmail received the message."""
    sent_at = parsed.sent_at
    if sent_at is None or sent_at - received > MAX_DATE_SKEW:
        sent_at = received
    return sent_at


def _email_record(
    parsed: ParsedEmail, participants, result, snippet: str, received: datetime, bulk: str | None, directory: Directory
) -> store.EmailRecord:
    sent_at = _sent_at(parsed, received)
    people = lambda addresses: [{"email": a.email, "name": a.name} for a in addresses]  # noqa: E731
    from_email = parsed.from_addr.email if parsed.from_addr else ""
    fingerprint = "date:" + parsed.sent_at.isoformat(timespec="seconds") if parsed.sent_at else ""
    return store.EmailRecord(
        message_id=parsed.message_id,
        fingerprint=fingerprint,
        fallback_key="" if parsed.message_id else _content_key(parsed, from_email, fingerprint),
        row={
            "subject": parsed.subject,
            "from_email": from_email,
            "from_name": parsed.from_addr.name if parsed.from_addr else "",
            "reply_to": people(parsed.reply_to),
            "to": people(parsed.to),
            "cc": people(parsed.cc),
            "in_reply_to": parsed.in_reply_to,
            "references": list(parsed.references),
            "sent_at": sent_at,
            "snippet": snippet or parsed.body_text[:200],
            "body_text": parsed.body_text,
            "body_truncated": parsed.body_truncated,
            "has_attachments": bool(parsed.attachments),
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in parsed.attachments
            ],
            "size": parsed.size,
            "is_bulk": bulk is not None,
            "bulk_reason": bulk,
        },
        participants=participants,
        match=returning_proposals(result, sent_at, directory),
    )
