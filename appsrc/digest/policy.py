"""The digest's on/off switch and send hour, set from the admin panel and read live each cycle.

Precedence: the `app_settings.digest_policy` row wins; else `CRM_DIGEST_ENABLED` /
`CRM_DIGEST_SEND_HOUR` seed a first-boot default (each on its own); else `{enabled: false,
send_hour: 18}`. The environment is not copied into the database: until an admin saves the
policy, a changed environment still applies. `send_hour` is the fund's local hour (`CRM_TIMEZONE`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from appsrc.crm import audit
from appsrc.store.db import database
from appsrc.store.models import AppSetting, User

log = logging.getLogger(__name__)

POLICY_KEY = "digest_policy"
DEFAULT_ENABLED = False
DEFAULT_SEND_HOUR = 18  # 6 PM local (locked)


class PolicyError(ValueError):
    """A policy change is invalid; `field` names the offending field. Nothing was changed."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DigestPolicy:
    enabled: bool
    send_hour: int
    source: str  # "database" | "environment" | "default"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _valid_hour(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23


def load_digest_policy(env_enabled: bool | None = None, env_send_hour: int | None = None) -> DigestPolicy:
    """The effective policy. `env_*` are `Settings.digest_enabled` / `digest_send_hour`."""
    row = AppSetting.get_or_none(AppSetting.key == POLICY_KEY)
    stored = row.value if row is not None and isinstance(row.value, dict) else None
    enabled = DEFAULT_ENABLED if env_enabled is None else bool(env_enabled)
    send_hour = DEFAULT_SEND_HOUR if env_send_hour is None else int(env_send_hour)
    source = "default" if env_enabled is None and env_send_hour is None else "environment"
    if stored is not None:
        # A row hand-edited into nonsense keeps the fields that are valid and says so once.
        if isinstance(stored.get("enabled"), bool):
            enabled = stored["enabled"]
        else:
            log.warning("app_settings.%s.enabled is not a boolean; using %s", POLICY_KEY, enabled)
        if _valid_hour(stored.get("send_hour")):
            send_hour = stored["send_hour"]
        else:
            log.warning("app_settings.%s.send_hour is not 0-23; using %s", POLICY_KEY, send_hour)
        source = "database"
    return DigestPolicy(enabled, send_hour, source)


def validate_policy_patch(body: Any) -> dict[str, Any]:
    """The changes in a PATCH body, or PolicyError naming the field. Strict JSON types: `enabled`
    is true/false (not "yes", not 1) and `send_hour` a whole number 0-23 (not "18", not true)."""
    if not isinstance(body, dict):
        raise PolicyError('expected a JSON object such as {"enabled": true, "send_hour": 18}', "body")
    unknown = sorted(set(body) - {"enabled", "send_hour"})
    if unknown:
        raise PolicyError(f"unknown field {unknown[0]!r} (expected enabled, send_hour)", unknown[0])
    if not body:
        raise PolicyError("nothing to change: give enabled and/or send_hour", "body")
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise PolicyError("enabled must be true or false", "enabled")
    if "send_hour" in body and not _valid_hour(body["send_hour"]):
        raise PolicyError("send_hour must be a whole number from 0 to 23 (the fund's local hour)", "send_hour")
    return dict(body)


def update_digest_policy(
    body: Any,
    now: datetime,
    *,
    actor: User | None = None,
    actor_label: str = "",
    env_enabled: bool | None = None,
    env_send_hour: int | None = None,
) -> DigestPolicy:
    """Validate, then write the whole policy row and its audit event in one transaction."""
    changes = validate_policy_patch(body)
    with database.atomic():
        before = load_digest_policy(env_enabled, env_send_hour)
        value = {
            "enabled": changes.get("enabled", before.enabled),
            "send_hour": changes.get("send_hour", before.send_hour),
        }
        updated = AppSetting.update(value=value, updated_at=now).where(AppSetting.key == POLICY_KEY).execute()
        if not updated:
            AppSetting.create(key=POLICY_KEY, value=value, updated_at=now)
        audit.record(
            "digest.policy.update",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="app_setting",
            target_id=POLICY_KEY,
            detail={
                "before": {"enabled": before.enabled, "send_hour": before.send_hour, "source": before.source},
                "after": value,
            },
        )
    return DigestPolicy(value["enabled"], value["send_hour"], "database")
