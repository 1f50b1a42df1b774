"""The Digest page through its real callbacks (Flask test client posting Dash's JSON, with CSRF):
the schedule in the fund's local time, saved validated and audited; the test email and send-now as
jobs whose status the page polls; the preview as the admins receive it, sandboxed; the history."""

from __future__ import annotations

import threading
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from appsrc.digest.service import build_digest_service
from appsrc.gmail.credentials import SCOPE_READONLY
from appsrc.store.models import AppSetting, AuditEvent, DigestRun
from tests.dashboard.desk import *
from tests.web.test_api import text_children

XSS = '<img src=x onerror="alert(1)">Capital call'


def load(client, desk, chosen=None):
    response = client.callback(
        desk.key("digest-schedule.children"),
        [("digest-version", "data", 0)],
        [("digest-test-recipients", "value", chosen)],
    )
    assert response.status_code == 200, response.text
    return response.json["response"]


def act(client, desk, button, *, enabled=False, hour=18, recipients=(ADA,), version=0):
    clicks = {b: (1 if b == button else None) for b in ("digest-save", "digest-send-test", "digest-send-now")}
    response = client.callback(
        desk.key("digest-message.children"),
        [(b, "n_clicks", n) for b, n in clicks.items()],
        [
            ("digest-enabled", "value", enabled),
            ("digest-hour", "value", hour),
            ("digest-test-recipients", "value", list(recipients) if recipients is not None else None),
            ("digest-version", "data", version),
            ("digest-runs-version", "data", 0),
        ],
        triggered=[f"{button}.n_clicks"],
    )
    assert response.status_code == 200, response.text
    return response.json["response"]


def runs(client, desk):
    response = client.callback(
        desk.key("digest-poll.disabled"), [("digest-runs-version", "data", 1), ("digest-poll", "n_intervals", 3)]
    )
    assert response.status_code == 200, response.text
    return response.json["response"]


def preview(client, desk, window="24h", use_llm=False):
    response = client.callback(
        desk.key("digest-preview.children"),
        [
            ("digest-preview-refresh", "n_clicks", None),
            ("digest-preview-window", "value", window),
            ("digest-preview-llm", "value", use_llm),
        ],
    )
    assert response.status_code == 200, response.text
    return response


def message_text(answer) -> str:
    return " ".join(text_children(answer["digest-message"]))


def job_run(desk, kind: str) -> DigestRun:
    run = DigestRun.select().where(DigestRun.kind == kind).order_by(DigestRun.id.desc()).first()
    assert run is not None
    assert desk.app.extensions["digest_jobs"].wait(run.id, 20)
    return DigestRun.get_by_id(run.id)


def test_the_digest_page_is_in_the_admins_nav_only(desk_admin, desk_member):
    link = '"href":"\\u002fdigest"'  # Dash escapes "/" in its JSON
    assert link in desk_admin.http.get("/_dash-layout").text
    assert link not in desk_member.http.get("/_dash-layout").text
    assert desk_member.http.get("/digest").headers["Location"] == "/"


def test_schedule_in_local_time_saved_and_audited(desk_admin, desk):
    first = load(desk_admin, desk)
    assert first["digest-enabled"]["value"] is False and first["digest-hour"]["value"] == 18
    options = first["digest-hour"]["options"]
    assert len(options) == 24 and options[18] == {"label": f"18:00 ({TZ})", "value": 18}
    assert options[0]["label"] == f"00:00 ({TZ})"
    assert first["digest-test-recipients"]["value"] == [ADA]  # the test email goes to yourself by default
    assert [o["value"] for o in first["digest-test-recipients"]["options"]] == [ADA, BEN]  # admins only
    assert any("The default (off, 18:00)" in t for t in text_children(first["digest-schedule"]))

    answer = act(desk_admin, desk, "digest-save", enabled=True, hour=7)
    assert f"The daily digest is on: every day at 07:00 ({TZ})" in message_text(answer)
    assert answer["digest-version"]["data"] == 1
    assert AppSetting.get(AppSetting.key == "digest_policy").value == {"enabled": True, "send_hour": 7}
    event = AuditEvent.get(AuditEvent.action == "digest.policy.update")
    assert event.actor_id == desk.world.ada.id and event.detail["after"] == {"enabled": True, "send_hour": 7}
    assert event.detail["before"]["send_hour"] == 18

    again = load(desk_admin, desk)
    assert again["digest-enabled"]["value"] is True and again["digest-hour"]["value"] == 7
    summary = " ".join(text_children(again["digest-schedule"]))
    assert f"Every day at 07:00 ({TZ})." in summary and "Saved by an admin" in summary
    assert f"To 2 active admins: {ADA}, {BEN}" in summary


@pytest.mark.parametrize(
    "enabled, hour, field",
    [
        (True, 24, "send_hour"),
        (True, -1, "send_hour"),
        (True, "18", "send_hour"),
        (True, None, "send_hour"),
        (True, 7.5, "send_hour"),
        ("yes", 18, "enabled"),
        (1, 18, "enabled"),
        (None, 18, "enabled"),
    ],
)
def test_bad_schedule_values_are_refused_and_change_nothing(desk_admin, desk, enabled, hour, field):
    answer = act(desk_admin, desk, "digest-save", enabled=enabled, hour=hour)
    text = message_text(answer)
    assert text.startswith("Not saved:") and field in text, text
    assert "digest-version" not in answer  # the form is not reloaded: nothing changed
    assert AppSetting.get_or_none(AppSetting.key == "digest_policy") is None
    assert AuditEvent.select().where(AuditEvent.action == "digest.policy.update").count() == 0


def test_send_now_is_a_job_whose_status_the_page_polls(desk_admin, desk):
    acme = desk.world.investor("Acme Capital", "acme.example")
    desk.world.contact(acme, "Jane Roe", JANE)
    desk.world.email("Quarterly capital call", JANE, [ADA], sent_at=desk.runtime.clock.now())
    service = desk.app.extensions["digest"] = build_digest_service(desk.runtime)
    release = threading.Event()

    def slow_llm(messages):  # holds the job in "sending" until the test lets it go
        release.wait(15)
        return "Ada heard from Jane Roe at Acme Capital about the quarterly capital call."

    service.chat_fn, service.llm_deadline_s = slow_llm, 30.0
    idle = runs(desk_admin, desk)
    assert idle["digest-poll"]["disabled"] is True  # nothing running: no polling
    assert "Not run yet." in text_children(idle["digest-now-status"])

    started = act(desk_admin, desk, "digest-send-now")
    assert "Digest of the last 24 hours to 2 active admins: sending…" in message_text(started)
    assert started["digest-runs-version"]["data"] == 1
    running = runs(desk_admin, desk)
    assert running["digest-poll"]["disabled"] is False  # poll while the job runs
    assert any(t.startswith("Sending… (started") and ADA in t for t in text_children(running["digest-now-status"]))

    busy = act(desk_admin, desk, "digest-send-now")  # a second click while it runs
    assert "already running" in message_text(busy)
    assert DigestRun.select().where(DigestRun.kind == "send-now").count() == 1

    release.set()
    run = job_run(desk, "send-now")
    assert (run.status, run.transport, run.recipients) == ("sent", "gmail", [ADA, BEN])
    done = runs(desk_admin, desk)
    assert done["digest-poll"]["disabled"] is True
    status = " ".join(text_children(done["digest-now-status"]))
    assert "sent" in status and "via gmail" in status and f"to {ADA}, {BEN}" in status
    local_time = run.created_at.astimezone(ZoneInfo(TZ)).strftime("%d %b %Y %H:%M")
    assert local_time != run.created_at.astimezone(UTC).strftime("%d %b %Y %H:%M")
    assert text_children(done["digest-history"])[:2] == [f"When ({TZ})", "Kind"]
    assert local_time in text_children(done["digest-history"])  # the fund's time, not UTC
    row = " ".join(text_children(done["digest-history"]))
    assert "Send now" in row and "gmail" in row and f"{ADA}, {BEN}" in row and "ada@fund.example" in row
    [sent] = desk.sim.sent_messages()
    assert set(sent.recipients) == {ADA, BEN} and b"Quarterly capital call" in sent.raw
    assert AuditEvent.get(AuditEvent.action == "digest.send_now").actor_id == desk.world.ada.id


def test_test_email_goes_only_to_chosen_active_admins(desk_admin, desk):
    for outsiders in ([BOB], [ADA, "someone@example.com"], []):
        refused = act(desk_admin, desk, "digest-send-test", recipients=outsiders)
        assert message_text(refused).startswith("Nothing sent:"), outsiders
    assert DigestRun.select().count() == 0 and desk.sim.sent_messages() == []

    started = act(desk_admin, desk, "digest-send-test", recipients=[BEN])
    assert f"Test email to {BEN}: sending…" in message_text(started)
    run = job_run(desk, "test")
    assert (run.status, run.transport, run.recipients, run.requested_by_id) == (
        "sent",
        "gmail",
        [BEN],
        desk.world.ada.id,
    )
    assert [m.recipients for m in desk.sim.sent_messages()] == [(BEN,)]
    status = " ".join(text_children(runs(desk_admin, desk)["digest-test-status"]))
    assert "sent" in status and f"to {BEN}" in status


def test_a_failed_send_shows_its_sanitized_error(desk_admin, desk):
    client_id = desk.runtime.credentials.key_info().client_id
    desk.sim.set_grant(client_id, [SCOPE_READONLY])  # Gmail refuses to send; SMTP is not configured
    act(desk_admin, desk, "digest-send-test")
    run = job_run(desk, "test")
    assert run.status == "failed" and run.error
    answer = runs(desk_admin, desk)
    assert answer["digest-poll"]["disabled"] is True
    assert run.error in text_children(answer["digest-test-status"])
    assert run.error in text_children(answer["digest-history"])
    assert "failed" in text_children(answer["digest-history"]) and desk.sim.sent_messages() == []
    assert run.error_kind == "permanent" and "needs a fix (retried hourly)" in text_children(answer["digest-history"])


def test_preview_renders_the_html_sandboxed_as_sent(desk_admin, desk):
    acme = desk.world.investor("Acme Capital", "acme.example")
    desk.world.contact(acme, "Jane Roe", JANE)
    desk.world.email(XSS, JANE, [ADA], sent_at=desk.runtime.clock.now())
    response = preview(desk_admin, desk, "24h", use_llm=False)
    assert "dangerouslySetInnerHTML" not in response.text and '"type":"Markdown"' not in response.text
    [frame] = find_components(response.json, "Iframe")
    html_doc = frame["props"]["srcDoc"]
    digest = build_digest_service(desk.runtime).preview(window="24h", use_llm=False)
    assert html_doc == digest["html"]  # exactly the HTML the admins receive
    assert frame["props"]["sandbox"] == ""  # no scripts, no forms, no same-origin
    assert "&lt;img src=x" in html_doc and "<img src=x" not in html_doc
    texts = text_children(response.json)
    assert digest["subject"] in texts and "1 email, 1 investor, 1 of 3 teammates active" in texts
    assert any("count-only fallback" in t for t in texts)
    assert desk.llm.requests == []

    with_llm = preview(desk_admin, desk, "next", use_llm=True)
    assert any("The local LLM wrote 1 paragraph." in t for t in text_children(with_llm.json))
    assert len(desk.llm.requests) == 1


def test_an_empty_history_and_preview_say_so(desk_admin, desk):
    answer = runs(desk_admin, desk)
    assert "No digest has been sent yet." in text_children(answer["digest-history"])
    texts = text_children(preview(desk_admin, desk, "next").json)
    assert "0 emails, 0 investors, 0 of 3 teammates active" in texts
