"""docker_entrypoint.sh on a temporary data volume, with a command override in place of the
server: exported settings, real migrations, permissions, properties, and the privilege drop."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

import startos_support as support
from startos_helpers import HEALTH, REPO, real_cli_missing, run_script, script_env

ENTRYPOINT = REPO / "docker_entrypoint.sh"
NO_SUCH_USER = "crm-test-no-such-user"  # so the run never drops privileges by accident
SMTP = {"host": "smtp.fund.com", "port": "587", "security": "starttls",
        "username": "ir-desk@fund.com", "password": "pa$$ word 'quoted'", "from": "IR <ir@fund.com>"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entrypoint(data_dir: Path, *command: str, **env: str) -> subprocess.CompletedProcess:
    environment = script_env(data_dir, CRM_APP_USER=NO_SUCH_USER)
    environment.update(env)
    return subprocess.run([str(ENTRYPOINT), *command], capture_output=True, text=True,
                          env=environment, cwd=data_dir, timeout=60)


def exported(stdout: str) -> dict[str, str]:
    """`env -0` output as a dict (NUL-separated, so values may hold anything)."""
    return dict(item.split("=", 1) for item in stdout.split("\0") if "=" in item)


def test_prepares_exports_migrates_and_writes_properties(data_dir):
    support.write_secret_set(data_dir / "secrets" / "smtp", SMTP, support.SMTP_FIELDS,
                             root=data_dir)
    support.write_secret_set(data_dir / "secrets" / "dwd",
                             {"own_domains": "fund.com\n\nfund-partners.com\n"},
                             support.DWD_FIELDS, root=data_dir)
    (data_dir / "secrets").chmod(0o755)  # e.g. after a restore: tightened again at start
    (data_dir / "secrets" / "stray").write_text("x")
    (data_dir / "secrets" / "stray").chmod(0o644)

    proc = entrypoint(data_dir, "env", "-0", SMTP_HOST="stale.example.com")
    assert proc.returncode == 0, proc.stderr
    env = exported(proc.stdout)

    assert {k: v for k, v in env.items() if k.startswith("SMTP_")} == {
        "SMTP_HOST": "smtp.fund.com", "SMTP_PORT": "587", "SMTP_SECURITY": "starttls",
        "SMTP_USERNAME": "ir-desk@fund.com", "SMTP_PASSWORD": "pa$$ word 'quoted'",
        "SMTP_FROM": "IR <ir@fund.com>"}  # the files win over an inherited value
    assert env["CRM_DWD_KEY_FILE"] == str(data_dir / "secrets" / "dwd" / "service_account.json")
    assert "CRM_OWN_DOMAINS" not in env  # read live from secrets/dwd/own_domains by the app
    assert env["CRM_DATA_DIR"] == str(data_dir)

    with sqlite3.connect(data_dir / "crm.sqlite3") as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migration")]
    assert versions and versions[0] == 1

    assert stat.S_IMODE((data_dir / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secrets" / "stray").stat().st_mode) == 0o600

    properties_file = data_dir / "start9" / "stats.yaml"
    properties = yaml.safe_load(properties_file.read_text())
    assert properties["version"] == 2
    assert {"Dashboard", "Mailboxes syncing", "Last digest", "Digest SMTP",
            "Delegation client ID"} <= set(properties["data"])
    for entry in properties["data"].values():
        assert entry["type"] == "string" and isinstance(entry["value"], str)
        assert {"description", "copyable", "qr", "masked"} <= set(entry)
    assert properties["data"]["Digest SMTP"]["value"] == "smtp.fund.com:587 (starttls)"
    # From the real `appsrc status --json` of the freshly migrated database (no key: demo).
    assert properties["data"]["Mailboxes syncing"]["value"] == "0 of 0"
    assert properties["data"]["Mode"]["value"] == "Demo (simulated mailboxes)"
    assert SMTP["password"] not in properties_file.read_text()
    assert SMTP["password"] not in proc.stderr


def test_a_fresh_volume_serves_under_tini_with_preset_domains_kept(data_dir, tmp_path):
    """No secrets yet; no arguments: the server is exec'd as `tini -- python -m appsrc serve`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tini = bin_dir / "tini"
    fake_tini.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$TINI_LOG"\n'
                         'echo "own=$CRM_OWN_DOMAINS smtp=${SMTP_HOST-unset}" >> "$TINI_LOG"\n')
    fake_tini.chmod(0o755)
    log = tmp_path / "tini.log"
    env = script_env(data_dir, CRM_APP_USER=NO_SUCH_USER, TINI_LOG=str(log),
                     CRM_OWN_DOMAINS="preset.com")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

    proc = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, env=env,
                          cwd=data_dir, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["--", "python", "-m", "appsrc", "serve",
                                            "own=preset.com smtp=unset"]
    assert stat.S_IMODE((data_dir / "secrets").stat().st_mode) == 0o700
    props = yaml.safe_load((data_dir / "start9" / "stats.yaml").read_text())["data"]
    assert props["Digest SMTP"]["value"] == "not configured"
    assert props["Delegation client ID"]["value"] == "not configured"


def test_a_failed_migration_stops_the_start(data_dir):
    marker = data_dir / "started"
    proc = entrypoint(data_dir, "touch", str(marker), CRM_DATABASE_URL="mysql://nope/db")
    assert proc.returncode != 0
    assert "unsupported database URL scheme" in proc.stderr
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_as_root_the_volume_goes_to_the_app_user_and_everything_runs_as_it():
    """StartOS starts the container as root; the app must run as the unprivileged user.

    The test interpreter lives where `nobody` cannot execute it, so a stand-in `python` records
    who runs each step; the real migrations are covered above.
    """
    work = Path(tempfile.mkdtemp(dir="/tmp", prefix="entrypoint-drop-"))
    try:
        work.chmod(0o755)
        data, bin_dir, log = work / "data", work / "bin", work / "calls.log"
        data.mkdir()
        bin_dir.mkdir()
        log.write_text("")
        log.chmod(0o666)
        fake_python = bin_dir / "python"
        fake_python.write_text(f'#!/bin/sh\necho "$(id -u) $*" >> {log}\n')
        fake_python.chmod(0o755)
        (data / "secrets" / "smtp").mkdir(parents=True)
        (data / "crm.sqlite3").write_text("root-owned, e.g. restored from a backup")
        (data / "secrets" / "smtp" / "password").symlink_to(".current/password")  # dangling

        env = script_env(data, CRM_APP_USER="nobody")
        env["PATH"] = f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
        proc = subprocess.run([str(ENTRYPOINT), "sh", "-c", 'echo "$(id -u) $HOME"'],
                              capture_output=True, text=True, env=env, cwd=work, timeout=60)

        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "65534 /nonexistent"  # nobody's uid and home
        assert log.read_text().splitlines() == [
            "65534 -m appsrc migrate",
            f"65534 {env['CRM_START9_DIR']}/write-properties",
        ]
        owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [data, *data.rglob("*")]}
        assert owners == {(65534, 65534)}
    finally:
        shutil.rmtree(work)


def test_the_entrypoint_is_strict_bash():
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in text
    assert 'exec tini -- "${as_app[@]}" python -m appsrc serve' in text
    assert os.access(ENTRYPOINT, os.X_OK)
    subprocess.run(["bash", "-n", str(ENTRYPOINT)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(ENTRYPOINT)], check=True)


@real_cli_missing("serve")
def test_the_service_starts_answers_its_health_check_and_stops_on_sigterm(data_dir):
    """The whole start path: entrypoint, migrations, the real server on /healthz, the web-ui
    health check green, SIGTERM (what StartOS sends through tini) ending it cleanly.

    Demo mode is off: with no key the service otherwise seeds the bundled demo data.
    """
    import signal
    import time
    import urllib.request

    port = free_port()
    env = script_env(data_dir, CRM_APP_USER=NO_SUCH_USER, CRM_PORT=str(port),
                     CRM_HOST="127.0.0.1", CRM_DEMO="off")
    log = data_dir.parent / "serve.log"  # a file, not a pipe nobody drains while it runs
    with log.open("w") as out:
        server = subprocess.Popen([str(ENTRYPOINT), "python", "-m", "appsrc", "serve"], env=env,
                                  cwd=data_dir, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, log.read_text()
        check = run_script(HEALTH / "web-ui", env, stdin="120000")
        assert check.returncode == 0, check.stderr
        server.send_signal(signal.SIGTERM)  # the entrypoint exec'd the server: same pid
        assert server.wait(timeout=15) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
