"""`GmailSimulator`: Gmail API v1, its batch endpoint and Google's token endpoint on loopback.

The real google-api-python-client and google-auth talk to it by configuration only:
`build("gmail", "v1", ..., client_options={"api_endpoint": sim.url})`, a key file whose
`token_uri` is `sim.token_uri`, and `BatchHttpRequest(batch_uri=sim.url + "batch/gmail/v1")`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

from . import auth, mime
from .auth import AccessToken, Authority, TokenError
from .batch import BatchFormatError, InnerRequest, parse_batch, render_batch
from .calllog import CallLog, CallRecord
from .errors import ApiError, failed_precondition, for_status, invalid, not_found, unauthenticated
from .faults import Faults
from .httpbase import LoopbackService
from .mailbox import HISTORY_TYPES, MAILBOX_STATUSES, SYSTEM_LABELS, Mailbox, build_filter
from .quota import CONCURRENCY_DENIAL, METHOD_UNITS, QuotaLimiter, retry_after_text

MAX_BATCH_PARTS = 100
JSON_TYPE = "application/json; charset=UTF-8"

_READ = frozenset({auth.MAIL_GOOGLE, auth.GMAIL_MODIFY, auth.GMAIL_READONLY})
# Scopes per method as in Gmail's discovery document (add-on scopes left out). Note that
# gmail.compose is *not* enough to list or read messages: only getProfile accepts it.
METHOD_SCOPES = {
    "users.getProfile": _READ | {auth.GMAIL_COMPOSE, auth.GMAIL_METADATA},
    "users.labels.list": _READ | {auth.GMAIL_LABELS, auth.GMAIL_METADATA},
    "users.messages.list": _READ | {auth.GMAIL_METADATA},
    "users.messages.get": _READ | {auth.GMAIL_METADATA},
    "users.messages.attachments.get": _READ,
    "users.history.list": _READ | {auth.GMAIL_METADATA},
    "users.drafts.create": frozenset({auth.MAIL_GOOGLE, auth.GMAIL_MODIFY, auth.GMAIL_COMPOSE}),
    "users.drafts.send": frozenset({auth.MAIL_GOOGLE, auth.GMAIL_MODIFY, auth.GMAIL_COMPOSE}),
    "users.messages.send": frozenset({auth.MAIL_GOOGLE, auth.GMAIL_MODIFY, auth.GMAIL_COMPOSE, auth.GMAIL_SEND}),
}

_USER_PATH = re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/(?P<rest>.*)")
_ROUTES = (
    ("GET", re.compile(r"profile"), "users.getProfile"),
    ("GET", re.compile(r"labels"), "users.labels.list"),
    ("GET", re.compile(r"messages"), "users.messages.list"),
    ("POST", re.compile(r"messages/send"), "users.messages.send"),
    ("GET", re.compile(r"messages/(?P<message_id>[^/]+)/attachments/(?P<id>[^/]+)"), "users.messages.attachments.get"),
    ("GET", re.compile(r"messages/(?P<id>[^/]+)"), "users.messages.get"),
    ("GET", re.compile(r"history"), "users.history.list"),
    ("POST", re.compile(r"drafts/send"), "users.drafts.send"),
    ("POST", re.compile(r"drafts"), "users.drafts.create"),
    # Routed only so the call log names them (the tests' hard-rule audit flags every mail
    # operation but drafts.create); they answer 405 once the caller is authenticated.
    ("GET", re.compile(r"drafts"), "users.drafts.list"),
    ("GET", re.compile(r"drafts/(?P<id>[^/]+)"), "users.drafts.get"),
    ("PUT", re.compile(r"drafts/(?P<id>[^/]+)"), "users.drafts.update"),
    ("DELETE", re.compile(r"drafts/(?P<id>[^/]+)"), "users.drafts.delete"),
    ("POST", re.compile(r"messages"), "users.messages.insert"),
    ("POST", re.compile(r"messages/import"), "users.messages.import"),
    ("POST", re.compile(r"messages/batchModify"), "users.messages.batchModify"),
    ("POST", re.compile(r"messages/batchDelete"), "users.messages.batchDelete"),
    ("POST", re.compile(r"messages/(?P<id>[^/]+)/modify"), "users.messages.modify"),
    ("POST", re.compile(r"messages/(?P<id>[^/]+)/trash"), "users.messages.trash"),
    ("POST", re.compile(r"messages/(?P<id>[^/]+)/untrash"), "users.messages.untrash"),
    ("DELETE", re.compile(r"messages/(?P<id>[^/]+)"), "users.messages.delete"),
    ("POST", re.compile(r"threads/(?P<id>[^/]+)/modify"), "users.threads.modify"),
    ("POST", re.compile(r"threads/(?P<id>[^/]+)/trash"), "users.threads.trash"),
    ("DELETE", re.compile(r"threads/(?P<id>[^/]+)"), "users.threads.delete"),
)
_UNSERVED = frozenset(name for _verb, _pattern, name in _ROUTES) - METHOD_SCOPES.keys()
_MESSAGE_FORMATS = ("minimal", "metadata", "full", "raw")


@dataclass(frozen=True)
class SimulatorSettings:
    """latency_s: added to every HTTP request (a batch is one request).
    batch_limit: inner calls accepted per batch (Gmail has rejected more than 50).
    history_limit / history_max_age_s: history retention; older startHistoryIds get 404.
    token_lifetime_s / jwt_skew_s: access-token lifetime and tolerated iat/exp clock skew.
    own_message_ids: messages.send gives each message a Message-ID of Gmail's own, keeping the
    sender's as X-Google-Original-Message-ID (reported of Gmail; code must not rely on either)."""

    latency_s: float = 0.0
    batch_limit: int = 50
    history_limit: int | None = None
    history_max_age_s: float | None = None
    token_lifetime_s: float = 3600.0
    jwt_skew_s: float = 300.0
    own_message_ids: bool = False


@dataclass(frozen=True)
class MessageView:
    gmail_id: str
    thread_id: str
    label_ids: tuple[str, ...]
    internal_date_ms: int
    raw: bytes


@dataclass(frozen=True)
class SentMessage:
    """A users.messages.send, with the envelope recipients Gmail delivered it to."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    gmail_id: str
    thread_id: str
    requested_thread_id: str | None


@dataclass(frozen=True)
class Draft:
    draft_id: str
    gmail_id: str
    thread_id: str
    requested_thread_id: str | None
    raw: bytes


@dataclass
class _Call:
    """An authenticated, routed Gmail call, ready to be charged and executed."""

    method: str
    params: dict
    query: dict[str, list[str]]
    body: bytes
    token: AccessToken
    mailbox: Mailbox
    user: str  # the delegated user: the token's subject, never None once authorised


class _Rejected(Exception):
    """A call refused before execution, with what the call log needs to know."""

    def __init__(self, error: ApiError, method: str, user: str | None, params: dict):
        super().__init__(error.message)
        self.error = error
        self.method = method
        self.user = user
        self.params = params


def _json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _first(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def _int_param(query, name: str, default: int, maximum: int) -> int:
    """Gmail caps maxResults silently at its maximum."""
    value = _first(query, name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid(f"Invalid value for {name}: {value}")
    return min(int(value), maximum)


def _bool_param(query, name: str) -> bool:
    return (_first(query, name, "false") or "").lower() == "true"


def _log_params(query: dict[str, list[str]], path_params: dict) -> dict:
    params = {k: (v[0] if len(v) == 1 else v) for k, v in query.items() if k != "alt"}
    params.update(path_params)
    return params


def _json_body(body: bytes) -> dict:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received.") from None
    if not isinstance(payload, dict):
        raise invalid("Invalid JSON payload received.")
    return payload


def _raw_from(payload: dict, missing: str) -> bytes:
    raw = payload.get("raw")
    if not isinstance(raw, str) or not raw:
        raise invalid(missing)
    try:
        return mime.b64url_decode(raw)
    except ValueError:
        raise invalid("Invalid value for ByteString: raw") from None


def _stamp_outgoing(raw: bytes, sender: str, now: float, own_message_id: bool = False) -> bytes:
    """Gmail fills in From, Date and Message-ID when a sent message lacks them (and, with
    `own_message_id`, replaces the Message-ID, keeping the sender's as X-Google-Original-...)."""
    present = mime.scan_headers(raw, frozenset({"from", "date", "message-id"}))
    added = []
    if own_message_id and "message-id" in present:
        added.append(f"X-Google-Original-Message-ID: {present['message-id']}")
        raw = re.sub(rb"(?im)^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n", b"", raw, count=1)
        present = {k: v for k, v in present.items() if k != "message-id"}
    if "from" not in present:
        added.append(f"From: {sender}")
    if "date" not in present:
        added.append("Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now)))
    if "message-id" not in present:
        added.append(f"Message-ID: <CA+sim{secrets.token_hex(12)}@mail.gmail.com>")
    return "".join(line + "\r\n" for line in added).encode() + raw


def _without_bcc(raw: bytes) -> bytes:
    """Delivered copies carry no Bcc header; only the sender's SENT copy keeps it."""
    head = mime.header_block(raw)
    kept = re.sub(rb"(?im)^bcc:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)", b"", head)
    return kept + raw[len(head) :]


class GmailSimulator(LoopbackService):
    """A local Gmail: mailboxes, DWD token endpoint, REST + batch API, quota, faults, call log.

    Thread-safe: request threads and test code share state behind one lock.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        call_log_size: int = 10_000,
        project_id: str = "gmail-sim",
    ):
        super().__init__(host, port)
        self.clock = clock
        self.project_id = project_id
        self.settings = SimulatorSettings()
        self.quota = QuotaLimiter(clock)
        self.faults = Faults()
        self._lock = threading.RLock()
        self._in_flight: dict[str, int] = {}  # requests being answered now, per mailbox
        self._most_in_flight: dict[str, int] = {}  # the most ever at once, per mailbox
        self._mailboxes: dict[str, Mailbox] = {}
        self._auth = Authority(clock, lambda: self.token_uri)
        self._log = CallLog(call_log_size)
        self._sent: list[SentMessage] = []
        self._drafts: dict[str, list[Draft]] = {}

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    def configure(self, **changes) -> None:
        """Change `SimulatorSettings` fields, e.g. `configure(latency_s=0.03, batch_limit=100)`."""
        self.settings = replace(self.settings, **changes)

    # -- mailboxes ----------------------------------------------------------------------

    def add_mailbox(self, address: str, *, status: str = "active") -> None:
        """Register a user. `unknown` and `consumer` addresses cannot be impersonated;
        `mail_disabled` ones get tokens but Gmail answers "Mail service not enabled"."""
        if status not in MAILBOX_STATUSES:
            raise ValueError(f"status must be one of {MAILBOX_STATUSES}")
        with self._lock:
            key = address.lower()
            if key in self._mailboxes:
                raise ValueError(f"mailbox {address} exists; use set_mailbox_status")
            self._mailboxes[key] = Mailbox(key, status)

    def set_mailbox_status(self, address: str, status: str) -> None:
        """Changing away from active revokes the user's tokens, as suspension does at Google."""
        if status not in MAILBOX_STATUSES:
            raise ValueError(f"status must be one of {MAILBOX_STATUSES}")
        with self._lock:
            self._mailbox(address).status = status
        if status not in ("active", "mail_disabled"):
            self._auth.revoke_subject(address)

    def _mailbox(self, address: str) -> Mailbox:
        try:
            return self._mailboxes[address.lower()]
        except KeyError:
            raise KeyError(f"no mailbox {address}") from None

    def _mailbox_status(self, address: str) -> str:
        with self._lock:
            mailbox = self._mailboxes.get(address.lower())
            return mailbox.status if mailbox else "unknown"

    def _trim_history(self, mailbox: Mailbox) -> None:
        settings = self.settings
        mailbox.history.trim(settings.history_limit, settings.history_max_age_s, self.clock())

    def insert_message(
        self,
        address: str,
        raw: bytes,
        *,
        label_ids: Iterable[str] = ("INBOX",),
        internal_date_ms: int | None = None,
        thread_id: str | None = None,
    ) -> str:
        """Deliver a message as Gmail stores it; threads by In-Reply-To/References + subject."""
        now = self.clock()
        with self._lock:
            mailbox = self._mailbox(address)
            message = mailbox.add(
                bytes(raw),
                label_ids,
                int(now * 1000) if internal_date_ms is None else int(internal_date_ms),
                now,
                thread_id=thread_id,
            )
            self._trim_history(mailbox)
            return message.gmail_id

    def modify_labels(self, address: str, gmail_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        with self._lock:
            mailbox = self._mailbox(address)
            mailbox.change_labels(gmail_id, add, remove, self.clock())
            self._trim_history(mailbox)

    def trash(self, address: str, gmail_id: str) -> None:
        self.modify_labels(address, gmail_id, add=("TRASH",))

    def untrash(self, address: str, gmail_id: str) -> None:
        self.modify_labels(address, gmail_id, remove=("TRASH",))

    def delete(self, address: str, gmail_id: str) -> None:
        """Permanent deletion, recorded as messageDeleted history."""
        with self._lock:
            mailbox = self._mailbox(address)
            mailbox.remove(gmail_id, self.clock())
            self._trim_history(mailbox)

    def expire_history(self, address: str) -> None:
        """Forget all history: every earlier startHistoryId now answers 404."""
        with self._lock:
            self._mailbox(address).history.expire()

    def history_id(self, address: str) -> int:
        with self._lock:
            return self._mailbox(address).history.current

    def message_ids(self, address: str) -> list[str]:
        """Every message id in the mailbox (drafts, spam and trash included), newest first."""
        with self._lock:
            mailbox = self._mailbox(address)
            return [m.gmail_id for m in sorted(mailbox.messages.values(), key=lambda m: m.order_key)]

    def message(self, address: str, gmail_id: str) -> MessageView:
        with self._lock:
            stored = self._mailbox(address).get(gmail_id)
            return MessageView(stored.gmail_id, stored.thread_id, stored.labels, stored.internal_date_ms, stored.raw)

    # -- delegation -----------------------------------------------------------------------

    def make_service_account_key(
        self,
        path,
        *,
        client_id: str | None = None,
        scopes_granted: Iterable[str] = (auth.GMAIL_READONLY, auth.GMAIL_COMPOSE),
    ) -> dict:
        """Write a realistic key file (mode 0600) whose token_uri is this simulator and
        grant it domain-wide delegation for `scopes_granted`. Returns the file's contents."""
        return self._auth.create_key(path, client_id, tuple(scopes_granted), self.project_id)

    def register_key_file(
        self, path, *, scopes_granted: Iterable[str] = (auth.GMAIL_READONLY, auth.GMAIL_COMPOSE)
    ) -> dict:
        """Accept an existing key file (rewriting its token_uri to this simulator), e.g. to
        keep a demo appliance's configured key working across simulator restarts."""
        return self._auth.register_key_file(path, tuple(scopes_granted))

    def set_grant(self, client_id: str, scopes: Iterable[str]) -> None:
        """Replace the delegated scopes of a client, like editing the Admin console entry."""
        self._auth.set_grant(client_id, scopes)

    # -- records --------------------------------------------------------------------------

    def calls(self, method: str | None = None, user: str | None = None) -> list[CallRecord]:
        """Recent call records (a bounded ring; see `call_count` for exact totals)."""
        return self._log.records(method, user.lower() if user else None)

    def call_count(self, method: str | None = None, status: int | None = None) -> int:
        return self._log.count(method, status)

    def units_used(self, user: str | None = None) -> int:
        """Quota units charged, for one user or in total."""
        return self._log.units(user.lower() if user else None)

    def clear_calls(self) -> None:
        """Forget the call ring and counts (never the mail operations: see `mail_operations`)."""
        self._log.clear()
        with self._lock:
            self._most_in_flight.clear()

    def most_concurrent(self, user: str | None = None) -> int | dict[str, int]:
        """The most requests one mailbox ever had in flight at once (all mailboxes' as a dict):
        a mailbox synced by one worker at a time never has more than one."""
        with self._lock:
            if user is None:
                return dict(self._most_in_flight)
            return self._most_in_flight.get(user.lower(), 0)

    def mail_operations(self) -> list[CallRecord]:
        """Every draft call and every call that was not a GET (sends, inserts, label changes,
        unknown paths), refused or not, since the simulator was made; `clear_calls` keeps them."""
        return self._log.mail_operations()

    def mail_operation_counts(self) -> dict[str, int]:
        """Exact counts per method of `mail_operations`, even past its record capacity."""
        return dict(self._log.mail_operation_counts())

    def sent_messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._sent)

    def drafts(self, user: str) -> list[Draft]:
        with self._lock:
            return list(self._drafts.get(user.lower(), ()))

    def _record(
        self, method: str, user: str | None, params: dict, status: int, units: int, in_batch: bool, *, verb: str = "GET"
    ) -> None:
        mail_operation = verb != "GET" or method.startswith("users.drafts.")
        self._log.add(
            CallRecord(self.clock(), user, method, params, status, units, in_batch), mail_operation=mail_operation
        )

    # -- HTTP entry point -----------------------------------------------------------------

    def handle(self, request) -> None:
        authorization = request.headers.get("Authorization", "")
        token = self._auth.lookup(authorization[7:]) if authorization[:7].lower() == "bearer " else None
        user = token.subject if token is not None else None
        if user is None:
            self._handle(request)
            return
        with self._lock:
            self._in_flight[user] = self._in_flight.get(user, 0) + 1
            self._most_in_flight[user] = max(self._most_in_flight.get(user, 0), self._in_flight[user])
        try:
            self._handle(request)
        finally:
            with self._lock:
                self._in_flight[user] -= 1

    def _handle(self, request) -> None:
        body = self.read_body(request)
        path = urlsplit(request.path).path
        is_api = path.startswith("/gmail/v1/") or path in ("/batch", "/batch/gmail/v1")
        timeout_mode = self.faults.timeout_mode() if is_api else None
        if timeout_mode == "close":
            self._record("connection.dropped", None, {"path": path}, 0, 0, False)
            self.drop(request)
            return
        if timeout_mode == "sleep":
            self._record("connection.delayed", None, {"path": path}, 0, 0, False)
            self.pause(self.faults.settings.timeout_sleep_s)
        headers: dict[str, str]
        if path == "/token" and request.command == "POST":
            status, payload = self._token(body)
            content_type, data, headers = JSON_TYPE, _json(payload), {}
        elif path in ("/batch", "/batch/gmail/v1") and request.command == "POST":
            status, content_type, data = self._batch(request.headers.get("Content-Type", ""), body)
            headers = {}
        elif path.startswith("/gmail/v1/"):
            inner = InnerRequest(
                "", request.command, request.path, {k.lower(): v for k, v in request.headers.items()}, body
            )
            status, payload = self._direct(inner)
            content_type, data = JSON_TYPE, _json(payload)
            headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if status == 401 else {}
        else:
            error = not_found()
            self._record("unknown", None, {"path": path}, 404, 0, False, verb=request.command)
            status, content_type, data, headers = 404, JSON_TYPE, _json(error.body()), {}
        self.pause(self.settings.latency_s)
        self.respond(request, status, data, content_type, headers)

    # -- token endpoint -------------------------------------------------------------------

    def _token(self, body: bytes) -> tuple[int, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        subject = auth.unverified_subject(form.get("assertion", ""))
        try:
            payload = self._auth.mint(
                form, self._mailbox_status, lifetime_s=self.settings.token_lifetime_s, skew_s=self.settings.jwt_skew_s
            )
            status = 200
        except TokenError as error:
            status, payload = error.status, error.body()
        self._record(
            "oauth2.token", subject, {"error": payload.get("error")} if status != 200 else {}, status, 0, False
        )
        return status, payload

    # -- Gmail calls ----------------------------------------------------------------------

    def _prepare(self, request: InnerRequest) -> _Call:
        """Route, authenticate and authorise; anything refused here costs no quota."""
        target = urlsplit(request.target)
        query = parse_qs(target.query, keep_blank_values=True)
        match = _USER_PATH.fullmatch(target.path)
        route = None
        if match:
            route = next(
                (
                    (name, m.groupdict())
                    for verb, pattern, name in _ROUTES
                    if verb == request.method and (m := pattern.fullmatch(match["rest"]))
                ),
                None,
            )
        if match is None or route is None:
            raise _Rejected(not_found(), "unknown", None, {"path": target.path})
        method, path_params = route
        params = _log_params(query, path_params)
        authorization = request.headers.get("authorization", "")
        token = self._auth.lookup(authorization[7:]) if authorization[:7].lower() == "bearer " else None
        if token is None:
            raise _Rejected(unauthenticated(), method, None, params)
        user = token.subject
        if method in _UNSERVED:
            raise _Rejected(
                ApiError(405, f"{method} is not served by this simulator.", "methodNotAllowed"), method, user, params
            )
        if not token.scopes & METHOD_SCOPES[method]:
            raise _Rejected(
                ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions"),
                method,
                user,
                params,
            )
        if user is None:
            raise _Rejected(failed_precondition("Precondition check failed."), method, user, params)
        user_id = unquote(match["user"])
        if user_id != "me" and user_id.lower() != user:
            raise _Rejected(ApiError(403, f"Delegation denied for {user}", "forbidden"), method, user, params)
        with self._lock:
            mailbox = self._mailboxes.get(user)
        if mailbox is None or mailbox.status not in ("active", "mail_disabled"):
            raise _Rejected(unauthenticated(), method, user, params)
        if mailbox.status == "mail_disabled":
            raise _Rejected(failed_precondition("Mail service not enabled"), method, user, params)
        return _Call(method, params, query, request.body, token, mailbox, user)

    def _execute(self, call: _Call, *, has_slot: bool) -> tuple[int, dict, int]:
        """Faults, quota, then the handler. Returns (status, payload, units charged)."""
        user = call.user
        units = 0
        try:
            forced = self.faults.take_forced(call.method)
            if forced and not forced.after:
                raise for_status(forced.status, forced.reason)
            if not has_slot:
                busy = CONCURRENCY_DENIAL
                raise ApiError(busy.status, busy.message, busy.reason, domain="usageLimits")
            if self.faults.roll("inner_429"):
                retry = retry_after_text(self.clock() + 1.0)
                raise ApiError(
                    429,
                    f"User-rate limit exceeded.  Retry after {retry}",
                    "userRateLimitExceeded",
                    domain="usageLimits",
                )
            cost = METHOD_UNITS[call.method]
            denial = self.quota.charge(user, call.token.client_id, cost)
            if denial:
                raise ApiError(denial.status, denial.message, denial.reason, domain="usageLimits")
            units = cost
            if self.faults.roll("inner_5xx"):
                raise for_status(self.faults.pick_5xx())
            # Handlers are named after the Gmail method: users.messages.get -> _messages_get.
            handler = getattr(self, "_" + call.method.removeprefix("users.").replace(".", "_"))
            result = handler(call)
            if forced:  # it happened; the answer is lost
                raise for_status(forced.status, forced.reason)
            return 200, result, units
        except ApiError as error:
            return error.status, error.body(), units

    def _direct(self, request: InnerRequest) -> tuple[int, dict]:
        try:
            call = self._prepare(request)
        except _Rejected as rejected:
            self._record(
                rejected.method, rejected.user, rejected.params, rejected.error.status, 0, False, verb=request.method
            )
            return rejected.error.status, rejected.error.body()
        user = call.user
        has_slot = self.quota.try_enter(user)
        try:
            status, payload, units = self._execute(call, has_slot=has_slot)
        finally:
            if has_slot:
                self.quota.leave(user)
        self._record(call.method, user, call.params, status, units, False, verb=request.method)
        return status, payload

    def _batch(self, content_type: str, body: bytes) -> tuple[int, str, bytes]:
        """All inner calls count as in flight for the whole batch, as on Gmail."""
        try:
            requests = parse_batch(content_type, body)
        except BatchFormatError as error:
            return self._batch_error(invalid(f"Failed to parse batch request: {error}"), 0)
        if len(requests) > MAX_BATCH_PARTS:
            return self._batch_error(
                invalid(
                    f"Too many requests in batch: {len(requests)}. A batch may contain at most "
                    f"{MAX_BATCH_PARTS} requests."
                ),
                len(requests),
            )
        limit = self.settings.batch_limit
        if len(requests) > limit:
            return self._batch_error(
                invalid(f"Inner request count exceeds the limit. Count: {len(requests)}, Limit: {limit}"), len(requests)
            )
        self._record("batch", None, {"parts": len(requests)}, 200, 0, False)
        prepared: list[_Call | _Rejected] = []
        for request in requests:
            try:
                prepared.append(self._prepare(request))
            except _Rejected as rejected:
                prepared.append(rejected)
        slots = [isinstance(item, _Call) and self.quota.try_enter(item.user) for item in prepared]
        parts = []
        try:
            for request, item, has_slot in zip(requests, prepared, slots, strict=True):
                if isinstance(item, _Rejected):
                    self._record(item.method, item.user, item.params, item.error.status, 0, True, verb=request.method)
                    status, payload = item.error.status, item.error.body()
                else:
                    status, payload, units = self._execute(item, has_slot=has_slot)
                    self._record(item.method, item.user, item.params, status, units, True, verb=request.method)
                parts.append((request.content_id, status, _json(payload)))
        finally:
            for item, has_slot in zip(prepared, slots, strict=True):
                if has_slot and isinstance(item, _Call):
                    self.quota.leave(item.user)
        content_type, data = render_batch(parts)
        return 200, content_type, data

    def _batch_error(self, error: ApiError, parts: int) -> tuple[int, str, bytes]:
        self._record("batch", None, {"parts": parts}, error.status, 0, False)
        return error.status, JSON_TYPE, _json(error.body())

    # -- handlers (named after the Gmail method) ------------------------------------------

    @staticmethod
    def _metadata_only(call: _Call) -> bool:
        """A token whose only usable scope is gmail.metadata cannot read bodies or search."""
        return call.token.scopes & METHOD_SCOPES[call.method] == {auth.GMAIL_METADATA}

    def _getProfile(self, call: _Call) -> dict:
        with self._lock:
            mailbox = call.mailbox
            return {
                "emailAddress": mailbox.address,
                "messagesTotal": len(mailbox.messages),
                "threadsTotal": mailbox.threads_total,
                "historyId": str(mailbox.history.current),
            }

    def _labels_list(self, call: _Call) -> dict:
        return {"labels": [{"id": label, "name": label, "type": "system"} for label in SYSTEM_LABELS]}

    def _messages_list(self, call: _Call) -> dict:
        query = call.query
        max_results = _int_param(query, "maxResults", 100, 500)
        search = _first(query, "q", "") or ""
        if search and self._metadata_only(call):
            raise ApiError(403, "Metadata scope does not support 'q' parameter", "forbidden")
        selection = build_filter(
            query.get("labelIds", []), _bool_param(query, "includeSpamTrash"), search, self.clock()
        )
        with self._lock:
            page, next_token, estimate = call.mailbox.list_page(selection, _first(query, "pageToken"), max_results)
            result: dict = {}
            if page:
                result["messages"] = [{"id": m.gmail_id, "threadId": m.thread_id} for m in page]
        if next_token:
            result["nextPageToken"] = next_token
        result["resultSizeEstimate"] = estimate
        return result

    def _messages_get(self, call: _Call) -> dict:
        fmt = (_first(call.query, "format", "full") or "").lower()
        if fmt not in _MESSAGE_FORMATS:
            raise invalid(f"Invalid value at 'format' ({fmt})")
        if fmt in ("full", "raw") and self._metadata_only(call):
            raise ApiError(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        with self._lock:
            stored = call.mailbox.get(call.params["id"])
            if self.faults.roll("deleted_before_get"):
                call.mailbox.remove(stored.gmail_id, self.clock())
                raise not_found()
        result: dict = {"id": stored.gmail_id, "threadId": stored.thread_id}
        if stored.labels:
            result["labelIds"] = list(stored.labels)
        result["snippet"] = stored.snippet
        if fmt == "metadata":
            wanted = call.query.get("metadataHeaders")
            result["payload"] = mime.payload_metadata(stored.raw, {h.lower() for h in wanted} if wanted else None)
        elif fmt == "full":
            result["payload"] = mime.payload_tree(stored.raw, stored.gmail_id)
        result["sizeEstimate"] = len(stored.raw)
        if fmt == "raw":
            result["raw"] = mime.b64url(stored.raw)
        result["historyId"] = str(stored.history_id)
        result["internalDate"] = str(stored.internal_date_ms)
        return result

    def _messages_attachments_get(self, call: _Call) -> dict:
        attachment_id = call.params["id"]
        located = mime.parse_attachment_id(attachment_id)
        with self._lock:
            stored = call.mailbox.get(call.params["message_id"])
        if located is None or located[0] != stored.gmail_id:
            raise invalid("Invalid attachment token")
        data = mime.attachment_bytes(stored.raw, located[1])
        if data is None:
            raise not_found()
        return {"attachmentId": attachment_id, "size": len(data), "data": mime.b64url(data)}

    def _history_list(self, call: _Call) -> dict:
        query = call.query
        start = _first(query, "startHistoryId")
        if not start or not start.isdigit():
            raise invalid("Invalid startHistoryId")
        types = frozenset(query.get("historyTypes", []))
        if not types <= set(HISTORY_TYPES):
            raise invalid(f"Invalid value for historyTypes: {sorted(types - set(HISTORY_TYPES))}")
        max_results = _int_param(query, "maxResults", 100, 500)
        page_token = _first(query, "pageToken")
        with self._lock:
            mailbox = call.mailbox
            self._trim_history(mailbox)
            if self.faults.roll("empty_history_page"):
                token = mailbox.empty_page_token(int(start), page_token)
                return {"nextPageToken": token, "historyId": str(mailbox.history.current)}
            records, next_token = mailbox.history_page(
                int(start), page_token, max_results, types, _first(query, "labelId")
            )
            current = mailbox.history.current
        result: dict = {}
        if records:
            result["history"] = [_history_entry(record) for record in records]
        if next_token:
            result["nextPageToken"] = next_token
        result["historyId"] = str(current)
        return result

    def _drafts_create(self, call: _Call) -> dict:
        message = _json_body(call.body).get("message")
        if not isinstance(message, dict):
            raise invalid("Missing draft message")
        raw = _raw_from(message, "Missing draft message")
        requested = message.get("threadId")
        now = self.clock()
        with self._lock:
            stored = call.mailbox.add(raw, ("DRAFT",), int(now * 1000), now, requested_thread=requested, api_write=True)
            self._trim_history(call.mailbox)
            draft_id = f"r{int(stored.gmail_id, 16) % 10**19}"
            self._drafts.setdefault(call.mailbox.address, []).append(
                Draft(draft_id, stored.gmail_id, stored.thread_id, requested, raw)
            )
        return {"id": draft_id, "message": {"id": stored.gmail_id, "threadId": stored.thread_id, "labelIds": ["DRAFT"]}}

    def _messages_send(self, call: _Call) -> dict:
        """Stored as SENT for the sender and delivered to recipients that are mailboxes here."""
        payload = _json_body(call.body)
        raw = _raw_from(payload, "'raw' RFC822 payload message string or uploading message via /upload/* URL required")
        recipients = tuple(dict.fromkeys(r.lower() for r in mime.envelope_recipients(raw)))
        if not recipients:
            raise invalid("Recipient address required")
        sender = call.mailbox.address
        now = self.clock()
        raw = _stamp_outgoing(raw, sender, now, self.settings.own_message_ids)
        requested = payload.get("threadId")
        with self._lock:
            stored = call.mailbox.add(raw, ("SENT",), int(now * 1000), now, requested_thread=requested, api_write=True)
            self._trim_history(call.mailbox)
            self._sent.append(SentMessage(sender, recipients, raw, stored.gmail_id, stored.thread_id, requested))
            delivered = _without_bcc(raw)
            for recipient in recipients:
                mailbox = self._mailboxes.get(recipient)
                if mailbox and recipient != sender and mailbox.status == "active":
                    mailbox.add(
                        f"Delivered-To: {recipient}\r\n".encode() + delivered, ("INBOX", "UNREAD"), int(now * 1000), now
                    )
                    self._trim_history(mailbox)
        return {"id": stored.gmail_id, "threadId": stored.thread_id, "labelIds": ["SENT"]}

    def _drafts_send(self, call: _Call) -> dict:
        """Deliberately unavailable: the appliance must never send a draft on its own."""
        raise ApiError(
            405,
            "drafts.send is disabled in this simulator: drafts are for humans to review and send.",
            "methodNotAllowed",
        )


def _history_entry(record) -> dict:
    brief = {"id": record.gmail_id, "threadId": record.thread_id}
    message = dict(brief, labelIds=list(record.labels))
    entry: dict = {"id": str(record.id), "messages": [brief]}
    if record.kind == "messageAdded":
        entry["messagesAdded"] = [{"message": message}]
    elif record.kind == "messageDeleted":
        entry["messagesDeleted"] = [{"message": message}]
    elif record.kind == "labelAdded":
        entry["labelsAdded"] = [{"message": message, "labelIds": list(record.changed)}]
    else:
        entry["labelsRemoved"] = [{"message": message, "labelIds": list(record.changed)}]
    return entry
