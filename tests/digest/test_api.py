"""The admin digest API through the real Flask app: auth (401/403), policy GET/PATCH with
validation and audit, the test email restricted to active admins, send-now as a job that never
touches the cursor, preview, the run history — and a canary credential that never leaks."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from appsrc.crm.users import issue_token
from appsrc.digest import scheduler
from appsrc.digest.service import build_digest_service
from appsrc.store.models import AppSetting, AuditEvent, DigestRun
from appsrc.web.app import create_app
from tests.capture.conftest import make_runtime
from tests.conftest import NOW
from tests.crm.factories import former_admin_token

ADMINS = ["ada@fund.example", "ben@fund.example"]
CANARY = "Canary-Pw-5f1e9c0d7b"
ENDPOINTS = [
    ("get", "/api/admin/digest/policy"),
    ("patch", "/api/admin/digest/policy"),
    ("get", "/api/admin/digest/preview"),
    ("post", "/api/admin/digest/send-now"),
    ("post", "/api/admin/digest/test-email"),
    ("get", "/api/admin/digest/runs"),
    ("get", "/api/admin/digest/runs/1"),
    ("get", "/api/admin/digest/status"),
]


@pytest.fixture
def app(settings, db, fund, sim, smtp_server, tls, llm):
    """The real app on the test database: Gmail through the simulator, SMTP (files as the StartOS
    action writes them) through the STARTTLS+AUTH server, the LLM stub. Only the SMTP CA is
    injected; everything else comes from configuration."""
    for address in ("ada@fund.example", "ben@fund.example"):
        sim.add_mailbox(address)
    smtp_server.secret_files(settings.data_dir / "secrets")
    runtime = make_runtime(
        sim, settings.data_dir, CRM_TIMEZONE="America/New_York", CRM_LLM_URL=llm.url, CRM_LLM_TIMEOUT_S="3"
    )
    flask_app = create_app(runtime)
    flask_app.extensions["digest"] = build_digest_service(runtime, smtp_ca_file=tls.ca_file)
    yield flask_app
    runtime.close()


@pytest.fixture
def tokens(fund):
    return {
        **{who: issue_token(f"{who}@fund.example", NOW) for who in ("ada", "ben")},
        "tom": former_admin_token("tom@fund.example", NOW),
    }  # only admins get tokens


@pytest.fixture
def client(app, tokens):
    test_client = app.test_client()

    def call(method, path, who="ada", **kwargs):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        return getattr(test_client, method)(path, headers=headers, **kwargs)

    return call


def finished(app, client, run_id: int) -> dict:
    app.extensions["digest_jobs"].wait(run_id, 20)
    return client("get", f"/api/admin/digest/runs/{run_id}").get_json()


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_every_endpoint_needs_an_admin(client, method, path):
    assert client(method, path, who=None).status_code == 401
    response = client(method, path, who="tom")
    assert response.status_code == 403 and response.get_json() == {"error": "admin only"}


def test_policy_get_and_patch_are_validated_and_audited(client):
    assert client("get", "/api/admin/digest/policy").get_json() == {
        "enabled": False,
        "send_hour": 18,
        "source": "default",
        "timezone": "America/New_York",
    }
    response = client("patch", "/api/admin/digest/policy", json={"enabled": True, "send_hour": 7})
    assert response.status_code == 200 and response.get_json()["source"] == "database"
    event = AuditEvent.get(AuditEvent.action == "digest.policy.update")
    assert event.actor_label == "ada@fund.example" and event.detail["after"] == {"enabled": True, "send_hour": 7}
    for body, field in [
        ({"send_hour": 24}, "send_hour"),
        ({"enabled": "yes"}, "enabled"),
        ({"hour": 3}, "hour"),
        ({}, "body"),
        ([1], "body"),
    ]:
        response = client("patch", "/api/admin/digest/policy", json=body)
        assert response.status_code == 400 and response.get_json()["field"] == field, body
    response = client(
        "patch", "/api/admin/digest/policy", data="enabled=true", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400 and response.get_json()["field"] == "body"
    assert client("get", "/api/admin/digest/policy").get_json()["send_hour"] == 7  # nothing changed
    assert AuditEvent.select().where(AuditEvent.action == "digest.policy.update").count() == 1


def test_test_email_goes_to_the_requesting_admin_by_default(app, client, sim, smtp_server):
    response = client("post", "/api/admin/digest/test-email")
    assert response.status_code == 202
    run = finished(app, client, response.get_json()["run"]["id"])
    assert (run["kind"], run["status"], run["transport"], run["recipients"]) == (
        "test",
        "sent",
        "gmail",
        ["ada@fund.example"],
    )
    assert [m.recipients for m in sim.sent_messages()] == [("ada@fund.example",)]
    assert AuditEvent.get(AuditEvent.action == "digest.test").actor_label == "ada@fund.example"


@pytest.mark.parametrize(
    "recipients",
    [
        ["tom@fund.example"],
        ["ivy@fund.example"],
        ["jane@acme.example"],
        ["ada@fund.example", "outsider@example.com"],
        [],
        "ada@fund.example",
        [3],
    ],
)
def test_test_email_is_not_an_open_relay(app, client, sim, smtp_server, recipients):
    response = client("post", "/api/admin/digest/test-email", json={"recipients": recipients})
    assert response.status_code == 400 and response.get_json()["field"] == "recipients"
    assert DigestRun.select().count() == 0 and sim.sent_messages() == [] and smtp_server.received == []


def test_test_email_to_both_admins(app, client, sim):
    response = client(
        "post", "/api/admin/digest/test-email", json={"recipients": ["Ben@Fund.Example", "ada@fund.example"]}
    )
    run = finished(app, client, response.get_json()["run"]["id"])
    assert run["status"] == "sent" and set(sim.sent_messages()[0].recipients) == set(ADMINS)


def test_send_now_is_a_job_that_sends_the_last_24h_and_never_touches_the_cursor(app, client, fund, sim, llm):
    fund.mail(
        subject="Quarterly call",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=app.extensions["digest"].clock.now(),
        links=[("acme", "jane", "jane@acme.example")],
    )
    before = {r.key: r.value for r in AppSetting.select()}
    llm.mode = "slow"  # one second: the job is still running when the second click arrives
    first = client("post", "/api/admin/digest/send-now")
    assert first.status_code == 202 and first.get_json()["run"]["status"] == "pending"
    second = client("post", "/api/admin/digest/send-now")
    assert second.status_code == 409 and second.get_json()["run"]["id"] == first.get_json()["run"]["id"]
    run = finished(app, client, first.get_json()["run"]["id"])
    assert (run["kind"], run["status"], run["recipients"]) == ("send-now", "sent", ADMINS)
    assert run["subject"].endswith("1 email, 1 investor") and run["requested_by"] == "ada@fund.example"
    [sent] = sim.sent_messages()
    assert set(sent.recipients) == set(ADMINS) and b"Quarterly call" in sent.raw
    assert {r.key: r.value for r in AppSetting.select()} == before
    assert scheduler.read_state() == scheduler.ScheduleState(None, None)


def test_preview_as_json_html_and_text(app, client, fund):
    fund.mail(
        subject="Preview me",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=app.extensions["digest"].clock.now() - timedelta(hours=1),
        links=[("acme", "jane", "jane@acme.example")],
    )
    body = client("get", "/api/admin/digest/preview?llm=0&window=24h").get_json()
    assert {"subject", "body", "html", "has_activity", "user_count", "email_count", "investor_count"} <= set(body)
    assert body["recipients"] == ADMINS and body["window_start"].endswith("Z") and body["email_count"] == 1
    html = client("get", "/api/admin/digest/preview?llm=0&format=html")
    assert html.mimetype == "text/html" and b"By team member" in html.data and b"Preview me" in html.data
    assert client("get", "/api/admin/digest/preview?llm=0&format=text").mimetype == "text/plain"
    assert client("get", "/api/admin/digest/preview?window=week").get_json()["field"] == "window"
    assert DigestRun.select().count() == 0


def test_runs_history_and_status(app, client):
    run_id = client("post", "/api/admin/digest/test-email").get_json()["run"]["id"]
    finished(app, client, run_id)
    items = client("get", "/api/admin/digest/runs").get_json()["items"]
    assert [(r["id"], r["kind"], r["status"]) for r in items] == [(run_id, "test", "sent")]
    assert client("get", "/api/admin/digest/runs/999").status_code == 404
    assert client("get", "/api/admin/digest/runs?limit=x").get_json()["field"] == "limit"
    status = client("get", "/api/admin/digest/status").get_json()
    assert status["timezone"] == "America/New_York" and status["recipients"] == ADMINS and status["due"] is False


def test_a_canary_credential_never_appears_in_logs_responses_or_stored_errors(
    app, client, sim, settings, smtp_server, caplog
):
    """Gmail refuses (suspended sender), SMTP rejects the canary password: the attempt fails, and
    the canary is nowhere — not in any response, log record, stored error or audit detail."""
    smtp_server.secret_files(settings.data_dir / "secrets", password=CANARY)
    smtp_server.mode = "echo-auth"  # a hostile server that repeats the password in its 535 reply
    sim.set_mailbox_status("ada@fund.example", "suspended")
    caplog.set_level(logging.DEBUG)
    responses = [client("post", "/api/admin/digest/test-email")]
    run = finished(app, client, responses[0].get_json()["run"]["id"])
    responses.append(client("post", "/api/admin/digest/send-now"))
    finished(app, client, responses[-1].get_json()["run"]["id"])
    responses += [
        client("get", "/api/admin/digest/runs"),
        client("get", "/api/admin/digest/status"),
        client("get", f"/api/admin/digest/runs/{run['id']}"),
    ]
    assert run["status"] == "failed" and "rejected the username or password" in run["error"]
    assert smtp_server.auth_attempts >= 2  # the canary really was presented to the server
    texts = [r.get_data(as_text=True) for r in responses]
    texts += [r.getMessage() + str(r.exc_info or "") for r in caplog.records if r.name != "mail.log"]
    texts += [r.error or "" for r in DigestRun.select()] + [str(e.detail) for e in AuditEvent.select()]
    assert texts and not [t for t in texts if CANARY in t]


def test_a_canary_in_the_delegation_key_never_leaks_through_the_gmail_error_path(
    app, client, settings, smtp_server, caplog
):
    """A key whose private key is garbage carrying the canary: Gmail delegation fails, SMTP
    delivers, and the Gmail error noted on the run says what is wrong without quoting the key."""
    import json

    key_file = settings.dwd_key_file
    key = json.loads(key_file.read_text())
    key["private_key"] = f"-----BEGIN PRIVATE KEY-----\n{CANARY}{CANARY}\n-----END PRIVATE KEY-----\n"
    key["private_key_id"] = CANARY
    key_file.write_text(json.dumps(key))
    caplog.set_level(logging.DEBUG)
    responses = [client("post", "/api/admin/digest/test-email")]
    run = finished(app, client, responses[0].get_json()["run"]["id"])
    responses += [client("get", "/api/admin/digest/runs"), client("get", f"/api/admin/digest/runs/{run['id']}")]
    assert (run["status"], run["transport"]) == ("sent", "smtp") and "gmail: " in run["error"]
    assert "private key does not load" in run["error"] and len(smtp_server.received) == 1
    texts = [r.get_data(as_text=True) for r in responses]
    texts += [r.getMessage() + str(r.exc_info or "") for r in caplog.records if r.name != "mail.log"]
    texts += [r.error or "" for r in DigestRun.select()] + [str(e.detail) for e in AuditEvent.select()]
    assert texts and not [t for t in texts if CANARY in t]


def test_only_a_post_runs_the_llm_for_a_preview(app, client, fund, llm):
    """A link on another site can make a browser GET, never POST with the CSRF token: a GET
    preview never spends the local LLM's time, and asking it to is refused by name."""
    fund.mail(
        subject="Preview me",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=app.extensions["digest"].clock.now() - timedelta(hours=1),
        links=[("acme", "jane", "jane@acme.example")],
    )
    assert client("get", "/api/admin/digest/preview?window=24h").get_json()["llm"]["calls"] == 0
    refused = client("get", "/api/admin/digest/preview?window=24h&llm=1")
    assert refused.status_code == 400 and refused.get_json()["field"] == "llm"
    assert llm.requests == []
    ran = client("post", "/api/admin/digest/preview?window=24h").get_json()
    assert ran["llm"]["calls"] == 1 and len(llm.requests) == 1
    skipped = client("post", "/api/admin/digest/preview?window=24h&llm=0").get_json()
    assert skipped["llm"]["calls"] == 0 and len(llm.requests) == 1
