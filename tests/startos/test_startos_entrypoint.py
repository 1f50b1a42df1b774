"""docker_entrypoint.sh on a temporary data volume, with a command override in place of the
server: exported settings, real migrations, permissions, properties, and the privilege drop."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import startos_support as support
import yaml
from startos_helpers import (
    ACTIONS,
    HEALTH,
    REPO,
    ActionRun,
    run_script,
    script_env,
)

ENTRYPOINT = REPO / "docker_entrypoint.sh"
NO_SUCH_USER = "crm-test-no-such-user"  # so the run never drops privileges by accident
SMTP = {
    "host": "smtp.fund.com",
    "port": "587",
    "security": "starttls",
    "username": "ir-desk@fund.com",
    "password": "pa$$ word 'quoted'",
    "from": "IR <ir@fund.com>",
}
DIGEST = {
    "timezone": "America/Argentina/Buenos_Aires",
    "llm-url": "http://llm.fund.lan:8000",
    "llm-model": "llama-3.1 8b 'instruct'",
    "sender": "ir-desk@fund.com",
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entrypoint(data_dir: Path, *command: str, **env: str) -> subprocess.CompletedProcess:
    environment = script_env(data_dir, CRM_APP_USER=NO_SUCH_USER)
    environment.update(env)
    return subprocess.run(
        [str(ENTRYPOINT), *command], capture_output=True, text=True, env=environment, cwd=data_dir, timeout=60
    )


def exported(stdout: str) -> dict[str, str]:
    """`env -0` output as a dict (NUL-separated, so values may hold anything)."""
    return dict(item.split("=", 1) for item in stdout.split("\0") if "=" in item)


def test_prepares_exports_migrates_and_writes_properties(data_dir):
    support.write_secret_set(data_dir / "secrets" / "smtp", SMTP, support.SMTP_FIELDS, root=data_dir)
    support.write_secret_set(
        data_dir / "secrets" / "dwd",
        {"own_domains": "fund.com\n\nfund-partners.com\n"},
        support.DWD_FIELDS,
        root=data_dir,
    )
    (data_dir / "secrets").chmod(0o755)  # e.g. after a restore: tightened again at start
    (data_dir / "secrets" / "stray").write_text("x")
    (data_dir / "secrets" / "stray").chmod(0o644)

    support.write_secret_set(support.digest_settings_dir(data_dir), DIGEST, support.DIGEST_SETTINGS, root=data_dir)

    proc = entrypoint(
        data_dir, "env", "-0", SMTP_HOST="stale.example.com", CRM_TIMEZONE="Europe/Paris", CRM_DEMO="auto"
    )
    assert proc.returncode == 0, proc.stderr
    env = exported(proc.stdout)

    # The SMTP account stays in its files (the app reads them at each send): nothing of it, the
    # password least of all, is in the environment, and an inherited value is dropped too.
    assert {k: v for k, v in env.items() if k.startswith("SMTP_")} == {}
    assert env["CRM_DWD_KEY_FILE"] == str(data_dir / "secrets" / "dwd" / "service_account.json")
    assert "CRM_OWN_DOMAINS" not in env  # read live from secrets/dwd/own_domains by the app
    assert env["CRM_DATA_DIR"] == str(data_dir)
    # "Configure Digest": the files win over an inherited value, as for SMTP.
    assert {k: env[k] for k in ("CRM_TIMEZONE", "CRM_LLM_URL", "CRM_LLM_MODEL", "CRM_DIGEST_SENDER")} == {
        "CRM_TIMEZONE": "America/Argentina/Buenos_Aires",
        "CRM_LLM_URL": "http://llm.fund.lan:8000",
        "CRM_LLM_MODEL": "llama-3.1 8b 'instruct'",
        "CRM_DIGEST_SENDER": "ir-desk@fund.com",
    }
    # The packaged appliance never runs the developer demo, whatever it inherits.
    assert env["CRM_DEMO"] == "off"

    with sqlite3.connect(data_dir / "crm.sqlite3") as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migration")]
    assert versions and versions[0] == 1

    assert stat.S_IMODE((data_dir / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secrets" / "stray").stat().st_mode) == 0o600

    properties_file = data_dir / "start9" / "stats.yaml"
    properties = yaml.safe_load(properties_file.read_text())
    assert properties["version"] == 2
    assert {"Dashboard", "Mailboxes syncing", "Last digest", "Digest SMTP", "Delegation client ID"} <= set(
        properties["data"]
    )
    for entry in properties["data"].values():
        assert entry["type"] == "string" and isinstance(entry["value"], str)
        assert {"description", "copyable", "qr", "masked"} <= set(entry)
    assert properties["data"]["Digest SMTP"]["value"] == "smtp.fund.com:587 (starttls)"
    # From the real `appsrc status --json` of the freshly migrated real database (no key yet).
    assert properties["data"]["Mailboxes syncing"]["value"] == "0 of 0"
    assert properties["data"]["Gmail capture"]["value"] == "Not configured: run the Configure Gmail Delegation action"
    assert properties["data"]["Digest settings"]["value"].startswith(
        "time zone America/Argentina/Buenos_Aires; local LLM http://llm.fund.lan:8000"
    )
    assert not (data_dir / "demo").exists()
    assert SMTP["password"] not in properties_file.read_text()
    assert SMTP["password"] not in proc.stderr


def test_digest_settings_left_empty_keep_the_app_defaults(data_dir):
    support.write_secret_set(
        support.digest_settings_dir(data_dir), {"timezone": "Asia/Tokyo"}, support.DIGEST_SETTINGS, root=data_dir
    )
    proc = entrypoint(data_dir, "env", "-0")
    assert proc.returncode == 0, proc.stderr
    env = exported(proc.stdout)
    assert env["CRM_TIMEZONE"] == "Asia/Tokyo"
    assert not {"CRM_LLM_URL", "CRM_LLM_MODEL", "CRM_DIGEST_SENDER"} & set(env)


def test_the_backup_leaves_out_only_what_is_regenerated(data_dir):
    """compat's duplicity reads /data/.backupignore: one pattern a line, relative to the data
    root, each becoming `--exclude=/data/<line>` (duplicity globs: `*` stays within a folder,
    `**` crosses folders). Checked here with duplicity's glob rules on the files the app keeps."""
    (data_dir / "demo").mkdir(mode=0o700)
    (data_dir / "demo" / "crm.sqlite3").write_text("the developer demo's own database")
    proc = entrypoint(data_dir, "true")
    assert proc.returncode == 0, proc.stderr

    ignore = data_dir / ".backupignore"
    lines = ignore.read_text().splitlines()
    assert lines == ["demo", "start9/stats.yaml", "**.tmp", "**.tmp-*", "**.lnk-*"]
    assert not list(data_dir.glob(".backupignore.tmp-*"))  # written atomically

    def excluded(relative: str) -> bool:
        path = f"/data/{relative}"
        for line in lines:
            pattern = re.escape(f"/data/{line}").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
            if re.fullmatch(pattern + "(/.*)?", path):
                return True
        return False

    for regenerated in (
        "demo",
        "demo/crm.sqlite3",
        "start9/stats.yaml",
        "secrets/smtp/.password.tmp-12-34",
        "settings/digest/.current.lnk-5-6",
        "start9/.stats.yaml.tmp-7-8",
        "secrets/flask_secret_key.tmp",
        ".backupignore.tmp-99",
    ):
        assert excluded(regenerated), regenerated
    kept = [
        "crm.sqlite3",
        "crm.sqlite3-wal",
        "secrets/flask_secret_key",
        "secrets/smtp/.current",
        "secrets/smtp/.gen-1-2/password",
        "secrets/smtp/password",
        "secrets/dwd/service_account.json",
        "settings/digest/timezone",
        ".backupignore",
    ]
    kept += [
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if not str(p.relative_to(data_dir)).startswith(("demo", "start9/stats.yaml"))
    ]
    for path in kept:
        assert not excluded(path), path


def test_a_fresh_volume_serves_under_tini_with_preset_domains_kept(data_dir, tmp_path):
    """No secrets yet; no arguments: the server is exec'd as `tini -- python -m appsrc serve`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tini = bin_dir / "tini"
    fake_tini.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$TINI_LOG"\n'
        'echo "own=$CRM_OWN_DOMAINS smtp=${SMTP_HOST-unset}" >> "$TINI_LOG"\n'
    )
    fake_tini.chmod(0o755)
    log = tmp_path / "tini.log"
    env = script_env(data_dir, CRM_APP_USER=NO_SUCH_USER, TINI_LOG=str(log), CRM_OWN_DOMAINS="preset.com")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

    proc = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, env=env, cwd=data_dir, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["--", "python", "-m", "appsrc", "serve", "own=preset.com smtp=unset"]
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
        proc = subprocess.run(
            [str(ENTRYPOINT), "sh", "-c", 'echo "$(id -u) $HOME"'],
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=60,
        )

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


@contextlib.contextmanager
def running_service(data_dir: Path, env: dict[str, str]):
    """The entrypoint serving on env's CRM_PORT until /healthz answers; the base URL is
    yielded. On exit SIGTERM (what StartOS sends through tini) must end it cleanly."""
    import signal
    import time
    import urllib.request

    base = f"http://127.0.0.1:{env['CRM_PORT']}"
    log = data_dir.parent / "serve.log"  # a file, not a pipe nobody drains while it runs
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(ENTRYPOINT), "python", "-m", "appsrc", "serve"],
            env=env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, log.read_text()
        yield base
        server.send_signal(signal.SIGTERM)  # the entrypoint exec'd the server: same pid
        assert server.wait(timeout=15) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """What the service inherits, CRM_DEMO=auto included: the entrypoint must turn it off."""
    return script_env(
        data_dir, CRM_APP_USER=NO_SUCH_USER, CRM_PORT=str(free_port()), CRM_HOST="127.0.0.1", CRM_DEMO="auto", **extra
    )


def test_the_service_starts_answers_its_health_check_and_stops_on_sigterm(data_dir):
    """The whole start path: entrypoint, migrations, the real server on /healthz, the web-ui
    health check green, SIGTERM ending it cleanly; with no key, still on the real database."""
    env = service_env(data_dir)
    with running_service(data_dir, env):
        check = run_script(HEALTH / "web-ui", env, stdin="120000")
        assert check.returncode == 0, check.stderr
        assert not (data_dir / "demo").exists()


def wait_for(predicate, timeout: float = 30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def sign_in(http, base: str, email: str, password: str):
    page = http.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http.post(
        f"{base}/login",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )


def test_a_fresh_install_admin_signs_in_and_capture_starts_once_the_key_is_stored(data_dir, sim, tmp_path):
    """The set-up as an admin does it on StartOS, with no key at first: Create Admin's password
    signs in (the dashboard serves the real database, never the demo's), the admin's mailbox
    says delegation is not configured and how to fix it, then "Configure Gmail Delegation"
    runs beside the running service and capture starts without a restart."""
    import requests

    admin = "alice@fund.com"
    sim.add_mailbox(admin)
    sim.insert_message(
        admin,
        b"From: jane@acme-pension.com\r\nTo: alice@fund.com\r\nSubject: Q3 capital call\r\n\r\nPlease confirm.\r\n",
    )
    env = service_env(data_dir, CRM_GMAIL_API_ENDPOINT=sim.url)

    created = ActionRun(run_script(ACTIONS / "create-admin", env, stdin=json.dumps({"email": admin, "name": "Alice"})))
    password = created.output()["value"]

    with running_service(data_dir, env) as base:
        http = requests.Session()
        assert sign_in(http, base, admin, password + "x").status_code == 401
        signed_in = sign_in(http, base, admin, password)
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
        assert http.get(f"{base}/", allow_redirects=False, timeout=30).status_code == 200
        assert not (data_dir / "demo").exists()

        def mailbox() -> dict:
            response = http.get(f"{base}/api/mailboxes", timeout=10)
            assert response.status_code == 200, response.text
            (box,) = [m for m in response.json()["items"] if m["address"] == admin]
            return box

        box = wait_for(lambda: mailbox()["last_error"] and mailbox())
        assert box and "no service-account key" in box["last_error"], box
        assert box["last_error_kind"] == "permanent"
        assert "Configure Gmail delegation" in box["last_error_fix"]
        check = run_script(HEALTH / "capture", env, stdin="120000")
        assert check.returncode == 1 and "Gmail delegation is not configured" in check.stderr

        key = sim.make_service_account_key(str(tmp_path / "downloaded-key.json"))
        stored = ActionRun(
            run_script(
                ACTIONS / "configure-gmail-delegation",
                env,
                stdin=json.dumps({"service-account-json": json.dumps(key), "own-domains": "fund.com"}),
            )
        )
        assert "No restart is needed" in stored.output()["message"]

        sync_now = http.post(
            f"{base}/api/mailboxes/{box['id']}/sync", headers={"X-CSRFToken": http.cookies["_csrf_token"]}, timeout=10
        )
        assert sync_now.status_code == 202, sync_now.text
        # A fresh install keeps only investor mail in full: with no investor yet, the message is
        # captured as a bare sighting (who and when).
        box = wait_for(lambda: mailbox()["bare"] == 1 and mailbox())
        assert box and box["last_error"] is None and box["stored"] == 0, box
        check = run_script(HEALTH / "capture", env, stdin="120000")
        assert check.returncode == 0, check.stderr
        assert sim.calls(method="users.messages.get", user=admin)
