"""Demo mode's seeding: the real appliance in demo mode (the bundled simulator and a generated
team) fills every CRM list a page shows — users, investors, exclusions — through the real crm
functions, and the seeded exclusions act on the demo's own mail."""

from __future__ import annotations

import threading

import pytest

from appsrc.clock import SystemClock
from appsrc.crm.exclusions import list_exclusions
from appsrc.demo import DEMO_EXCLUSIONS
from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.store.models import AuditEvent, Email, EmailAccount, Investor, SkippedMessage, User


@pytest.fixture
def demo(tmp_path):
    """`make run` with no delegation key: build_runtime in demo mode. Its background "decide
    some proposals" thread acts once every mailbox is backfilled; it is let finish before the
    database closes."""
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_DEMO": "on"})
    runtime = build_runtime(settings, SystemClock())
    assert runtime.demo is not None
    yield runtime
    EmailAccount.update(backfill_state="done").execute()
    for thread in threading.enumerate():
        if thread.name == "demo-decisions":
            thread.join(timeout=30)
            assert not thread.is_alive()
    runtime.close()


def test_demo_seeds_users_investors_and_exclusions(demo):
    admin = User.get(User.email == demo.demo.admin_email)
    assert admin.is_admin and User.select().count() == 5 and Investor.select().count() > 0
    exclusions = list_exclusions()
    assert [(e["value"], e["reason"]) for e in exclusions] == sorted(DEMO_EXCLUSIONS)
    assert {e["kind"] for e in exclusions} == {"address", "domain"}
    assert all(e["created_by"] == admin.email for e in exclusions)
    assert AuditEvent.select().where(AuditEvent.action == "exclusion.add").count() == len(DEMO_EXCLUSIONS)


def test_the_excluded_vendor_writes_to_the_team_but_is_never_captured(demo):
    """Not decoration: the generated team does get the landlord's mail, and capture skips it."""
    assert any(b"leasing@officespace.example" in m.raw for m in demo.demo.dataset.messages)
    reports = demo.sync_all()
    assert reports and all(r.ok for r in reports)
    assert Email.select().count() > 0
    assert not Email.select().where(Email.from_email.endswith("@officespace.example")).exists()
    assert SkippedMessage.select().where(SkippedMessage.reason == "excluded").exists()
