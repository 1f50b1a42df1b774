"""The locks: pyproject.toml declares the direct dependencies, requirements/*.lock pin every
transitive version with its hashes (`make lock`), and everything installs from the locks alone."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of one lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = (REPO / "requirements" / name).read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", block)
        if head:
            entries[normalize(head.group(1))] = (head.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", requirement.split(";")[0].strip()).groups()
        found[normalize(name)] = version
    return found


def test_every_direct_dependency_is_pinned_exactly_and_locked_at_that_version():
    runtime, test = lock("runtime.lock"), lock("test.lock")
    for name, version in pins(PROJECT["project"]["dependencies"]).items():
        assert runtime[name][0] == version, name
    for name, version in pins(PROJECT["project"]["optional-dependencies"]["test"]).items():
        assert test[name][0] == version, name


def test_every_locked_distribution_has_hashes():
    for name in ("runtime.lock", "test.lock"):
        entries = lock(name)
        assert len(entries) > 40
        assert all(hashes for _, hashes in entries.values()), name


def test_the_suite_runs_on_the_versions_the_image_ships():
    runtime, test = lock("runtime.lock"), lock("test.lock")
    assert {name: entry[0] for name, entry in runtime.items()} == {name: test[name][0] for name in runtime}


def test_the_lock_holds_what_building_the_project_without_isolation_needs():
    """`make install` and the image install the project with --no-build-isolation, so the
    build backend must come from the lock too."""
    requirement = PROJECT["build-system"]["requires"]
    assert requirement == ["setuptools>=77"]
    version = lock("runtime.lock")["setuptools"][0]
    assert int(version.split(".")[0]) >= 77
