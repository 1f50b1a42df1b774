"""Team members, passwords and API tokens.

A team member's mailbox is their own address; admins also use the dashboard and are the only
digest recipients. Passwords are hashed with werkzeug's scrypt; API tokens are random and only
their SHA-256 is stored. A user's tokens are revoked whenever the trust they were issued under
ends: they stop being an admin, they are deactivated, or their password is reset or set anew
(a token copied along with a leaked password must not outlive the reset).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError, clean_address
from appsrc.store.db import database
from appsrc.store.models import ApiToken, AppSetting, EmailAccount, User

MIN_PASSWORD = 10
ADMIN_DOMAIN_RULE = "admins_in_own_domains"  # app_setting: "on" | "off" (m0012)


class UserExists(ValidationError):
    pass


class UnknownUser(ValidationError):
    pass


def admin_domain_rule_on() -> bool:
    row = AppSetting.get_or_none(AppSetting.key == ADMIN_DOMAIN_RULE)
    return row is not None and row.value == "on"


def set_admin_domain_rule(on: bool, now: datetime, *, actor: User | None = None, actor_label: str = "") -> None:
    """Turn on or off the rule that admins have an address at the fund's own domains (audited)."""
    with database.atomic():
        value = "on" if on else "off"
        if not AppSetting.update(value=value, updated_at=now).where(AppSetting.key == ADMIN_DOMAIN_RULE).execute():
            AppSetting.create(key=ADMIN_DOMAIN_RULE, value=value, updated_at=now)
        audit.record(
            "settings.admin_domain_rule",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="setting",
            target_id=ADMIN_DOMAIN_RULE,
            detail={"value": value},
        )


def check_admin_domain(address: str, own_domains: Collection[str]) -> None:
    """Admins receive the digest: with the rule on, one must have an address at one of the
    fund's own domains (or a subdomain). Not judged while the fund's domains are unknown (a
    first admin on a new install)."""
    if not own_domains or not admin_domain_rule_on():
        return
    domain = address.rpartition("@")[2].lower()
    if not any(domain == d or domain.endswith("." + d) for d in own_domains):
        raise ValidationError(
            f"{address} is not at one of the fund's own domains ({', '.join(sorted(own_domains))}); admins "
            "receive the digest, so they must be (or turn the rule off: `python -m appsrc users admin-domains off`)",
            field="email",
        )


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", field="password")
    return password


def add_user(
    email: str,
    name: str,
    now: datetime,
    *,
    is_admin: bool = False,
    password: str | None = None,
    actor: User | None = None,
    actor_label: str = "",
    own_domains: Collection[str] = (),
) -> User:
    """Create a team member and their mailbox (the same address)."""
    address = clean_address(email, field="email")
    if is_admin:
        check_admin_domain(address, own_domains)
    if password is not None:
        check_password_strength(password)
    with database.atomic():
        if User.select().where(User.email == address).exists():
            raise UserExists(f"a user with the address {address} already exists", field="email")
        user = User.create(
            email=address,
            name=(name or "").strip()[:200],
            is_admin=is_admin,
            is_active=True,
            password_hash=generate_password_hash(password) if password else None,
            created_at=now,
            updated_at=now,
        )
        account = EmailAccount.get_or_none(EmailAccount.address == address)
        if account is None:
            EmailAccount.create(user=user, address=address, created_at=now)
        else:
            account.user = user
            account.save()
        audit.record(
            "user.add",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="user",
            target_id=user.id,
            detail={"email": address, "is_admin": is_admin},
        )
    return user


def get_user(email: str) -> User:
    user = User.get_or_none(User.email == (email or "").strip().lower())
    if user is None:
        raise UnknownUser(f"no user with the address {email!r}", field="email")
    return user


def set_password(
    email: str,
    password: str,
    now: datetime,
    *,
    make_admin: bool = False,
    actor: User | None = None,
    actor_label: str = "",
    own_domains: Collection[str] = (),
) -> User:
    check_password_strength(password)
    with database.atomic():
        user = get_user(email)
        if make_admin and not user.is_admin:
            check_admin_domain(user.email, own_domains)
        user.password_hash = generate_password_hash(password)
        if make_admin:
            user.is_admin = True
            user.is_active = True
        user.updated_at = now
        user.save()
        end_sessions(user.id)
        revoked = _revoke_tokens(user.id, now)
        audit.record(
            "user.set_password",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="user",
            target_id=user.id,
            detail={"make_admin": make_admin, "tokens_revoked": revoked},
        )
    return user


def verify_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password or "")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class NotAnAdmin(ValidationError):
    pass


def issue_token(email: str, now: datetime, *, label: str = "", actor_label: str = "") -> str:
    """A new Bearer token for scripts; shown once, stored hashed. Only for active admins: the API
    is admin-only, so a teammate's token could do nothing but leak."""
    user = get_user(email)
    if not user.is_active:
        raise ValidationError(f"{user.email} is deactivated", field="email")
    if not user.is_admin:
        raise NotAnAdmin(
            f"{user.email} is not an admin: API tokens are for admins' scripts "
            "(make them an admin first if they need one)",
            field="email",
        )
    token = "irm_" + secrets.token_urlsafe(32)
    with database.atomic():
        ApiToken.create(user=user, token_hash=token_hash(token), label=label[:100], created_at=now)
        audit.record(
            "token.issue",
            now,
            actor_label=actor_label,
            target_type="user",
            target_id=user.id,
            detail={"label": label[:100]},
        )
    return token


def end_sessions(user_id: int) -> None:
    """Sign the user out everywhere: every session cookie issued so far names an older version."""
    User.update(session_version=User.session_version + 1).where(User.id == user_id).execute()


def _revoke_tokens(user_id: int, now: datetime) -> int:
    """Revoke every live token of a user; returns how many."""
    return ApiToken.update(revoked_at=now).where((ApiToken.user == user_id) & ApiToken.revoked_at.is_null()).execute()


def user_for_token(token: str, now: datetime) -> User | None:
    """The active user a Bearer token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    row = (
        ApiToken.select(ApiToken, User)
        .join(User)
        .where((ApiToken.token_hash == token_hash(token)) & ApiToken.revoked_at.is_null() & User.is_active)
        .first()
    )
    if row is None:
        return None
    ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return row.user


# -- administration from the dashboard ----------------------------------------------------------
class LastAdmin(ValidationError):
    pass


def _active_admins_besides(user_id: int) -> int:
    return User.select().where(User.is_admin & User.is_active & (User.id != user_id)).count()


def update_user(
    user_id: int,
    now: datetime,
    *,
    is_admin: bool | None = None,
    is_active: bool | None = None,
    name: str | None = None,
    actor: User | None = None,
    actor_label: str = "",
    own_domains: Collection[str] = (),
) -> User:
    """Make admin / remove admin, deactivate / reactivate, rename. The last active admin can
    neither lose the role nor be deactivated (nobody could sign in to undo it)."""
    with database.atomic():
        user = User.get_or_none(User.id == user_id)
        if user is None:
            raise UnknownUser("no such user", field="user_id")
        changes: dict[str, object] = {}
        losing_admin = (is_admin is False and user.is_admin) or (
            is_active is False and user.is_active and user.is_admin
        )
        if losing_admin and _active_admins_besides(user.id) == 0:
            raise LastAdmin(f"{user.email} is the last active admin", field="user_id")
        if is_admin and not user.is_admin:
            check_admin_domain(user.email, own_domains)
        for attr, value in (("is_admin", is_admin), ("is_active", is_active)):
            if value is not None and getattr(user, attr) != bool(value):
                changes[attr] = bool(value)
                setattr(user, attr, bool(value))
        if name is not None and name.strip()[:200] != user.name:
            changes["name"] = name.strip()[:200]
            user.name = changes["name"]
        if changes:
            user.updated_at = now
            user.save()
            if changes.get("is_active") is False or changes.get("is_admin") is False:
                changes["tokens_revoked"] = _revoke_tokens(user.id, now)
            if changes.get("is_active") is False:
                end_sessions(user.id)
            audit.record(
                "user.update",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="user",
                target_id=user.id,
                detail={"email": user.email, **changes},
            )
    return user


def reset_password(
    user_id: int, now: datetime, *, password: str | None = None, actor: User | None = None, actor_label: str = ""
) -> tuple[User, str]:
    """Set a new password (a generated one when none is given); returns it to show once.
    Every session of the user ends (sessions are bound to the password hash), and every token."""
    password = password if password else secrets.token_urlsafe(12)
    check_password_strength(password)
    with database.atomic():
        user = User.get_or_none(User.id == user_id)
        if user is None:
            raise UnknownUser("no such user", field="user_id")
        user.password_hash = generate_password_hash(password)
        user.updated_at = now
        user.save()
        end_sessions(user.id)
        revoked = _revoke_tokens(user.id, now)
        audit.record(
            "user.reset_password",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="user",
            target_id=user.id,
            detail={"email": user.email, "tokens_revoked": revoked},
        )
    return user, password


def revoke_token(token_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> None:
    with database.atomic():
        updated = (
            ApiToken.update(revoked_at=now).where((ApiToken.id == token_id) & ApiToken.revoked_at.is_null()).execute()
        )
        if not updated:
            raise ValidationError("no such active token", field="token_id")
        audit.record("token.revoke", now, actor=actor, actor_label=actor_label, target_type="token", target_id=token_id)
