"""The Flask app factory: the web composition root."""

from __future__ import annotations

from flask import Flask, jsonify

from appsrc.runtime import Runtime
from appsrc.store.db import database
from appsrc.web.digest_api import blueprint as digest_blueprint
from appsrc.web.drafts_api import blueprint as drafts_blueprint


def create_app(runtime: Runtime) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=runtime.settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
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

    from appsrc.web import api, auth

    auth.install(app)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(digest_blueprint)
    app.register_blueprint(drafts_blueprint)
    return app
