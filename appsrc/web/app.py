"""The Flask app factory: the web composition root.

Order matters: authentication is installed before Dash mounts, so its deny-by-default hook runs
before any of Dash's own request hooks.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request

from appsrc.runtime import Runtime
from appsrc.store.db import database
from appsrc.web.digest_api import blueprint as digest_blueprint
from appsrc.web.drafts_api import blueprint as drafts_blueprint

# The login page's stylesheets (public); the dashboard serves the same files from its assets.
STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "assets"


def create_app(runtime: Runtime, *, dashboard: bool = True) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
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
    app.register_blueprint(api.blueprint)
    app.register_blueprint(digest_blueprint)
    app.register_blueprint(drafts_blueprint)
    # Further API blueprints register here, one line each (they use auth.admin_required).

    if dashboard:
        from appsrc.dashboard.app import mount_dashboard

        mount_dashboard(app, runtime)
    return app
