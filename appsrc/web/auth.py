"""Authentication for the web app: deny by default.

Every request except `/healthz` needs a user. The JSON API accepts `Authorization: Bearer
<token>` (issued by `python -m appsrc users token`); unauthenticated API calls get 401 JSON and
non-admins 403 JSON.
"""

from __future__ import annotations

from functools import wraps

from flask import Flask, current_app, g, jsonify, request

from appsrc.crm.users import user_for_token

PUBLIC_PATHS = frozenset({"/healthz"})


def install(app: Flask) -> None:
    @app.before_request
    def _authenticate():
        g.user = None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            g.user = user_for_token(header[7:].strip(), current_app.extensions["runtime"].clock.now())
        if request.path in PUBLIC_PATHS:
            return None
        if g.user is None:
            return jsonify({"error": "authentication required"}), 401
        return None


def admin_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = g.get("user")
        if user is None:
            return jsonify({"error": "authentication required"}), 401
        if not user.is_admin:
            return jsonify({"error": "admin only"}), 403
        return view(*args, **kwargs)

    return wrapper
