"""Input validation shared by the CLI, the API and the dashboard: one error type naming the field."""

from __future__ import annotations

import re

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


class ValidationError(ValueError):
    """Bad input; `field` names what was wrong (the API answers 400 with it)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def clean_domain(value: str, *, field: str = "domain") -> str:
    domain = (value or "").strip().lower().lstrip("@").rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii") if domain and not domain.isascii() else domain
    except UnicodeError:
        raise ValidationError(f"{value!r} is not a valid domain", field=field) from None
    if not _DOMAIN.match(domain):
        raise ValidationError(f"{value!r} is not a valid domain", field=field)
    return domain


def clean_address(value: str, *, field: str = "email") -> str:
    address = (value or "").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValidationError(f"{value!r} is not a valid email address", field=field)
    return f"{local}@{clean_domain(domain, field=field)}"
