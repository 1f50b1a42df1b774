"""The Flask app factory: the web composition root.

Order matters: authentication is installed before Dash mounts, so its deny-by-default hook runs
before any of Dash's own request hooks.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.routing import IntegerConverter

from appsrc.runtime import Runtime
from appsrc.store.db import database
from appsrc.store.queries import is_row_id
from appsrc.web.approvals_api import blueprint as approvals_blueprint
from appsrc.web.awaiting_api import blueprint as awaiting_blueprint
from appsrc.web.conversations_api import blueprint as conversations_blueprint
from appsrc.web.digest_api import blueprint as digest_blueprint
from appsrc.web.drafts_api import blueprint as drafts_blueprint
from appsrc.web.people_api import blueprint as people_blueprint
from appsrc.web.records_api import blueprint as records_blueprint

# The login page's stylesheets (public); the dashboard serves the same files from its assets.
STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "assets"


class RowIdConverter(IntegerConverter):
    """`<int:...>` in our URLs is always a row id. ASCII digits only (a bare \\d also takes other
    scripts' digits); the range (1..2^63-1) is checked once the route is known (`_ids_in_range`),
    so an id too big for the database answers 404 on every route, whatever its methods."""

    regex = r"[0-9]{1,40}"


def create_app(runtime: Runtime, *, dashboard: bool = True) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.config.update(
        SECRET_KEY=runtime.settings.secret_key,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions["runtime"] = runtime

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        if not database.is_closed():
            database.close()

    @app.get("/healthz")
    def healthz():
        """Public liveness: the database answers. No details."""
        database.execute_sql("SELECT 1")
        return jsonify({"ok": True})

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _http_error(exc):
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.description.split(".")[0], "field": None}), exc.code
        return exc

    from appsrc.web import api, auth

    auth.install(app)

    @app.before_request
    def _ids_in_range():
        """After authentication (registered after it): a path id the database cannot hold is an
        unknown id, not a query that fails."""
        for name, value in (request.view_args or {}).items():
            if type(value) is int and not is_row_id(value):
                return jsonify({"error": f"no such {name.removesuffix('_id')}", "field": name}), 404
        return None

    app.register_blueprint(api.blueprint)
    app.register_blueprint(digest_blueprint)
    app.register_blueprint(drafts_blueprint)
    app.register_blueprint(people_blueprint)
    app.register_blueprint(records_blueprint)
    app.register_blueprint(approvals_blueprint)
    app.register_blueprint(conversations_blueprint)
    app.register_blueprint(awaiting_blueprint)
    # Further API blueprints register here, one line each (they use auth.admin_required).

    if dashboard:
        from appsrc.dashboard.app import mount_dashboard

        mount_dashboard(app, runtime)
    return app
