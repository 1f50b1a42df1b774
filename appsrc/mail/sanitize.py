"""Scrub error text before it is logged, stored or shown: an SMTP or OAuth error can carry a
credential (a server echoing the AUTH exchange, a bearer token in a URL, a key in a message)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MAX_ERROR_CHARS = 400
REDACTED = "[redacted]"

_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.S)
_KEY_VALUE = re.compile(
    r"(?i)\b(pass(?:word|wd)?|pwd|secret|token|access_token|refresh_token|api[_-]?key|apikey|"
    r"private_key(?:_id)?|client_secret|auth(?:orization)?|credentials?|assertion|code)"
    r"(\s*[=:]\s*|\"\s*:\s*\"?|'\s*:\s*'?)([^\s,;&\"']+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_GOOGLE_TOKEN = re.compile(r"\bya29\.[A-Za-z0-9._-]+")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# Long unbroken base64/hex-looking runs: AUTH PLAIN/LOGIN payloads, JWTs, keys.
_BLOB = re.compile(r"[A-Za-z0-9+/_.=-]{24,}")


def _encodings(secret: str) -> set[str]:
    """The secret and the forms it travels in over SMTP AUTH (base64 of it alone and of the
    PLAIN triple with any username is caught by the blob rule; this covers short ones)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, base64.b64encode(raw).decode().rstrip("="), base64.b64encode(raw).decode()}
    return {f for f in forms if f}


def _looks_like_blob(text: str) -> bool:
    """Letters mixed with digits or base64 punctuation: a token, not a word or a host name."""
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return has_alpha and (has_digit or any(c in "=/+" for c in text))


def sanitize_error(text: object, secrets: Iterable[str | None] = (), *, limit: int = MAX_ERROR_CHARS) -> str:
    """One line of error text safe to log, store and show: known secrets (and their base64
    forms) removed, credential-shaped fragments redacted, control characters dropped, bounded."""
    value = str(text or "")
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in sorted(_encodings(secret), key=len, reverse=True):
            if len(form) >= 3:
                value = value.replace(form, REDACTED)
    value = _PEM.sub(REDACTED, value)
    value = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    value = _GOOGLE_TOKEN.sub(REDACTED, value)
    value = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", value)
    value = _KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, value)
    value = _BLOB.sub(lambda m: REDACTED if _looks_like_blob(m.group(0)) else m.group(0), value)
    value = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value
