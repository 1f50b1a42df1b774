"""The StartOS 0.4 package's life: install (set-up tasks), the update from the 0.3.5 package's
data, backup and restore."""

from __future__ import annotations

import json
import os
import re

import pytest
import requests

from tests.image.conftest import Container, docker, wait_for
from tests.startos04.test_actions import tree

ADMIN = "alice@fund.com"


def tasks(driven) -> dict[str, str]:
    """The tasks init leaves: action id -> severity."""
    created = {task["actionId"]: task["severity"] for task in driven.called("action.createTask")}
    for cleared in driven.called("action.clearTasks"):
        for replay_id in cleared["only"]:
            created.pop(replay_id.split(":", 1)[1], None)
    return created


def test_a_fresh_install_asks_for_an_admin_first_and_then_for_delegation(startos, tmp_path):
    install = startos.drive("init", kind="install")
    assert install.ok, install.error
    assert install.called("setDataVersion") == [{"version": "0.1.0:1"}]
    assert tasks(install) == {"create-admin": "critical", "configure-gmail-delegation": "important"}
    reasons = {t["actionId"]: t["reason"] for t in install.called("action.createTask")}
    assert "no account to sign in with" in reasons["create-admin"]
    assert "Instructions tab" in reasons["configure-gmail-delegation"]
    assert [b["internalPort"] for b in install.called("bind")] == [8050]
    (interface,) = install.called("exportServiceInterface")
    assert (interface["id"], interface["type"], interface["addressInfo"]["hostId"]) == ("main", "ui", "main")

    assert startos.run_action("create-admin", {"email": ADMIN, "name": None}).ok
    boot = startos.drive("init", kind=None, dataVersion="0.1.0:1")
    assert boot.ok, boot.error
    assert tasks(boot) == {"configure-gmail-delegation": "important"}
    assert {"only": ["ir-mail-desk:create-admin"]} in boot.called("action.clearTasks")


@pytest.mark.slow
def test_the_update_from_the_035_package_keeps_everything(startos, sim, tmp_path):
    """A volume the 0.3.5 package wrote (its actions, captured mail, its properties), updated to
    this package, then served again: nothing changes and nothing is asked again."""
    sim.add_mailbox(ADMIN)
    for number in range(3):
        sim.insert_message(
            ADMIN,
            (
                f"From: jane@acme-pension.com\r\nTo: {ADMIN}\r\n"
                f"Message-ID: <n{number}@acme-pension.com>\r\n"
                f"Subject: Notice {number}\r\n\r\nBody {number}.\r\n"
            ).encode(),
        )
    legacy = Container(startos.image, startos.volume, env={"CRM_GMAIL_API_ENDPOINT": sim.url})
    try:
        legacy.run()
        legacy.wait_healthy()
        key = sim.make_service_account_key(str(tmp_path / "key.json"))
        for action_id, payload in [
            ("configure-gmail-delegation", {"service-account-json": json.dumps(key), "own-domains": "fund.com"}),
            ("create-admin", {"email": ADMIN}),
            ("configure-digest", {"timezone": "Europe/Zurich"}),
            (
                "configure-digest-smtp",
                {
                    "host": "smtp.fund.com",
                    "port": 587,
                    "security": "starttls",
                    "username": "ir@fund.com",
                    "password": "legacy pass",
                    "from": "ir@fund.com",
                },
            ),
        ]:
            proc = legacy.action(action_id, payload)
            assert proc.returncode == 0, proc.stderr
            if action_id == "create-admin":
                password = json.loads(proc.stdout)["value"]
        wait_for(
            lambda: legacy.health("capture", 120_000).returncode == 0,
            90,
            interval=1,
            what="the legacy package to capture the mailbox",
        )
        docker("stop", "--time", "30", legacy.name)
    finally:
        legacy.remove()
    assert (startos.volume / "start9" / "stats.yaml").is_file()  # 0.3.5's Properties
    before = tree(startos.volume)

    update = startos.drive("init", kind="update", dataVersion="0.1.0:0")
    assert update.ok, update.error
    assert update.called("setDataVersion") == [{"version": "0.1.0:1"}]
    assert tasks(update) == {}  # an admin and a key: nothing to ask
    assert tree(startos.volume) == before
    # The SMTP form shows the settings the 0.3.5 package saved, password included.
    form = startos.drive("getInput", id="configure-digest-smtp").value["value"]
    assert form["smtp"]["selection"] == "custom"
    server = form["smtp"]["value"]["provider"]["value"]
    assert (server["host"], server["password"], server["security"]) == (
        "smtp.fund.com",
        "legacy pass",
        {"selection": "starttls", "value": {"port": "587"}},
    )
    assert startos.drive("getInput", id="configure-digest").value["value"] == {"timezone": "Europe/Zurich"}

    served = Container(startos.image, startos.volume, env={"CRM_GMAIL_API_ENDPOINT": sim.url})
    try:
        served.run()
        served.wait_healthy()
        http = requests.Session()
        page = http.get(f"{served.base_url}/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        signed_in = http.post(
            f"{served.base_url}/login",
            timeout=10,
            allow_redirects=False,
            data={"email": ADMIN, "password": password, "csrf_token": token},
        )
        assert signed_in.status_code == 302
        mailboxes = http.get(f"{served.base_url}/api/mailboxes", timeout=10).json()["items"]
        # Kept as the 0.3.5 install captured it: a fresh install keeps non-investor mail bare.
        assert [(m["address"], m["stored"], m["bare"]) for m in mailboxes] == [(ADMIN, 0, 3)]
    finally:
        served.remove()


def test_the_legacy_smtp_settings_this_form_cannot_show_are_named_not_hidden(startos):
    smtp = startos.volume / "secrets" / "smtp"
    smtp.mkdir(parents=True)
    for name, value in {"host": "relay.fund.lan", "port": "25", "security": "none", "from": "ir@fund.com"}.items():
        (smtp / name).write_text(value)
    metadata = startos.drive("metadata", id="configure-digest-smtp").value
    assert metadata["warning"] == (
        "The SMTP settings in force (relay.fund.lan:25 (none)) cannot be shown in this form; saving it replaces them."
    )
    assert startos.drive("getInput", id="configure-digest-smtp").value["value"] is None


def test_a_backup_leaves_out_what_the_service_regenerates_and_a_restore_brings_it_back(startos):
    assert startos.run_action("create-admin", {"email": ADMIN, "name": None}).ok
    volume = startos.volume
    for regenerated in (
        "demo/crm.sqlite3",
        "start9/stats.yaml",
        "secrets/.x.tmp-1-2",
        "settings/digest/.current.lnk-3-4",
        "secrets/flask_secret_key.tmp",
    ):
        (volume / regenerated).parent.mkdir(parents=True, exist_ok=True)
        (volume / regenerated).write_text("regenerated")
    (volume / "secrets" / "flask_secret_key").write_text("kept")
    kept = {
        p
        for p in tree(volume)
        if not p.startswith("demo")
        and p
        not in {
            "start9/stats.yaml",
            "secrets/.x.tmp-1-2",
            "settings/digest/.current.lnk-3-4",
            "secrets/flask_secret_key.tmp",
        }
    }

    backup = startos.drive("createBackup")
    assert backup.ok, backup.error
    (backed_up,) = list(startos.root.joinpath("backup").rglob("crm.sqlite3"))
    copy = backed_up.parent
    assert set(tree(copy)) == kept
    assert (copy / "crm.sqlite3").read_bytes() == (volume / "crm.sqlite3").read_bytes()
    assert os.stat(copy / "crm.sqlite3").st_mode == os.stat(volume / "crm.sqlite3").st_mode

    for path in sorted(volume.iterdir()):  # a new server: an empty volume
        docker(
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{volume}:/v",
            "--entrypoint",
            "rm",
            startos.image,
            "-rf",
            f"/v/{path.name}",
        )
    restore = startos.drive("init", kind="restore")
    assert restore.ok, restore.error
    assert set(tree(volume)) == kept
    assert tasks(restore) == {"configure-gmail-delegation": "important"}  # the admin came back


def test_the_service_starts_its_dashboard_and_says_what_stops_capture(startos):
    """main: the image's entrypoint as the daemon, ready once /healthz answers; the capture check
    names the missing step."""
    assert startos.run_action("create-admin", {"email": ADMIN, "name": None}).ok
    started = startos.drive("main")
    assert started.ok, started.error
    reports = started.value
    assert reports["main"] == {
        "id": "main",
        "name": "Dashboard",
        "result": "success",
        "message": "The dashboard is ready. Open it with Launch UI.",
    }
    assert reports["capture"]["name"] == "Mailbox capture"
    assert reports["capture"]["result"] == "failure"
    assert reports["capture"]["message"].startswith("Gmail delegation is not configured")


def test_the_service_reports_capture_healthy_once_set_up(startos, sim, tmp_path):
    sim.add_mailbox(ADMIN)
    sim.insert_message(ADMIN, f"From: jane@acme-pension.com\r\nTo: {ADMIN}\r\nSubject: Q3\r\n\r\nHello.\r\n".encode())
    startos.env["CRM_GMAIL_API_ENDPOINT"] = sim.url
    key = sim.make_service_account_key(str(tmp_path / "key.json"))
    assert startos.run_action(
        "configure-gmail-delegation", {"service-account-json": json.dumps(key), "own-domains": "fund.com"}
    ).ok
    assert startos.run_action("create-admin", {"email": ADMIN, "name": None}).ok
    started = startos.drive("main", until="capture-success")
    assert started.ok, started.error
    assert started.value["capture"] == {
        "id": "capture",
        "name": "Mailbox capture",
        "result": "success",
        "message": "Every team mailbox is being captured.",
    }


def test_the_service_follows_the_servers_smtp_settings_when_they_were_chosen(startos):
    """StartOS re-runs main when the server's SMTP settings change (`const`); each run writes
    the current ones for the app before it starts."""
    assert startos.run_action("create-admin", {"email": ADMIN, "name": None}).ok
    before = {
        "host": "smtp.old-provider.net",
        "port": 465,
        "from": "box@fund.com",
        "username": "box@fund.com",
        "password": "old",
        "security": "tls",
    }
    after = {**before, "host": "smtp.new-provider.net", "port": 587, "password": "new", "security": "starttls"}
    assert startos.run_action(
        "configure-digest-smtp", {"smtp": {"selection": "system", "value": {"customFrom": None}}}, systemSmtp=before
    ).ok
    started = startos.drive("main", systemSmtp=after)
    assert started.ok, started.error
    smtp = startos.volume / "secrets" / "smtp"
    assert {name: (smtp / name).read_text() for name in ("host", "port", "security", "password")} == {
        "host": "smtp.new-provider.net",
        "port": "587",
        "security": "starttls",
        "password": "new",
    }
