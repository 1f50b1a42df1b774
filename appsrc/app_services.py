"""The long-lived services a running web app holds, found from Flask's current app.

The JSON API (`appsrc.web`) and the dashboard (`appsrc.dashboard`) both act on the runtime and
the digest; neither imports the other for it. The app factory puts the runtime in
`app.extensions["runtime"]`; the digest service and its job runner are built from it on first
use (a test may put its own service in `app.extensions["digest"]` first).
"""

from __future__ import annotations

import threading

from flask import current_app

from appsrc.digest.jobs import DigestJobs
from appsrc.digest.service import DigestService, build_digest_service
from appsrc.runtime import Runtime

_lock = threading.Lock()


def runtime() -> Runtime:
    return current_app.extensions["runtime"]


def digest_service() -> DigestService:
    """The app's digest service (built once from the runtime; an app may be given its own)."""
    extensions = current_app.extensions
    with _lock:
        if "digest" not in extensions:
            extensions["digest"] = build_digest_service(extensions["runtime"])
        return extensions["digest"]


def digest_jobs() -> DigestJobs:
    service = digest_service()
    extensions = current_app.extensions
    with _lock:
        jobs = extensions.get("digest_jobs")
        if jobs is None or jobs.service is not service:
            jobs = extensions["digest_jobs"] = DigestJobs(service)
        return jobs
