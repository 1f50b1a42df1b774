"""Input validation shared by the CLI, the API and the dashboard: one error type naming the field."""

from __future__ import annotations

import re

from appsrc.store.queries import MAX_ID, is_row_id

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() would also take "١٢", "1_0" and " +1 "


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


def parse_id(value, *, field: str) -> int:
    """A row id from outside (a URL or query argument, a JSON body, a component id): a JSON
    integer or a string of digits in 1..2^63-1. Bools, floats ("1.5" or 1.5) and anything
    bigger than the database can hold are refused, naming the field."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if not is_row_id(value):
        raise ValidationError(f"{field} must be an id (a whole number from 1 to {MAX_ID})", field=field)
    return value


def parse_optional_id(value, *, field: str) -> int | None:
    """`parse_id`, with None or an empty string meaning "not given"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_id(value, field=field)
