"""No test may skip on a machine like CI's.

A skip is a test that did not run: on a developer's laptop without Docker it is honest, on CI it
hides a regression (a fixture that cannot start, a CLI that no longer imports). `make test`
installs everything the suite needs, so on a machine like CI's (root, Debian's chromium and
chromium-driver, PostgreSQL's server binaries and a running Docker engine, or simply `CI=true`)
any skip fails the run. conftest.py feeds every test report here and asks for the verdict at
the end of the session (on the xdist controller, which sees every worker's reports).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess

SKIPPED: list[str] = []


def record(report) -> None:
    if report.skipped:
        SKIPPED.append(f"{report.nodeid}: {_reason(report)}")


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")[:200]


@functools.cache
def ci_like() -> str | None:
    """Why this machine counts as CI-like, or None when it does not."""
    if os.environ.get("CI", "").lower() == "true":
        return "CI=true"
    missing = [
        name
        for name, present in (
            ("root", os.geteuid() == 0),
            ("chromium", shutil.which("chromium") is not None),
            ("chromedriver", shutil.which("chromedriver") is not None),
            ("PostgreSQL", bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))),
            ("Docker", _docker_running()),
        )
        if not present
    ]
    return None if missing else "root with chromium, PostgreSQL and Docker"


def _docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
