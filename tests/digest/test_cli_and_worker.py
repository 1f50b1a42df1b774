"""The composition roots: `python -m appsrc digest preview|send-now` as a real process against the
Gmail simulator, and the worker's 60-second digest step from `default_steps`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from appsrc.digest.policy import update_digest_policy
from appsrc.store.models import DigestRun
from appsrc.worker import Worker, default_steps
from tests.capture.conftest import make_runtime

ROOT = Path(__file__).resolve().parents[2]
ADMINS = ("ada@fund.example", "ben@fund.example")


@pytest.fixture
def env(settings, sim, fund):
    """The appliance's environment pointed at the simulator (delegation key in the data dir)."""
    for address in ADMINS:
        sim.add_mailbox(address)
    key = settings.dwd_key_file
    key.parent.mkdir(parents=True, exist_ok=True)
    sim.make_service_account_key(str(key))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "SMTP_"))}
    return dict(
        environ,
        PYTHONPATH=str(ROOT),
        CRM_DATA_DIR=str(settings.data_dir),
        CRM_DEMO="off",
        CRM_GMAIL_API_ENDPOINT=sim.url,
        CRM_TIMEZONE="America/New_York",
    )


def appsrc(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "appsrc", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_preview_and_send_now(env, fund, sim):
    from appsrc.clock import SystemClock

    fund.mail(
        subject="From the CLI",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=SystemClock().now() - timedelta(hours=2),
        links=[("acme", "jane", "jane@acme.example")],
    )
    preview = appsrc(env, "digest", "preview", "--no-llm")
    assert preview.returncode == 0, preview.stderr
    assert "Subject: IR digest" in preview.stdout and "To: ada@fund.example, ben@fund.example" in preview.stdout
    assert "From the CLI" in preview.stdout and sim.sent_messages() == []
    html = appsrc(env, "digest", "preview", "--no-llm", "--html", "--window", "24h")
    assert html.returncode == 0 and html.stdout.startswith("<!DOCTYPE html>")

    sent = appsrc(env, "digest", "send-now")
    assert sent.returncode == 0, sent.stderr
    assert "sent via gmail to ada@fund.example, ben@fund.example" in sent.stdout
    assert [set(m.recipients) for m in sim.sent_messages()] == [set(ADMINS)]

    sim.set_mailbox_status("ada@fund.example", "suspended")  # Gmail refuses; no SMTP configured
    failed = appsrc(env, "digest", "send-now")
    assert failed.returncode == 1 and "failed" in failed.stderr
    assert [r.status for r in DigestRun.select().order_by(DigestRun.id)] == ["sent", "failed"]


def test_worker_runs_the_digest_step_every_60_seconds(settings, sim, fund):
    for address in ADMINS:
        sim.add_mailbox(address)
    runtime = make_runtime(sim, settings.data_dir, CRM_TIMEZONE="America/New_York")
    try:
        steps = default_steps(runtime)
        assert [(every, name) for every, name, _ in steps][0] == (60, "digest")
        worker = Worker(runtime, steps=steps)
        update_digest_policy({"enabled": True, "send_hour": 0}, runtime.clock.now(), actor_label="test")
        worker._guard("digest", steps[0][2])  # as the scheduler ticks it
        worker._guard("digest", steps[0][2])  # the next cycle: already sent today
        [run] = DigestRun.select()
        assert (run.kind, run.status, run.transport) == ("scheduled", "sent", "gmail")
        assert [set(m.recipients) for m in sim.sent_messages()] == [set(ADMINS)]
    finally:
        runtime.close()


def test_the_environment_reaches_the_digest(settings, sim, fund):
    """CRM_DIGEST_SENDER, CRM_DIGEST_ENABLED / _SEND_HOUR and CRM_TIMEZONE, through Settings and
    `build_digest_service`, to what the scheduler decides and whom Gmail sends as."""
    from appsrc.digest.service import build_digest_service

    for address in (*ADMINS, "digest@fund.example"):
        sim.add_mailbox(address)
    runtime = make_runtime(
        sim,
        settings.data_dir,
        CRM_TIMEZONE="Asia/Tokyo",
        CRM_DIGEST_SENDER="Digest@Fund.example",
        CRM_DIGEST_ENABLED="true",
        CRM_DIGEST_SEND_HOUR="0",
    )
    try:
        service = build_digest_service(runtime)
        assert service.policy().as_dict() == {"enabled": True, "send_hour": 0, "source": "environment"}
        assert service.status()["timezone"] == "Asia/Tokyo"
        run = service.maybe_send_digest()
        assert (run.status, run.transport) == ("sent", "gmail")
        assert [m.sender for m in sim.sent_messages()] == ["digest@fund.example"]
        update_digest_policy(
            {"enabled": False},
            runtime.clock.now(),
            actor_label="test",
            env_enabled=service.env_enabled,
            env_send_hour=service.env_send_hour,
        )
        assert build_digest_service(runtime).policy().as_dict() == {
            "enabled": False,
            "send_hour": 0,
            "source": "database",
        }
    finally:
        runtime.close()
