"""The image run as StartOS runs it: a root entrypoint handing the /data volume to the app user,
a read-only root, the 0.3.5 actions and health checks through `docker exec -i`, and data that
survives a restart and a SIGKILL in the middle of a backfill.

The Gmail simulator runs in this process on 127.0.0.1; the container reaches it over the host's
loopback (`--network host`) through the same settings production uses for Google.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import requests

from tests.image.conftest import APP_UID, Container, docker, wait_for

ADMIN = "alice@fund.com"
OUTSIDER = "jane@acme-pension.com"


def external_message(number: int) -> bytes:
    return (
        f"From: Jane Doe <{OUTSIDER}>\r\nTo: {ADMIN}\r\n"
        f"Message-ID: <msg-{number}@acme-pension.com>\r\n"
        f"Date: Mon, 02 Nov 2026 09:{number // 60 % 60:02d}:{number % 60:02d} +0000\r\n"
        f"Subject: Capital call {number}\r\n\r\nPlease confirm receipt of notice {number}.\r\n"
    ).encode()


def keep_all_external_mail(service) -> None:
    """Scope `all`, set through the image's own CLI before any mailbox exists: these tests count
    every captured message as an email, and a fresh install keeps non-investor mail bare."""
    switched = service.exec("python", "-m", "appsrc", "capture-scope", "all", user="app", timeout=60)
    assert switched.returncode == 0 and "capture scope: all" in switched.stdout, switched.stderr


def result_of(proc) -> dict:
    """The action's one JSON result object (StartOS 0.3.5's contract)."""
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert set(out) == {"version", "message", "value", "copyable", "qr"} and out["version"] == "0"
    return out


def app_query(container: Container, sql: str) -> list:
    """Rows from the service's SQLite database, read inside the container as the app user."""
    script = (
        "import json, sqlite3, sys; db = sqlite3.connect('file:/data/crm.sqlite3?mode=ro', "
        "uri=True); print(json.dumps(db.execute(sys.argv[1]).fetchall()))"
    )
    proc = container.exec("python", "-c", script, sql, user="app", timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def owners_and_modes(paths) -> set[tuple[int, int]]:
    return {(p.lstat().st_uid, stat.S_IMODE(p.lstat().st_mode)) for p in paths}


def configure_delegation(container: Container, sim, tmp_path: Path) -> dict:
    key = sim.make_service_account_key(str(tmp_path / "downloaded-key.json"))
    return result_of(
        container.action(
            "configure-gmail-delegation",
            {"service-account-json": json.dumps(key), "own-domains": "fund.com, fund-partners.com"},
        )
    )


def sign_in(base: str, email: str, password: str) -> requests.Response:
    http = requests.Session()
    page = http.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http.post(
        f"{base}/login",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )


def test_a_fresh_volume_boots_read_only_with_the_app_as_the_unprivileged_user(container, data_volume):
    service = container().run()
    service.wait_healthy()

    processes = docker("top", service.name, "-eo", "pid,uid,args").stdout.splitlines()[1:]
    by_command = {" ".join(line.split()[2:]): int(line.split()[1]) for line in processes}
    assert by_command == {
        "tini -- setpriv --reuid=1000 --regid=1000 --init-groups env HOME=/home/app USER=app python -m appsrc serve": 0,
        "python -m appsrc serve": APP_UID,
    }, processes
    # The volume is the app's, the secrets private; nothing outside /data and /tmp is writable.
    assert data_volume.stat().st_uid == APP_UID
    assert {p.lstat().st_uid for p in data_volume.rglob("*")} == {APP_UID}
    assert stat.S_IMODE((data_volume / "secrets").stat().st_mode) == 0o700
    assert (data_volume / "crm.sqlite3").is_file()
    for path in ("/opt/venv/x", "/data/../etc/x", "/usr/local/bin/x"):
        touched = service.exec("touch", path, user="app")
        assert touched.returncode == 1 and "Read-only file system" in touched.stderr, path
    assert service.exec("touch", "/tmp/x", user="app").returncode == 0

    web = service.health("web-ui", 120_000)
    assert web.returncode == 0, web.stderr
    capture = service.health("capture", 120_000)
    assert capture.returncode == 1
    assert "Gmail delegation is not configured" in capture.stderr


def test_every_action_works_through_docker_exec_and_writes_private_files(container, data_volume, sim, tmp_path):
    sim.add_mailbox(ADMIN)
    service = container(CRM_GMAIL_API_ENDPOINT=sim.url).run()
    service.wait_healthy()

    # Bad input: a clear error on stderr, exit 1, nothing written. (SQLite's -wal and -shm files
    # come and go as the running service's connections open and close: not the action's doing.)
    def files() -> list[str]:
        return sorted(str(p) for p in data_volume.rglob("*") if not str(p).endswith(("-wal", "-shm")))

    before = files()
    refused = service.action("configure-digest-smtp", {"host": "smtp.fund.com:587", "from": "ir@fund.com"})
    assert refused.returncode == 1 and refused.stdout == ""
    assert "put the port in the Port field" in refused.stderr
    assert files() == before

    delegation = configure_delegation(service, sim, tmp_path)
    assert delegation["copyable"] is True and delegation["value"].isdigit()
    assert "gmail.readonly" in delegation["message"]

    admin = result_of(service.action("create-admin", {"email": ADMIN, "name": "Alice Martin"}))
    password = admin["value"]
    assert admin["copyable"] and len(password) == 20 and password not in admin["message"]

    digest = result_of(
        service.action(
            "configure-digest",
            {
                "timezone": "Europe/London",
                "llm-url": "http://127.0.0.1:9/",
                "llm-model": "llama",
                "sender": "ir-desk@fund.com",
            },
        )
    )
    assert "Restart the service" in digest["message"]

    smtp = result_of(
        service.action(
            "configure-digest-smtp",
            {
                "host": "smtp.fund.com",
                "port": 465,
                "security": "ssl",
                "username": "ir-desk@fund.com",
                "password": "s3cret app password",
                "from": "IR Desk <ir-desk@fund.com>",
            },
        )
    )
    assert "smtp.fund.com:465 (ssl" in smtp["message"]
    assert "s3cret" not in smtp["message"]

    check = result_of(service.action("check-gmail-delegation", None))
    assert check["message"].startswith("Gmail delegation works for every team mailbox."), check

    secrets = data_volume / "secrets"
    written = files_under(secrets / "dwd") + files_under(secrets / "smtp") + files_under(data_volume / "settings")
    assert len(written) == 2 + 6 + 4
    assert owners_and_modes(written) == {(APP_UID, 0o600)}
    assert (secrets / "smtp" / "password").read_text() == "s3cret app password"
    assert (secrets / "smtp" / "from").read_text() == "IR Desk <ir-desk@fund.com>"
    assert (secrets / "dwd" / "own_domains").read_text() == "fund.com\nfund-partners.com\n"
    assert (data_volume / "settings" / "digest" / "timezone").read_text() == "Europe/London"
    assert {p.lstat().st_uid for p in data_volume.rglob("*")} == {APP_UID}

    # The running dashboard takes the admin the action made.
    assert sign_in(service.base_url, ADMIN, password).status_code == 302


def test_health_checks_report_starting_failure_and_success_truthfully(container, sim, tmp_path):
    sim.add_mailbox(ADMIN)
    sim.insert_message(ADMIN, external_message(1))
    # The entrypoint's preparation, then a command instead of the server: nothing listens yet.
    idle = container(CRM_GMAIL_API_ENDPOINT=sim.url).run("sleep", "600")
    wait_for(
        lambda: idle.exec("test", "-f", "/data/start9/stats.yaml").returncode == 0,
        60,
        what="the entrypoint's preparation",
    )
    assert idle.health("web-ui", 5_000).returncode == 60  # within the grace period: starting
    late = idle.health("web-ui", 120_000)
    assert late.returncode == 1
    assert "The dashboard is not answering" in late.stderr
    idle.remove()

    service = container(CRM_GMAIL_API_ENDPOINT=sim.url).run()
    service.wait_healthy()
    assert service.health("web-ui", 5_000).returncode == 0
    assert service.health("capture", 120_000).returncode == 1  # no key yet
    keep_all_external_mail(service)

    configure_delegation(service, sim, tmp_path)
    result_of(service.action("create-admin", {"email": ADMIN}))
    wait_for(
        lambda: (
            service.health("capture", 120_000).returncode == 0
            and app_query(service, "SELECT count(*) FROM email")[0][0] == 1
        ),
        90,
        interval=1,
        what="the admin's mailbox to be captured",
    )

    sim.set_mailbox_status(ADMIN, "suspended")  # a permanent error only an admin can fix
    sync_now = app_query(service, "SELECT id FROM email_account")[0][0]
    service.exec("python", "-m", "appsrc", "sync", "--mailbox", ADMIN, user="app", timeout=60)
    failing = wait_for(
        lambda: (lambda p: p.returncode == 1 and p)(service.health("capture", 120_000)),
        60,
        interval=1,
        what="the capture check to fail",
    )
    assert f"1 of 1 mailboxes stopped:\n{ADMIN}:" in failing.stderr
    assert "Fix:" in failing.stderr
    assert sync_now  # the mailbox the check names is the one the admin made


@pytest.mark.slow
def test_data_survives_restart_and_a_kill_in_the_middle_of_a_backfill(container, sim, tmp_path):
    total = 1000
    sim.add_mailbox(ADMIN)
    for number in range(total):
        sim.insert_message(ADMIN, external_message(number))
    sim.configure(latency_s=0.05)
    # The sync paces itself to Gmail's per-user quota (~50 messages/s); twice that here keeps
    # the backfill long enough for the kill to land in its middle, and the test short.
    service = container(CRM_GMAIL_API_ENDPOINT=sim.url, CRM_SYNC_QUOTA_FRACTION="2").run()
    service.wait_healthy()
    keep_all_external_mail(service)
    configure_delegation(service, sim, tmp_path)
    password = result_of(service.action("create-admin", {"email": ADMIN}))["value"]

    def stored() -> int:
        return app_query(service, "SELECT count(*) FROM email")[0][0]

    wait_for(lambda: stored() > 0, 90, interval=0.1, what="the first stored batch")
    docker("kill", "--signal", "KILL", service.name)
    state = service.state()
    assert not state["Running"] and state["ExitCode"] == 137
    gets_before = len(sim.calls(method="users.messages.get", user=ADMIN))

    docker("start", service.name)
    service.wait_healthy()
    committed = stored()
    assert 0 < committed < total, committed  # the kill really came mid-backfill
    wait_for(lambda: stored() == total, 180, interval=1, what="the backfill to finish")
    wait_for(
        lambda: app_query(service, "SELECT backfill_state FROM email_account") == [["done"]],
        60,
        interval=1,
        what="the backfill to be marked done",
    )

    # Nothing lost or duplicated: every Gmail message once, as one email with one sighting.
    sightings = app_query(service, "SELECT gmail_id FROM email_account_message")
    assert sorted(row[0] for row in sightings) == sorted(sim.message_ids(ADMIN))
    assert app_query(service, "SELECT count(*), count(DISTINCT message_id) FROM email") == [[total, total]]
    # Capture resumed where it stopped: what was committed before the kill is not fetched again.
    gets_after = len(sim.calls(method="users.messages.get", user=ADMIN)) - gets_before
    assert 0 < gets_after <= total - committed

    docker("restart", "--time", "30", service.name)
    service.wait_healthy()
    assert app_query(service, "SELECT count(*) FROM email_account_message") == [[total]]
    assert sign_in(service.base_url, ADMIN, password).status_code == 302
    # StartOS stops the service with SIGTERM: tini hands it to the app, which ends cleanly.
    docker("stop", "--time", "30", service.name)
    assert service.state()["ExitCode"] == 0, service.logs()[-3000:]
