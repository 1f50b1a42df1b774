"""Domain-wide delegation: one service-account key, a token per impersonated mailbox.

The key file is re-read when it changes on disk (the StartOS action replaces it atomically),
tokens are cached until shortly before expiry, and every failure is classified: a permanent
per-mailbox error carries the fix to apply and must not be retried in a loop; clock skew and
network errors are transient.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from appsrc.clock import Clock

log = logging.getLogger(__name__)

SCOPE_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
ALL_SCOPES = (SCOPE_READONLY, SCOPE_COMPOSE)

CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
TOKEN_MARGIN_S = 300  # refresh five minutes before Google's expiry


class DelegationError(Exception):
    """Minting a token failed. `permanent` errors need a human; `fix` says what to do."""

    def __init__(self, message: str, *, code: str, permanent: bool, fix: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.fix = fix


def grant_fix(client_id: str | None, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    return (
        "In the Google Admin console (Security → Access and data control → API controls → "
        f"Manage Domain Wide Delegation) add client ID {client_id or '(see the key)'} with the "
        f"scopes {','.join(scopes)}. Google can take up to 24 hours to apply a change."
    )


@dataclass(frozen=True)
class KeyInfo:
    client_email: str
    client_id: str
    token_uri: str
    private_key_id: str


class DelegatedCredentials:
    """Mints and caches per-mailbox access tokens from the service-account key file."""

    def __init__(self, key_file: Path, clock: Clock, *, http_timeout_s: float = 30.0) -> None:
        self._key_file = Path(key_file)
        self._clock = clock
        self._timeout = http_timeout_s
        self._lock = threading.Lock()
        self._key_stamp: tuple[int, int, int] | None = None
        self._key_info: dict[str, Any] = {}
        self._cache: dict[tuple[str, tuple[str, ...]], service_account.Credentials] = {}
        self._local = threading.local()

    # -- the key ----------------------------------------------------------------------------
    def key_info(self) -> KeyInfo:
        info = self._load_key()
        return KeyInfo(
            info["client_email"], str(info.get("client_id", "")), info["token_uri"], info.get("private_key_id", "")
        )

    def configured(self) -> bool:
        return self._key_file.is_file()

    def _load_key(self) -> dict:
        """The parsed key, re-read (and the token cache dropped) whenever the file changes."""
        try:
            stat = self._key_file.stat()
        except FileNotFoundError:
            raise DelegationError(
                f"no service-account key at {self._key_file}",
                code="no_key",
                permanent=True,
                fix="Run the StartOS action “Configure Gmail delegation” with the service account's JSON key.",
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._key_stamp:
                self._key_info = _parse_key(self._key_file)
                self._key_stamp = stamp
                self._cache.clear()
                log.info("loaded delegation key for client %s", self._key_info.get("client_id"))
            return self._key_info

    # -- tokens ---------------------------------------------------------------------------
    def credentials_for(self, subject: str, scopes: tuple[str, ...]) -> service_account.Credentials:
        """Credentials impersonating `subject`, holding a token valid for at least a few minutes."""
        subject = subject.strip().lower()
        if subject.rpartition("@")[2] in CONSUMER_DOMAINS:
            raise DelegationError(
                f"{subject} is a consumer Google account; delegation only works for Google Workspace users",
                code="consumer_account",
                permanent=True,
                fix="Use the teammate's Google Workspace address, or disable this mailbox.",
            )
        info = self._load_key()
        key = (subject, tuple(sorted(scopes)))
        with self._lock:
            creds = self._cache.get(key)
            if creds is None:
                try:
                    base = service_account.Credentials.from_service_account_info(info, scopes=list(key[1]))
                except (ValueError, KeyError) as exc:
                    raise DelegationError(
                        f"the service-account key is malformed: {exc}",
                        code="malformed_key",
                        permanent=True,
                        fix=_REUPLOAD_FIX,
                    ) from None
                creds = base.with_subject(subject)
                self._cache[key] = creds
        if not self._fresh(creds):
            self._refresh(creds, subject, info)
        return creds

    def _fresh(self, creds: service_account.Credentials) -> bool:
        if not creds.token or creds.expiry is None:
            return False
        expiry = creds.expiry.replace(tzinfo=None)
        now = self._clock.now().replace(tzinfo=None)
        return (expiry - now).total_seconds() > TOKEN_MARGIN_S

    def _refresh(self, creds, subject: str, info: dict) -> None:
        try:
            creds.refresh(self._request())
        except google.auth.exceptions.RefreshError as exc:
            raise classify_refresh_error(exc, subject, str(info.get("client_id", ""))) from None
        except google.auth.exceptions.TransportError as exc:
            raise DelegationError(
                f"could not reach Google's token endpoint: {_first_line(exc)}", code="network", permanent=False
            ) from None

    def _request(self) -> _TimeoutRequest:
        # requests.Session is not safe to share between threads.
        request = getattr(self._local, "request", None)
        if request is None:
            session = requests.Session()
            request = google.auth.transport.requests.Request(session)
            self._local.request = request
        return _TimeoutRequest(request, self._timeout)


class _TimeoutRequest:
    """google-auth's Request without a timeout waits up to 120 s; the sync wants less."""

    def __init__(self, inner, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return self._inner(url, method=method, body=body, headers=headers, timeout=timeout or self._timeout, **kwargs)


_REUPLOAD_FIX = (
    "Download a new JSON key for the service account in Google Cloud and run the "
    "StartOS action “Configure Gmail delegation”."
)


def _parse_key(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DelegationError(
            f"the service-account key is not readable JSON: {_first_line(exc)}",
            code="malformed_key",
            permanent=True,
            fix=_REUPLOAD_FIX,
        ) from None
    missing = [
        f for f in ("type", "client_email", "private_key", "token_uri") if not isinstance(info, dict) or not info.get(f)
    ]
    if missing or info.get("type") != "service_account":
        raise DelegationError(
            "the key file is not a service-account key" + (f" (missing {', '.join(missing)})" if missing else ""),
            code="malformed_key",
            permanent=True,
            fix=_REUPLOAD_FIX,
        )
    try:
        service_account.Credentials.from_service_account_info(info)
    except (ValueError, KeyError) as exc:
        raise DelegationError(
            f"the service-account private key does not load: {_first_line(exc)}",
            code="malformed_key",
            permanent=True,
            fix=_REUPLOAD_FIX,
        ) from None
    return info


def classify_refresh_error(exc: google.auth.exceptions.RefreshError, subject: str, client_id: str) -> DelegationError:
    """Map Google's token-endpoint answers to a permanent/transient error with its fix."""
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(data.get("error") or "").strip()
    description = str(data.get("error_description") or "").strip()
    text = f"{code}: {description}" if code else _first_line(exc)
    if code == "unauthorized_client":
        return DelegationError(
            f"delegation is not granted for these scopes ({text})",
            code="unauthorized_client",
            permanent=True,
            fix=grant_fix(client_id),
        )
    if code == "invalid_grant" and "Invalid JWT Signature" in description:
        return DelegationError(
            f"Google rejected the key's signature ({text})", code="key_revoked", permanent=True, fix=_REUPLOAD_FIX
        )
    if code == "invalid_grant" and ("iat" in description or "exp" in description or "Invalid JWT" in description):
        return DelegationError(
            f"Google rejected the token's timestamps ({text})",
            code="clock_skew",
            permanent=False,
            fix="Check the box's clock: it must be within a minute of real time (NTP).",
        )
    if code == "invalid_grant":
        return DelegationError(
            f"{subject} cannot be impersonated ({text})",
            code="unknown_user",
            permanent=True,
            fix=f"Check that {subject} is an active (not suspended or deleted) "
            "Google Workspace user of your domain, or disable this mailbox.",
        )
    if code in {"invalid_client", "disabled_client", "deleted_client"}:
        return DelegationError(
            f"the service account is disabled or deleted ({text})", code=code, permanent=True, fix=_REUPLOAD_FIX
        )
    return DelegationError(f"token request failed ({text})", code=code or "token_error", permanent=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text.splitlines()[0][:300] if text else exc.__class__.__name__
