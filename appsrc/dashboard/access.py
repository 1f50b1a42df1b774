"""Who may run what in the dashboard: the checks the web layer's request hook applies.

Callbacks are admin-only unless their function is marked with `member_callback`; pages are
admin-only unless registered with `access="member"`. Admin callbacks that change data also
call `acting_admin()`, which re-checks and returns the user to record in the audit log.
"""

from __future__ import annotations

from functools import wraps

from flask import g, has_request_context, request

from appsrc.store.models import User

# Dash's own page router (it renders the layout of the page at a path; the layouts of admin
# pages are gated below, so any signed-in user may call it).
ROUTER_OUTPUTS = ("_pages_content.children", "_pages_store.data")


class NotAllowed(PermissionError):
    pass


def member_callback(func):
    """Mark a callback as usable by every signed-in user (apply under `@dash.callback`)."""
    func.member_callback = True
    return func


def current_user() -> User | None:
    return g.get("user") if has_request_context() else None


def acting_admin() -> User:
    """The signed-in admin running this callback; raises NotAllowed otherwise."""
    user = current_user()
    if user is None or not user.is_admin or not user.is_active:
        raise NotAllowed("admin only")
    return user


def callback_access(callback_map: dict, output_key: str) -> str | None:
    """ "member", "admin", or None when no server-side callback has this output."""
    entry = callback_map.get(output_key)
    if entry is None or not callable(entry.get("callback")):
        return None
    if getattr(entry["callback"], "member_callback", False):
        return "member"
    if all(part in output_key for part in ROUTER_OUTPUTS):
        return "member"
    return "admin"


def gate_layout(layout, forbidden):
    """Wrap an admin page's layout: Dash's router renders `forbidden()` for non-admins.

    Only the router call is gated (inside a callback request): the one validation call Dash
    makes at start-up must see the real component tree, which holds no data anyway."""
    if getattr(layout, "gated", False) or not callable(layout):
        return layout

    @wraps(layout)
    def gated(**kwargs):
        if has_request_context() and request.path.endswith("/_dash-update-component"):
            user = current_user()
            if user is None or not user.is_admin:
                return forbidden()
        return layout(**kwargs)

    gated.gated = True
    return gated
