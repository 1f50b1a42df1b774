"""The Gmail remote: the only module that imports googleapiclient.

It knows Gmail's wire behaviour — quota units, batches, "Retry after", per-part errors — and
nothing about our store. Each `GmailRemote` serves one mailbox on one thread (httplib2 is not
thread-safe); `GmailRemotes` hands them out and owns the quota buckets every thread shares.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import random
import re
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from appsrc.clock import Clock
from appsrc.gmail.credentials import SCOPE_READONLY, DelegatedCredentials, DelegationError
from appsrc.gmail.quota import COST, PROJECT_UNITS_PER_S, USER_UNITS_PER_S, Pacer, TokenBucket

log = logging.getLogger(__name__)

MAX_BATCH = 50  # Google rejects more than 50 inner calls ("Inner request count exceeds the limit")
MIN_BATCH = 5
LIST_PAGE_SIZE = 500
# Memory: the client library holds a batch's answer about five times over while parsing it, and
# raw mail travels as base64 in JSON (~1.4x). So a batch may bring back about BATCH_BYTES of mail,
# judged by each message's size (or an upper bound of it); from LARGE_MESSAGE_BYTES a message is
# fetched in format=full, where Gmail leaves attachment bodies out. That is usually a few KB, but
# a huge inline body still comes whole, so such a message is budgeted at LARGE_MESSAGE_BYTES.
BATCH_BYTES = 8 * 1024 * 1024
SMALL_MESSAGE_BYTES = BATCH_BYTES // MAX_BATCH  # 160 KiB: a full batch of these fits
LARGE_MESSAGE_BYTES = 1024 * 1024
RATE_LIMIT_REASONS = {
    "userRateLimitExceeded",
    "rateLimitExceeded",
    "dailyLimitExceeded",
    "concurrentLimitExceeded",
    "backendError",
    "quotaExceeded",
}
_RETRY_AFTER = re.compile(r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")
_NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, httplib2.HttpLib2Error, http.client.HTTPException)
# Failures that happen before a request leaves this machine: even a write may be retried.
_NOT_SENT_ERRORS = (ConnectionRefusedError, socket.gaierror, httplib2.ServerNotFoundError, ssl.SSLCertVerificationError)


class GmailError(Exception):
    """A Gmail call failed after the retries it deserved."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        permanent: bool = False,
        fix: str | None = None,
        retry_after_s: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.permanent = permanent
        self.fix = fix
        self.retry_after_s = retry_after_s
        self.ambiguous = ambiguous  # a write may or may not have taken effect (see `execute`)


class HistoryExpired(GmailError):
    """The history cursor is older than Gmail keeps: the mailbox needs a full sync."""


class RateLimited(GmailError):
    """Gmail asked us to wait longer than is worth blocking a worker thread for."""


@dataclass
class FetchedBatch:
    """What one batch of messages.get returned, id by id."""

    messages: dict[str, dict] = field(default_factory=dict)  # id -> Gmail message resource
    gone: list[str] = field(default_factory=list)  # 404: deleted since it was listed
    failed: dict[str, str] = field(default_factory=dict)  # id -> last error, retries exhausted


@dataclass(frozen=True)
class HistoryPage:
    records: list[dict]
    next_page_token: str | None
    history_id: str


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 32.0
    max_block_s: float = 90.0  # longer "Retry after" waits end the cycle instead (RateLimited)


@lru_cache(maxsize=1)
def _discovery_document() -> str:
    # The discovery document shipped in the client's wheel: no network, and identical in tests.
    package = resources.files("googleapiclient") / "discovery_cache" / "documents" / "gmail.v1.json"
    return package.read_text(encoding="utf-8")


class GmailRemotes:
    """Factory of per-thread, per-mailbox remotes sharing quota buckets across threads."""

    def __init__(
        self,
        credentials: DelegatedCredentials,
        endpoint: str,
        clock: Clock,
        *,
        quota_fraction: float = 0.97,
        http_timeout_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        max_batch: int = MAX_BATCH,
        project_bucket: Pacer | None = None,
        project_units_per_s: float = PROJECT_UNITS_PER_S,
    ) -> None:
        self.credentials = credentials
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.clock = clock
        self.quota_fraction = quota_fraction
        self.http_timeout_s = http_timeout_s
        self.retry = retry
        self.max_batch = max(1, min(max_batch, MAX_BATCH))
        # One process's bucket by default; several worker processes share one in the database
        # (`store.quota.SharedTokenBucket`, wired by the runtime).
        self.project_bucket: Pacer = project_bucket or TokenBucket(
            project_units_per_s * quota_fraction, project_units_per_s * quota_fraction, clock
        )
        self._user_buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def user_bucket(self, address: str) -> TokenBucket:
        with self._lock:
            bucket = self._user_buckets.get(address)
            if bucket is None:
                rate = USER_UNITS_PER_S * self.quota_fraction
                # The burst is one full batch of gets, so a batch never waits on itself.
                bucket = TokenBucket(rate, max(rate, COST["users.messages.get"] * MAX_BATCH), self.clock)
                self._user_buckets[address] = bucket
            return bucket

    def remote(self, address: str, scopes: tuple[str, ...] = (SCOPE_READONLY,)) -> GmailRemote:
        """The calling thread's remote for `address` (built once per thread and mailbox)."""
        cache = getattr(self._local, "remotes", None)
        if cache is None:
            cache = self._local.remotes = {}
        key = (address.lower(), tuple(sorted(scopes)))
        remote = cache.get(key)
        if remote is None:
            remote = cache[key] = GmailRemote(self, address.lower(), key[1])
        return remote


class _CachedResource:
    """A googleapiclient resource whose sub-resources are built once.

    `service.users()` and `.messages()` rebuild their methods from the discovery document on
    every call: called per message in a batch, that alone capped a backfill's speed (see
    docs/performance.md). Resources hold no request state, so one per thread is safe.
    """

    def __init__(self, resource) -> None:
        self._resource = resource
        self._children: dict[str, _CachedResource] = {}

    def __getattr__(self, name: str):
        attribute = getattr(self._resource, name)
        if name not in _SUB_RESOURCES:
            return attribute

        def child() -> _CachedResource:
            if name not in self._children:
                self._children[name] = _CachedResource(attribute())
            return self._children[name]

        return child


_SUB_RESOURCES = frozenset({"users", "messages", "history", "labels", "drafts", "threads", "settings"})


class _SendOnceHttp(httplib2.Http):
    """httplib2 that sends each request once. Stock httplib2 sends a request again when its answer
    never came (it takes a dropped connection for a stale keep-alive), which for a write could
    repeat a `messages.send` or a `drafts.create` Gmail already carried out."""

    def _conn_request(self, conn, request_uri, method, body, headers):
        try:
            if conn.sock is None:
                conn.connect()
            conn.request(method, request_uri, body, headers)
            response = conn.getresponse()
            content = b"" if method == "HEAD" else response.read()
        except socket.gaierror:
            conn.close()
            raise httplib2.ServerNotFoundError(f"Unable to find the server at {conn.host}") from None
        except BaseException:
            conn.close()
            raise
        response = httplib2.Response(response)
        if method != "HEAD":
            content = httplib2._decompressContent(response, content, self.limit_kwargs)
        return response, content


class GmailRemote:
    """One mailbox's Gmail, for the thread that created it."""

    def __init__(self, remotes: GmailRemotes, address: str, scopes: tuple[str, ...]) -> None:
        self._remotes = remotes
        self.address = address
        self.scopes = scopes
        self._clock = remotes.clock
        self._retry = remotes.retry
        self._bucket = remotes.user_bucket(address)
        self._creds = None
        self._http = None
        self._write_http: Any = None  # sends once, on a new connection (see `execute`)
        self._service = None
        self.batch_size = remotes.max_batch
        self.calls = 0  # HTTP requests made (a batch counts once), for benchmarks

    # -- plumbing ---------------------------------------------------------------------------
    def service(self):
        """The googleapiclient service with a fresh token (rebuilt when the key changes)."""
        creds = self._remotes.credentials.credentials_for(self.address, self.scopes)
        if creds is not self._creds:
            self._creds = creds
            self._http = google_auth_httplib2.AuthorizedHttp(
                creds, http=httplib2.Http(timeout=self._remotes.http_timeout_s)
            )
            self._write_http = google_auth_httplib2.AuthorizedHttp(
                creds, http=_SendOnceHttp(timeout=self._remotes.http_timeout_s)
            )
            self._service = _CachedResource(
                build_from_document(
                    _discovery_document(), http=self._http, client_options={"api_endpoint": self._remotes.endpoint}
                )
            )
        return self._service

    def _drop_idle_connections(self) -> None:
        """A write goes out on a new connection: on a kept-alive one the server has since closed,
        the failure could not be told from one after Gmail acted. A new connection either opens
        (then any later failure is ambiguous) or is refused (then nothing was sent)."""
        connections = self._write_http.http.connections
        for connection in connections.values():
            connection.close()
        connections.clear()

    def _pay(self, units: int) -> None:
        self._bucket.acquire(units)
        self._remotes.project_bucket.acquire(units)

    def execute(self, method: str, make_request, *, idempotent: bool = True):
        """Run one call with quota pacing and retries; `make_request(service)` builds it.

        A write that is not idempotent (`messages.send`, `drafts.create`) is retried only when
        Gmail certainly did not act on it: a throttle, an expired token, a connection that never
        opened. A 5xx, a timeout or a dropped connection after the request went out may have
        sent the mail or made the draft, so it raises at once with `ambiguous=True`: a second
        digest or a duplicate draft is worse than telling a human to check.
        """
        attempt = 0
        while True:
            attempt += 1
            self._pay(COST.get(method, 5))
            try:
                self.calls += 1
                request = make_request(self.service())
                if idempotent:
                    return request.execute()
                self._drop_idle_connections()
                return request.execute(http=self._write_http)
            except HttpError as exc:
                error = _http_error(exc, self._clock.now())
                if method == "users.history.list" and error.status == 404:
                    raise HistoryExpired("history cursor expired", status=404, reason="notFound") from None
                if not idempotent and error.status is not None and error.status >= 500:
                    error.ambiguous = True
                    raise error from None
                if error.permanent or attempt >= self._retry.attempts:
                    raise error from None
                self._backoff(attempt, error.retry_after_s, rate_limited=error.status in (403, 429))
            except DelegationError:
                raise
            except _NETWORK_ERRORS as exc:
                ambiguous = not idempotent and not isinstance(exc, _NOT_SENT_ERRORS)
                if ambiguous or attempt >= self._retry.attempts:
                    raise GmailError(f"network error talking to Gmail: {exc!r}"[:300], ambiguous=ambiguous) from None
                self._backoff(attempt, None, rate_limited=False)

    def _backoff(self, attempt: int, retry_after_s: float | None, *, rate_limited: bool) -> None:
        if rate_limited:
            self._bucket.drain()
        if retry_after_s is not None:
            if retry_after_s > self._retry.max_block_s:
                raise RateLimited(
                    f"Gmail asked to retry after {retry_after_s:.0f} s",
                    status=429,
                    reason="rateLimitExceeded",
                    retry_after_s=retry_after_s,
                )
            delay = retry_after_s
        else:
            delay = min(self._retry.max_delay_s, self._retry.base_delay_s * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2  # jitter so mailboxes do not retry in lockstep
        self._clock.sleep(delay)

    # -- reads ------------------------------------------------------------------------------
    def get_profile(self) -> dict:
        return self.execute("users.getProfile", lambda s: s.users().getProfile(userId="me"))

    def list_labels(self) -> list[dict]:
        return self.execute("users.labels.list", lambda s: s.users().labels().list(userId="me")).get("labels", [])

    def list_messages(self, page_token: str | None = None) -> tuple[list[dict], str | None]:
        """One page of message ids, newest first. SPAM and TRASH are excluded by Gmail's
        default (includeSpamTrash=false); chats by the query."""
        response = self.execute(
            "users.messages.list",
            lambda s: (
                s.users()
                .messages()
                .list(
                    userId="me", maxResults=LIST_PAGE_SIZE, pageToken=page_token, q="-in:chats", includeSpamTrash=False
                )
            ),
        )
        return response.get("messages", []), response.get("nextPageToken")

    def list_history(self, start_history_id: str, page_token: str | None = None) -> HistoryPage:
        response = self.execute(
            "users.history.list",
            lambda s: (
                s.users()
                .history()
                .list(
                    userId="me",
                    startHistoryId=start_history_id,
                    pageToken=page_token,
                    maxResults=500,
                    historyTypes=["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"],
                )
            ),
        )
        return HistoryPage(
            response.get("history", []),
            response.get("nextPageToken"),
            str(response.get("historyId") or start_history_id),
        )

    def ids_larger_than(self, size_bytes: int) -> set[str]:
        """Every message id (SPAM, TRASH and chats aside) bigger than `size_bytes`: Gmail's own
        size search, a few list calls where fetching each size would cost a get per message."""
        found: set[str] = set()
        token = None
        while True:
            response = self.execute(
                "users.messages.list",
                lambda s, token=token: (
                    s.users()
                    .messages()
                    .list(
                        userId="me",
                        maxResults=LIST_PAGE_SIZE,
                        pageToken=token,
                        q=f"larger:{size_bytes} -in:chats",
                        includeSpamTrash=False,
                    )
                ),
            )
            found.update(m["id"] for m in response.get("messages", []))
            token = response.get("nextPageToken")
            if not token:
                return found

    def message_sizes(self, ids: list[str]) -> dict[str, int]:
        """Gmail's size estimate of each id (format=minimal), to choose how to fetch it; ids
        that are gone or fail are left out (fetching them will say why)."""
        sizes: dict[str, int] = {}
        for batch in self._fetch_batches(ids, lambda gmail_id: ("minimal", 1024)):
            for gmail_id, message in batch.messages.items():
                size = message.get("sizeEstimate")
                sizes[gmail_id] = size if isinstance(size, int) else LARGE_MESSAGE_BYTES
        return sizes

    def fetch(
        self, ids: list[str], size_of: Callable[[str], int] = lambda _id: SMALL_MESSAGE_BYTES
    ) -> Iterator[FetchedBatch]:
        """The messages `ids`, in batches holding about BATCH_BYTES of mail by `size_of` (a
        message's size, or an upper bound), yielding each batch's outcome so the caller can
        store it before the next one is fetched. Messages from LARGE_MESSAGE_BYTES come in
        format=full (attachments left out, see gmail_payload), the others in format=raw."""

        def plan(gmail_id: str) -> tuple[str, int]:
            size = size_of(gmail_id)
            return ("full", LARGE_MESSAGE_BYTES) if size >= LARGE_MESSAGE_BYTES else ("raw", max(1, size))

        return self._fetch_batches(ids, plan)

    def _fetch_batches(self, ids: list[str], plan: Callable[[str], tuple[str, int]]) -> Iterator[FetchedBatch]:
        """messages.get for `ids` in adaptive batches; `plan(id)` is (format, expected bytes).

        Only the failed inner calls are retried, at the back of the queue; a 429/5xx inside a
        batch halves the batch size and clean batches grow it back by five. Gmail's "Retry
        after" pauses the whole mailbox; a throttle without one drains our bucket.
        """
        queue = deque(dict.fromkeys(ids))
        planned = {gmail_id: plan(gmail_id) for gmail_id in queue}
        fresh = len(queue)  # ids never attempted are at the front, retries at the back
        attempts: dict[str, float] = {}
        while queue:
            chunk: list[str] = []
            budget = BATCH_BYTES
            while queue and len(chunk) < self.batch_size and (not chunk or planned[queue[0]][1] <= budget):
                budget -= planned[queue[0]][1]
                chunk.append(queue.popleft())
            fresh = max(0, fresh - len(chunk))
            outcome, retry, retry_after, throttled = self._batch_get(chunk, planned)
            if retry:
                self.batch_size = max(MIN_BATCH, self.batch_size // 2)
            else:
                self.batch_size = min(self._remotes.max_batch, self.batch_size + 5)
            for gmail_id, reason in retry.items():
                # A throttle that says when to come back is "not yet", not a failure: it costs
                # a fraction of an attempt, so a slow quota never exhausts the retry budget.
                attempts[gmail_id] = attempts.get(gmail_id, 0) + (0.2 if retry_after is not None else 1)
                if attempts[gmail_id] >= self._retry.attempts:
                    outcome.failed[gmail_id] = reason
                else:
                    queue.append(gmail_id)
            yield outcome
            if retry_after is not None or (queue and not fresh and retry):
                worst = max((attempts.get(i, 1) for i in queue), default=1)
                self._backoff(max(1, round(worst)), retry_after, rate_limited=throttled)
            elif throttled:
                self._bucket.drain()

    def _batch_get(
        self, chunk: list[str], planned: dict[str, tuple[str, int]]
    ) -> tuple[FetchedBatch, dict[str, str], float | None, bool]:
        """One batch: the outcome, the ids to retry (with why), Gmail's longest "Retry after",
        and whether Gmail throttled us (then our bucket was too optimistic and is drained)."""
        outcome = FetchedBatch()
        retry: dict[str, str] = {}
        retry_after: list[float] = []
        throttled: list[bool] = []

        def on_part(request_id, response, exception):
            if exception is None:
                outcome.messages[request_id] = response
                return
            error = _http_error(exception, self._clock.now())
            if error.status == 404:
                outcome.gone.append(request_id)
            elif error.permanent:
                outcome.failed[request_id] = str(error)
            else:
                retry[request_id] = str(error)
                if error.status in (403, 429):
                    throttled.append(True)
                if error.retry_after_s is not None:
                    retry_after.append(error.retry_after_s)

        self._pay(COST["users.messages.get"] * len(chunk))
        messages = self.service().users().messages()
        batch = BatchHttpRequest(callback=on_part, batch_uri=self._remotes.endpoint + "batch/gmail/v1")
        for gmail_id in chunk:
            batch.add(messages.get(userId="me", id=gmail_id, format=planned[gmail_id][0]), request_id=gmail_id)
        try:
            self.calls += 1
            batch.execute(http=self._http)
        except HttpError as exc:  # the whole batch failed: every part is retried
            error = _http_error(exc, self._clock.now())
            if error.permanent:
                raise error from None
            return (
                outcome,
                {gmail_id: str(error) for gmail_id in chunk},
                error.retry_after_s,
                error.status in (403, 429),
            )
        except _NETWORK_ERRORS as exc:
            return outcome, dict.fromkeys(chunk, f"network error: {exc!r}"[:200]), None, False
        return outcome, retry, max(retry_after) if retry_after else None, bool(throttled)

    # -- writes (drafts only here; the digest transport owns the one send) --------------------
    def create_draft(self, raw: bytes, thread_id: str | None) -> dict:
        message = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if thread_id:
            message["threadId"] = thread_id
        return self.execute(
            "users.drafts.create",
            lambda s: s.users().drafts().create(userId="me", body={"message": message}),
            idempotent=False,
        )


def _http_error(exc: HttpError, now: datetime) -> GmailError:
    """Turn googleapiclient's HttpError into a classified GmailError."""
    status = int(exc.resp.status) if getattr(exc, "resp", None) is not None else None
    reason, message = "", ""
    try:
        payload = json.loads(exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content)
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        message = str(error.get("message") or "")
        details = error.get("errors") or []
        reason = str(details[0].get("reason") or "") if details else str(error.get("status") or "")
    except (ValueError, AttributeError, TypeError):
        message = (
            exc.content[:200].decode("utf-8", "replace") if isinstance(exc.content, bytes) else str(exc.content)[:200]
        )
    retry_after = _retry_after_seconds(message, now)
    text = f"Gmail {status} {reason}: {message}".strip()
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return GmailError(text, status=status, reason=reason, retry_after_s=retry_after)
    if status is not None and status >= 500:
        return GmailError(text, status=status, reason=reason)
    if status == 400 and "Mail service not enabled" in message:
        return GmailError(
            text,
            status=status,
            reason=reason,
            permanent=True,
            fix="Turn on Gmail for this user in the Google Admin console "
            "(Apps → Google Workspace → Gmail), or disable this mailbox.",
        )
    if status == 403 and ("insufficient" in reason.lower() or "scope" in message.lower()):
        return GmailError(
            text,
            status=status,
            reason=reason,
            permanent=True,
            fix="Grant both scopes to the service account's client ID in the Admin console.",
        )
    if status == 401:
        return GmailError(text, status=status, reason=reason)  # token raced its expiry: retry
    return GmailError(
        text, status=status, reason=reason, permanent=status is not None and status < 500 and status != 404
    )


def _retry_after_seconds(message: str, now: datetime) -> float | None:
    """Seconds until Gmail's "Retry after <RFC 3339 time>" (from the error message), if any."""
    match = _RETRY_AFTER.search(message or "")
    if not match:
        return None
    try:
        when = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (when - now).total_seconds())
