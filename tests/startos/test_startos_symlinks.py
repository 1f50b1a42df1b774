"""The root helpers never follow a symlink the app user planted in /data.

The entrypoint and the actions run as root in a volume the app user can write. Each planted link
below points outside the volume; after the helper ran, nothing outside was read, chmodded,
written or deleted, and the helper either refused by name or replaced the link itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import startos_support as support
from test_startos_entrypoint import entrypoint

FIELDS = ("host", "port", "password")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the data volume, standing for /etc, with a file that must survive."""
    path = tmp_path / "outside"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    (path / "canary").write_text("do not touch")
    return path


def untouched(outside: Path) -> bool:
    return (
        stat.S_IMODE(outside.stat().st_mode) == 0o755
        and sorted(p.name for p in outside.iterdir()) == ["canary"]
        and (outside / "canary").read_text() == "do not touch"
    )


def test_a_planted_old_generation_is_unlinked_never_entered(data_dir, outside, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "a"}, FIELDS)
    (directory / ".gen-planted").symlink_to(outside)
    support.write_secret_set(directory, {"host": "b"}, FIELDS)
    assert untouched(outside)
    assert not (directory / ".gen-planted").exists() and not (directory / ".gen-planted").is_symlink()
    assert support.read_secret(directory / "host") == "b"


@pytest.mark.parametrize("planted", ["secrets", "secrets/smtp"])
def test_a_symlinked_directory_is_refused_by_name(data_dir, outside, monkeypatch, planted):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    link = data_dir / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    with pytest.raises(support.ActionError, match="symbolic link"):
        support.write_secret_set(data_dir / "secrets" / "smtp", {"host": "a"}, FIELDS)
    assert untouched(outside)


def test_a_field_link_leading_out_of_the_volume_is_never_read(data_dir, outside, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    directory = data_dir / "secrets" / "smtp"
    support.write_secret_set(directory, {"host": "a"}, FIELDS)
    (directory / "host").unlink()
    (directory / "host").symlink_to(outside / "canary")
    assert support.read_secret(directory / "host") is None
    assert "do not touch" not in support.properties_text(None, data_dir)


def test_the_properties_file_replaces_a_planted_link_and_never_writes_through_it(data_dir, outside, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    path = support.properties_path(data_dir)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside / "canary")
    assert support.write_properties(None, data_dir) is True
    assert untouched(outside)
    assert not path.is_symlink() and "Dashboard" in path.read_text()


def test_a_symlinked_properties_directory_is_refused(data_dir, outside, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    (data_dir / "start9").symlink_to(outside)
    with pytest.raises(support.ActionError, match="symbolic link"):
        support.write_properties(None, data_dir)
    assert untouched(outside)


@pytest.mark.parametrize("planted", ["secrets", "start9", "settings"])
def test_the_entrypoint_refuses_to_start_on_a_symlinked_directory(data_dir, outside, planted):
    (data_dir / planted).symlink_to(outside)
    proc = entrypoint(data_dir, "true")
    assert proc.returncode == 1 and f"{planted} is a symbolic link" in proc.stderr
    assert untouched(outside)


def test_the_entrypoints_temporary_file_is_always_new(data_dir):
    """The backup-ignore list is written through mktemp, so no name can be guessed and planted."""
    proc = entrypoint(data_dir, "true")
    assert proc.returncode == 0, proc.stderr
    assert (data_dir / ".backupignore").read_text().splitlines()[0] == "demo"
    assert [p for p in os.listdir(data_dir) if p.startswith(".backupignore.tmp-")] == []
