"""Secrets the StartOS actions write under `$CRM_DATA_DIR/secrets/`, read at the moment of use.

The entrypoint also exports them as `SMTP_*` at start, but the files win when present: an admin
who reruns "Configure Digest SMTP" expects the next digest to use the new account without a
restart. Values are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMTP_FIELDS = ("host", "port", "security", "username", "password", "from")
SMTP_HELP = {
    "host": "SMTP server of the digest's fallback transport (Gmail delegation is tried first).",
    "port": "SMTP port; default 587 (starttls), 465 (ssl) or 25 (none).",
    "security": "starttls (default; refused if the server does not offer it), ssl or none.",
    "username": "SMTP AUTH user name, if the server wants one.",
    "password": "SMTP AUTH password (never sent over security=none).",
    "from": "The digest's From address over SMTP; else the username when it is an address.",
}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # starttls | ssl | none
    username: str | None
    password: str | None = None
    sender: str | None = None  # the address alone
    sender_name: str | None = None  # the display name the admin gave with it, if any

    def __repr__(self) -> str:  # never show the password in logs or tracebacks
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"sender={self.sender!r}, sender_name={self.sender_name!r})"
        )


class SecretError(ValueError):
    """A secret is present but unusable; the message names it, never its value."""


def read_secret_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _smtp_values(secrets_dir: Path, environ: Mapping[str, str] | None) -> tuple[dict[str, str | None], bool]:
    """Each SMTP field's raw value, and whether they came from the action's files: when those
    exist they are the whole configuration (a field removed there is gone, even if the
    environment exported at start still has it); else the `SMTP_*` variables."""
    environ = os.environ if environ is None else environ
    if read_secret_file(secrets_dir / "smtp" / "host") is not None:
        return {field: read_secret_file(secrets_dir / "smtp" / field) for field in SMTP_FIELDS}, True
    return {field: (environ.get(f"SMTP_{field.upper()}") or "").strip() or None for field in SMTP_FIELDS}, False


def load_smtp_config(secrets_dir: Path, environ: Mapping[str, str] | None = None) -> SmtpConfig | None:
    """The SMTP account for the digest, or None when none is configured.

    When the action's files exist they are the whole configuration (a field removed there is
    gone, even if the environment exported at start still has it); else `SMTP_*` variables.
    """
    values, _from_files = _smtp_values(secrets_dir, environ)
    if not values["host"]:
        return None
    security = (values["security"] or "starttls").lower()
    if security not in {"starttls", "ssl", "none"}:
        raise SecretError("SMTP security must be starttls, ssl or none")
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    try:
        port = int(values["port"]) if values["port"] else default_port
    except ValueError:
        raise SecretError("SMTP port must be a number") from None
    if not 1 <= port <= 65535:
        raise SecretError("SMTP port must be from 1 to 65535")
    sender_name, sender = None, None
    if values["from"]:
        try:
            sender_name, sender = parse_mailbox(values["from"])
        except ValueError as exc:
            raise SecretError(f"SMTP from: {exc}") from None
    return SmtpConfig(values["host"], port, security, values["username"], values["password"], sender, sender_name)


def parse_mailbox(value: str) -> tuple[str | None, str]:
    """(display name or None, address) of exactly one mailbox, as people type it: "ir@fund.com"
    or "IR Desk <ir@fund.com>"; ValueError for anything else (two addresses, a bare name, text
    around the address). Read by the standard library's RFC 5322 parser, which reports every
    irregularity as a defect; any defect but obsolete syntax is a refusal.

    The StartOS action that saves the value has its own copy (start9/lib/startos_support.py
    `parse_mailbox`): actions import only the standard library. A test holds the two to the
    same answers."""
    from email.errors import ObsoleteHeaderDefect
    from email.headerregistry import HeaderRegistry

    from appsrc.matching.addresses import normalize_address

    try:
        header = HeaderRegistry()("From", value)
        mailboxes: tuple[Any, ...] = getattr(header, "addresses", ())  # an AddressHeader: From is one
        # RFC 5322's obsolete syntax ("J. Smith <j@fund.com>": a period in an unquoted name) is
        # what people type; everything else the parser flags is a refusal.
        defects: list[object] = [d for d in header.defects if not isinstance(d, ObsoleteHeaderDefect)]
    except (IndexError, ValueError, TypeError, RecursionError):  # the parser's own failures
        mailboxes, defects = (), ["unreadable"]
    address = normalize_address(mailboxes[0].addr_spec) if len(mailboxes) == 1 else None
    if address is None or defects or "\n" in value or "\r" in value:
        raise ValueError("expected one email address, e.g. ir@fund.com or IR Desk <ir@fund.com>")
    return " ".join(mailboxes[0].display_name.split()) or None, address


def load_own_domains_file(secrets_dir: Path) -> tuple[str, ...]:
    """Own domains saved by the "Configure Gmail delegation" action (one per line)."""
    text = read_secret_file(secrets_dir / "dwd" / "own_domains") or ""
    return tuple(sorted({d.strip().lower().lstrip("@") for d in text.replace(",", "\n").split() if d.strip()}))


def describe_smtp(secrets_dir: Path, environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(variable, value as shown to an admin, help) for `python -m appsrc settings`: the values
    the next send would use — the action's files when present, else `SMTP_*` — password hidden."""
    values, from_files = _smtp_values(secrets_dir, environ)
    rows = []
    for field in SMTP_FIELDS:
        value = values[field]
        shown = "" if value is None else "••••••" if field == "password" else value
        source = f"{secrets_dir / 'smtp' / field}" if from_files else "environment"
        rows.append((f"SMTP_{field.upper()}", shown, f"{SMTP_HELP[field]} [from {source}]"))
    return rows
