"""The no-skip rule (tests/no_skips.py) can fail a run: small sessions in their own processes,
with this suite's conftest, on a machine declared CI-like (`CI=true`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import no_skips

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

ONE_SKIPS = """
import pytest


def test_runs():
    pass


def test_needs_a_browser():
    pytest.skip("no chromium here")
"""


@pytest.fixture
def inner(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest("from tests.conftest import *  # noqa: F401,F403\n")
    return pytester


@pytest.mark.parametrize("workers", [["-p", "no:xdist"], ["-n", "1"]], ids=["no-xdist", "xdist-worker"])
def test_a_skip_on_ci_fails_the_run_and_says_which(inner, workers):
    inner.makepyfile(test_inner=ONE_SKIPS)
    result = inner.runpytest_subprocess(*workers)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "1 test(s) skipped on a CI-like machine (CI=true): the run fails",
            "SKIPPED ON CI: test_inner.py::test_needs_a_browser: no chromium here",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_run_without_skips_passes_on_ci(inner):
    inner.makepyfile(test_inner="def test_runs():\n    pass\n")
    result = inner.runpytest_subprocess("-n", "1")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*skipped on a CI-like machine*")
    assert result.ret == pytest.ExitCode.OK


def test_what_counts_as_ci_like(monkeypatch):
    """CI=true always does; otherwise only a root machine with what `make test` installs."""
    monkeypatch.setenv("CI", "true")
    no_skips.ci_like.cache_clear()
    assert no_skips.ci_like() == "CI=true"
    monkeypatch.delenv("CI")
    monkeypatch.setattr(no_skips.os, "geteuid", lambda: 1000)
    no_skips.ci_like.cache_clear()
    assert no_skips.ci_like() is None  # a developer's own account: skips are reported, not fatal
    monkeypatch.setattr(no_skips.os, "geteuid", lambda: 0)
    monkeypatch.setattr(no_skips.shutil, "which", lambda name: None if name == "chromedriver" else f"/usr/bin/{name}")
    no_skips.ci_like.cache_clear()
    assert no_skips.ci_like() is None  # root, but no browser driver: not what CI has
    no_skips.ci_like.cache_clear()
