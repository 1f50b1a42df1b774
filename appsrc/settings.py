"""Every setting the appliance reads, declared once, parsed strictly into a frozen object.

Only the composition root (the CLI, which starts the web app and the worker) calls
`load_settings`; everything below it receives the `Settings` it needs. Secrets that StartOS actions write under
`$CRM_DATA_DIR/secrets/` are not captured here: they are re-read when used (see `secret_files.py`),
so a changed secret applies without a restart.
"""

from __future__ import annotations

import ipaddress
import os
import secrets as _secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """A setting has a value the appliance cannot use; the message names the variable."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false")


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"expected an integer from {low} to {high}") from None
        if not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return number

    return parse


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("expected a positive number")
    return number


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone (e.g. Europe/London)") from exc
    return value.strip()


def _domains(value: str) -> tuple[str, ...]:
    return tuple(sorted({d.strip().lower().lstrip("@") for d in value.replace(";", ",").split(",") if d.strip()}))


def _endpoint(value: str) -> str:
    """An https URL; plain http only to this machine (the bundled simulator), since the Gmail API
    carries delegated tokens and every captured email."""
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    if value.startswith("http://"):
        host = urlsplit(value).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("plain http is allowed only to this machine (localhost); use https")
    return value if value.endswith("/") else value + "/"


def _optional_url(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    return value.rstrip("/")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return lowered

    return parse


def _optional_str(value: str) -> str | None:
    return value.strip() or None


def _optional_bool(value: str) -> bool | None:
    return _bool(value) if value.strip() else None


def _optional_hour(value: str) -> int | None:
    return _int_range(0, 23)(value) if value.strip() else None


@dataclass(frozen=True)
class Spec:
    """One environment variable: its default (a string, parsed like user input) and what it does."""

    env: str
    field: str
    default: str | Callable[[dict[str, Any]], str]
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


SPECS: tuple[Spec, ...] = (
    Spec(
        "CRM_DATA_DIR",
        "data_dir",
        "./data",
        lambda v: Path(v).expanduser(),
        "Where the database, secrets and generated files live (/data in the container).",
    ),
    Spec(
        "CRM_DATABASE_URL",
        "database_url",
        lambda s: f"sqlite:///{s['data_dir'] / 'crm.sqlite3'}",
        str.strip,
        "Peewee database URL: sqlite:///path (default) or postgresql://user:pass@host/db.",
        secret=True,
    ),
    Spec(
        "CRM_SECRET_KEY",
        "secret_key",
        "",
        str.strip,
        "Flask session signing key; generated once into the data dir when empty.",
        secret=True,
    ),
    Spec("CRM_HOST", "host", "127.0.0.1", str.strip, "Address the dashboard listens on."),
    Spec("CRM_PORT", "port", "8050", _int_range(1, 65535), "Port the dashboard listens on."),
    Spec(
        "CRM_TIMEZONE",
        "timezone",
        "UTC",
        _timezone,
        "The fund's IANA time zone: decides the digest's local day and send hour.",
    ),
    Spec(
        "CRM_DWD_KEY_FILE",
        "dwd_key_file",
        lambda s: str(s["data_dir"] / "secrets" / "dwd" / "service_account.json"),
        lambda v: Path(v).expanduser(),
        "Service-account JSON key with domain-wide delegation (re-read when it changes).",
    ),
    Spec(
        "CRM_GMAIL_API_ENDPOINT",
        "gmail_api_endpoint",
        "https://gmail.googleapis.com/",
        _endpoint,
        "Gmail API root. Only tests and demo mode point it at the bundled simulator.",
    ),
    Spec(
        "CRM_OWN_DOMAINS",
        "own_domains",
        "",
        _domains,
        "The fund's own email domains (comma separated); else the delegation action's list, "
        "else derived from the team's mailboxes.",
    ),
    Spec(
        "CRM_SYNC_INTERVAL_S",
        "sync_interval_s",
        "300",
        _int_range(10, 86_400),
        "Seconds between incremental syncs of each mailbox.",
    ),
    Spec(
        "CRM_SYNC_QUOTA_FRACTION",
        "sync_quota_fraction",
        "0.97",
        _positive_float,
        "Share of Gmail's per-user quota (250 units/s) the sync paces itself to; below 1 leaves "
        "headroom. Above 1 only makes sense against a simulator without quota (benchmarks).",
    ),
    Spec(
        "CRM_GMAIL_PROJECT_QUOTA",
        "gmail_project_quota",
        "1200000",
        _int_range(60, 1_000_000_000),
        "Gmail API units per minute of the Google Cloud project (1,200,000 unless Google raised it). "
        "Every worker process together paces itself to it.",
    ),
    Spec(
        "CRM_WORKER_LEASE_S",
        "worker_lease_s",
        "60",
        _int_range(5, 3600),
        "Seconds a worker's claim on a mailbox lasts unless renewed: how long a dead worker's "
        "mailboxes wait before another worker continues them.",
    ),
    Spec(
        "CRM_WORKER_SYNCS",
        "worker_syncs",
        "4",
        _int_range(1, 64),
        "Mailboxes one worker process syncs at once. Each is paced by Gmail's per-user quota, so a "
        "worker with spare CPU can take more; past one core's worth of parsing, add worker processes.",
    ),
    Spec(
        "CRM_EMBEDDED_WORKER",
        "embedded_worker",
        "on",
        _bool,
        "Run the worker (capture and digest) inside `serve`. Turn off when worker processes run "
        "on their own (`python -m appsrc worker`, PostgreSQL only for more than one).",
    ),
    Spec(
        "CRM_DIGEST_SENDER",
        "digest_sender",
        "",
        _optional_str,
        "Mailbox the digest is sent from via delegation; else the first active admin.",
    ),
    Spec(
        "CRM_DIGEST_ENABLED",
        "digest_enabled",
        "",
        _optional_bool,
        "First-boot default for the digest toggle (the admin panel's value wins once saved).",
    ),
    Spec(
        "CRM_DIGEST_SEND_HOUR",
        "digest_send_hour",
        "",
        _optional_hour,
        "First-boot default for the digest hour, 0-23 local time (the admin panel's value wins).",
    ),
    Spec(
        "CRM_LLM_URL",
        "llm_url",
        "",
        _optional_url,
        "Base URL of the fund's local OpenAI-compatible server; never a cloud endpoint.",
    ),
    Spec("CRM_LLM_MODEL", "llm_model", "local", str.strip, "Model name sent to the local LLM server."),
    Spec(
        "CRM_LLM_TIMEOUT_S",
        "llm_timeout_s",
        "20",
        _positive_float,
        "Seconds before one LLM call gives up and the deterministic fallback is used.",
    ),
    Spec(
        "CRM_DEMO",
        "demo",
        "auto",
        _choice("auto", "on", "off"),
        "Demo mode with the bundled Gmail simulator: auto = when no delegation key is configured.",
    ),
    Spec(
        "CRM_LOG_LEVEL",
        "log_level",
        "info",
        _choice("debug", "info", "warning", "error"),
        "Logging level of the appliance's logs (stderr).",
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    host: str
    port: int
    timezone: str
    dwd_key_file: Path
    gmail_api_endpoint: str
    own_domains: tuple[str, ...]
    sync_interval_s: int
    sync_quota_fraction: float
    gmail_project_quota: int
    worker_lease_s: int
    worker_syncs: int
    embedded_worker: bool
    digest_sender: str | None
    digest_enabled: bool | None
    digest_send_hour: int | None
    llm_url: str | None
    llm_model: str
    llm_timeout_s: float
    demo: str
    log_level: str

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def redacted(self) -> dict[str, str]:
        """Settings as shown to admins: secret values replaced, never echoed."""
        shown = {}
        for spec in SPECS:
            value = getattr(self, spec.field)
            shown[spec.env] = "••••••" if spec.secret and value else ("" if value is None else str(value))
        return shown

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse every setting from the environment; raise SettingsError naming the bad variable."""
    environ = os.environ if environ is None else environ
    parsed: dict[str, Any] = {}
    for spec in SPECS:
        raw = environ.get(spec.env)
        if raw is None or (raw.strip() == "" and spec.field in {"data_dir", "database_url"}):
            raw = spec.default(parsed) if callable(spec.default) else spec.default
        try:
            parsed[spec.field] = spec.parse(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{spec.env}={raw!r}: {exc}") from None
    if not parsed["secret_key"]:
        parsed["secret_key"] = _persistent_secret_key(parsed["data_dir"])
    return Settings(**parsed)


def _persistent_secret_key(data_dir: Path) -> str:
    """Generate the session key once and keep it in the data dir, so restarts keep sessions."""
    path = data_dir / "secrets" / "flask_secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(tmp, path)  # first writer wins when two processes start at once
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
