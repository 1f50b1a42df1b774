"""Health checks: exit codes as StartOS reads them (0 healthy, 60 starting, other = failing with
the reason on stderr), against a real local HTTP server and a scripted `appsrc status`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import startos_support as support
import yaml
from startos_helpers import HEALTH, run_script, script_env


class Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def dashboard():
    """A stand-in dashboard on a free loopback port answering /healthz (status settable)."""
    handler = type("Handler", (Healthz,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def free_port() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    port = server.server_address[1]
    server.server_close()
    return port


def web_check(data_dir, port: int, elapsed_ms: str):
    env = script_env(data_dir, CRM_PORT=str(port))
    return run_script(HEALTH / "web-ui", env, stdin=elapsed_ms, timeout=20)


def test_web_ui_healthy_when_healthz_answers_200(data_dir, dashboard):
    server, _ = dashboard
    proc = web_check(data_dir, server.server_address[1], "120000")
    assert proc.returncode == 0, proc.stderr


def test_web_ui_healthy_already_during_the_grace_period(data_dir, dashboard):
    server, _ = dashboard
    assert web_check(data_dir, server.server_address[1], "1500").returncode == 0


def test_web_ui_starting_during_the_grace_period(data_dir):
    proc = web_check(data_dir, free_port(), "30000")
    assert proc.returncode == 60


def test_web_ui_failing_after_the_grace_period(data_dir):
    port = free_port()
    proc = web_check(data_dir, port, "61000")
    assert proc.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz" in proc.stderr and "no answer" in proc.stderr


def test_web_ui_failing_on_an_error_status(data_dir, dashboard):
    server, handler = dashboard
    handler.status = 503
    proc = web_check(data_dir, server.server_address[1], "90000")
    assert proc.returncode == 1 and "HTTP 503" in proc.stderr


def test_web_ui_unreadable_elapsed_time_is_judged_strictly(data_dir):
    assert web_check(data_dir, free_port(), "").returncode == 1


# --- capture --------------------------------------------------------------------------------


def status(**changes):
    value = {
        "admins_active": 1,
        "mailboxes_total": 3,
        "mailboxes_syncing": 3,
        "mailboxes_in_error": [],
        "last_digest": {
            "status": "sent",
            "kind": "scheduled",
            "finished_at": "2026-06-15T18:00:02+00:00",
            "transport": "gmail",
        },
        "demo": False,
    }
    value.update(changes)
    return value


def store_key(data_dir) -> None:
    """What "Configure Gmail Delegation" leaves: the check only asks whether a key is stored."""
    support.write_secret_set(
        data_dir / "secrets" / "dwd",
        {support.DWD_KEY_FILE: '{"type": "service_account"}'},
        support.DWD_FIELDS,
        root=data_dir,
    )


def capture_check(fake_appsrc, data_dir, elapsed_ms="120000", *, key=True):
    if key:
        store_key(data_dir)
    return run_script(HEALTH / "capture", fake_appsrc.env(data_dir), stdin=elapsed_ms)


def test_capture_healthy_and_properties_refreshed(fake_appsrc, data_dir):
    fake_appsrc.answer("status", "--json", json_out=status())
    proc = capture_check(fake_appsrc, data_dir)
    assert proc.returncode == 0, proc.stderr
    assert fake_appsrc.calls()[0]["args"] == ["status", "--json"]
    props = yaml.safe_load((data_dir / "start9" / "stats.yaml").read_text())
    assert props["data"]["Mailboxes syncing"]["value"] == "3 of 3"
    assert props["data"]["Last digest"]["value"] == "sent (scheduled) at 2026-06-15T18:00:02+00:00 via gmail"


def test_capture_transient_errors_are_healthy(fake_appsrc, data_dir):
    fake_appsrc.answer(
        "status",
        "--json",
        json_out=status(
            mailboxes_syncing=2,
            mailboxes_in_error=[
                {"address": "bob@fund.com", "kind": "transient", "error": "429 rate limited", "fix": None}
            ],
        ),
    )
    assert capture_check(fake_appsrc, data_dir).returncode == 0


def test_capture_permanent_error_fails_with_the_fix(fake_appsrc, data_dir):
    fake_appsrc.answer(
        "status",
        "--json",
        json_out=status(
            mailboxes_syncing=1,
            mailboxes_in_error=[
                {"address": "bob@fund.com", "kind": "transient", "error": "429", "fix": None},
                {
                    "address": "carol@fund.com",
                    "kind": "permanent",
                    "error": "unauthorized_client",
                    "fix": "Grant both scopes in the Google Admin console.",
                },
            ],
        ),
    )
    proc = capture_check(fake_appsrc, data_dir)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "1 of 3 mailboxes stopped:",
        "carol@fund.com: unauthorized_client Fix: Grant both scopes in the Google Admin console.",
        "Once fixed, 'Sync now' on the dashboard's Mailboxes page retries a mailbox at once "
        "(otherwise within the hour).",
    ]


def test_capture_without_a_delegation_key_fails_with_the_action_to_run(fake_appsrc, data_dir):
    fake_appsrc.answer("status", "--json", json_out=status())
    proc = capture_check(fake_appsrc, data_dir, key=False)
    assert proc.returncode == 1
    assert "Gmail delegation is not configured" in proc.stderr
    assert "'Configure Gmail Delegation' action" in proc.stderr
    assert "without a restart" in proc.stderr
    props = yaml.safe_load((data_dir / "start9" / "stats.yaml").read_text())["data"]
    assert props["Gmail capture"]["value"] == "Not configured: run the Configure Gmail Delegation action"


def test_capture_a_dangling_key_link_is_no_key(fake_appsrc, data_dir):
    """Each secret-set field is a link into the live generation; unset, it dangles."""
    support.write_secret_set(
        data_dir / "secrets" / "dwd", {support.DWD_DOMAINS_FILE: "fund.com"}, support.DWD_FIELDS, root=data_dir
    )
    assert (data_dir / "secrets" / "dwd" / support.DWD_KEY_FILE).is_symlink()
    fake_appsrc.answer("status", "--json", json_out=status())
    proc = capture_check(fake_appsrc, data_dir, key=False)
    assert proc.returncode == 1 and "Gmail delegation is not configured" in proc.stderr


def test_capture_without_mailboxes_fails_with_the_next_step(fake_appsrc, data_dir):
    fake_appsrc.answer("status", "--json", json_out=status(mailboxes_total=0, mailboxes_syncing=0))
    proc = capture_check(fake_appsrc, data_dir)
    assert proc.returncode == 1 and "No team mailboxes yet" in proc.stderr


@pytest.mark.parametrize(
    "answer",
    [
        {"rc": 1, "stderr": "error: database is locked\n"},
        {"rc": 0, "stdout": "not json"},
        {"rc": 0, "stdout": json.dumps({"mailboxes_total": "3"})},
    ],
)
def test_capture_status_unreadable(fake_appsrc, data_dir, answer):
    fake_appsrc.answer("status", "--json", **answer)
    assert capture_check(fake_appsrc, data_dir, "5000").returncode == 60
    proc = capture_check(fake_appsrc, data_dir, "65000")
    assert proc.returncode == 1 and "Cannot read capture status" in proc.stderr


def test_capture_end_to_end_with_the_real_status(data_dir):
    """A migrated database with no delegation key, in the image's environment (CRM_DEMO=off):
    the real status is the real database's, and the check names the action to run."""
    import subprocess
    import sys

    env = script_env(data_dir, CRM_DEMO="off")
    subprocess.run([sys.executable, "-m", "appsrc", "migrate"], env=env, check=True, capture_output=True)
    status_json = subprocess.run(
        [sys.executable, "-m", "appsrc", "status", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(status_json)["demo"] is False
    proc = run_script(HEALTH / "capture", env, stdin="120000")
    assert proc.returncode == 1 and "Gmail delegation is not configured" in proc.stderr
    props = yaml.safe_load((data_dir / "start9" / "stats.yaml").read_text())["data"]
    assert props["Mailboxes syncing"]["value"] == "0 of 0"
