"""The awaiting-reply API (`appsrc/web/awaiting_api.py`): its shapes, marks and their undo, the
policy, and bad input answered 400 naming the field (404 for an email that is no case), with
nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appsrc.crm.users import issue_token
from appsrc.store.models import AppSetting, AuditEvent, AwaitingMark
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def api(app, world, clock):
    token = issue_token(world.ada.email, clock.now(), label="test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def waiting(world, clock):
    """Monday 15:30 UTC. Jane (Acme) wrote last Wednesday; Sam (Beta) last Thursday, replied to;
    Kim (Beta) on Sunday, not long enough ago."""
    w, now = world, clock.now()
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.beta = w.investor("Beta Partners", "beta.example")
    w.ask = w.email("Capital call <b>", "jane@acme.example", [ADA, BOB], sent_at=now - timedelta(days=5))
    sam = w.email("Fees", "sam@beta.example", [BOB], sent_at=now - timedelta(days=4))
    w.email("Re: Fees", BOB, ["sam@beta.example"], sent_at=now - timedelta(days=3), reply_to=sam)
    w.recent = w.email("Hi", "kim@beta.example", [BOB], sent_at=now - timedelta(days=1))
    return w


def test_the_list_and_its_items(api, waiting):
    body = api.get("/api/awaiting-reply").json
    assert set(body) == {"items", "total", "lp_count", "truncated", "policy"}
    assert (body["total"], body["lp_count"], body["truncated"]) == (1, 1, False)
    assert body["policy"] == {"business_days": 2, "lookback_days": 14, "timezone": "UTC"}
    (item,) = body["items"]
    assert item["email_id"] == waiting.ask.id and item["thread_id"] == waiting.ask.thread_key
    assert item["investor"] == {"id": waiting.acme.id, "name": "Acme Capital", "graveyard": False}
    assert (item["contact_email"], item["contact_name"], item["subject"]) == (
        "jane@acme.example",
        "Jane Roe",
        "Capital call <b>",
    )
    assert (item["waiting_since"], item["business_days"]) == ("2026-10-28T15:30:00Z", 3)
    assert item["gmail_url"].startswith("https://mail.google.com/mail/?authuser=ada%40fund.example#all/")
    assert api.get("/api/awaiting-reply?limit=1").json["items"] == body["items"]


def test_handled_then_undone(api, waiting, world):
    response = api.post(f"/api/awaiting-reply/{waiting.ask.id}/handled")
    assert response.status_code == 200
    assert response.json == {
        "thread_id": waiting.ask.thread_key,
        "state": "handled",
        "covers_through": "2026-10-28T15:30:00Z",
    }
    assert api.get("/api/awaiting-reply").json["items"] == []
    (mark,) = api.get("/api/awaiting-reply/marks").json["items"]
    assert (mark["email_id"], mark["state"], mark["marked_by"], mark["subject"]) == (
        waiting.ask.id,
        "handled",
        ADA,
        "Capital call <b>",
    )
    assert api.post(f"/api/awaiting-reply/{waiting.ask.id}/handled").status_code == 404  # no longer a case
    response = api.delete(f"/api/awaiting-reply/{waiting.ask.id}/state")
    assert response.status_code == 200 and response.json["was"] == "handled"
    assert [i["email_id"] for i in api.get("/api/awaiting-reply").json["items"]] == [waiting.ask.id]
    assert api.delete(f"/api/awaiting-reply/{waiting.ask.id}/state").status_code == 404
    actions = [
        e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("awaiting.")).order_by(AuditEvent.id)
    ]
    assert actions == ["awaiting.handled", "awaiting.cleared"]


def test_snooze_then_undone(api, waiting, clock):
    response = api.post(f"/api/awaiting-reply/{waiting.ask.id}/snooze", json={"until": "2026-11-04"})
    assert response.status_code == 200 and response.json["until"] == "2026-11-04"
    assert response.json["covers_through"] == "2026-10-28T15:30:00Z"  # the investor writing again ends it
    assert api.get("/api/awaiting-reply").json["total"] == 0
    assert api.get("/api/awaiting-reply/marks").json["items"][0]["snoozed_until"] == "2026-11-04T00:00:00Z"
    clock.set(clock.now() + timedelta(days=2))  # Wednesday 15:30: the snooze is over (and Kim waits)
    assert [i["email_id"] for i in api.get("/api/awaiting-reply").json["items"]] == [waiting.ask.id, waiting.recent.id]
    assert api.get("/api/awaiting-reply/marks").json["items"] == []
    assert api.delete(f"/api/awaiting-reply/{waiting.ask.id}/state").json["was"] == "snoozed"


@pytest.mark.parametrize(
    "method, path, body, status, field",
    [
        ("POST", "/api/awaiting-reply/{ask}/snooze", {}, 400, "until"),
        ("POST", "/api/awaiting-reply/{ask}/snooze", {"until": "2026-11-02"}, 400, "until"),
        ("POST", "/api/awaiting-reply/{ask}/snooze", {"until": "next week"}, 400, "until"),
        ("POST", "/api/awaiting-reply/{ask}/snooze", {"until": "2026-11-05", "why": 1}, 400, "why"),
        ("POST", "/api/awaiting-reply/{ask}/snooze", ["2026-11-05"], 400, "body"),
        ("POST", "/api/awaiting-reply/{ask}/handled", {"force": True}, 400, "force"),
        ("POST", "/api/awaiting-reply/{recent}/handled", None, 404, "email_id"),
        ("POST", "/api/awaiting-reply/{recent}/snooze", {"until": "2026-11-05"}, 404, "email_id"),
        ("POST", "/api/awaiting-reply/999999/handled", None, 404, "email_id"),
        ("DELETE", "/api/awaiting-reply/{ask}/state", None, 404, "email_id"),
        ("PATCH", "/api/awaiting-reply/policy", {"business_days": 0}, 400, "business_days"),
        ("PATCH", "/api/awaiting-reply/policy", {"business_days": 2.5}, 400, "business_days"),
        ("PATCH", "/api/awaiting-reply/policy", {"lookback_days": "30"}, 400, "lookback_days"),
        ("PATCH", "/api/awaiting-reply/policy", {"business_days": 10, "lookback_days": 10}, 400, "lookback_days"),
        ("PATCH", "/api/awaiting-reply/policy", {"hours": 4}, 400, "hours"),
        ("GET", "/api/awaiting-reply?limit=0", None, 400, "limit"),
        ("GET", "/api/awaiting-reply?limit=201", None, 400, "limit"),
        ("GET", "/api/awaiting-reply?limit=x", None, 400, "limit"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(api, waiting, method, path, body, status, field):
    path = path.format(ask=waiting.ask.id, recent=waiting.recent.id)
    response = api.open(path, method=method, json=body)
    assert (response.status_code, response.json["field"]) == (status, field), response.json
    assert response.json["error"]
    assert (
        AwaitingMark.select().count() == 0 and AppSetting.get_or_none(AppSetting.key == "awaiting_reply_policy") is None
    )
    assert not AuditEvent.select().where(AuditEvent.action.startswith("awaiting.")).exists()


def test_the_policy_is_read_and_changed_by_admins(api, waiting):
    assert api.get("/api/awaiting-reply/policy").json == {"business_days": 2, "lookback_days": 14, "timezone": "UTC"}
    response = api.patch("/api/awaiting-reply/policy", json={"business_days": 4})
    assert response.json == {"business_days": 4, "lookback_days": 14, "timezone": "UTC"}
    assert api.get("/api/awaiting-reply").json["items"] == []  # Jane has waited 3 business days
    event = AuditEvent.get(AuditEvent.action == "awaiting.policy")
    assert event.detail == {
        "policy": {"business_days": 4, "lookback_days": 14},
        "previous": {"business_days": 2, "lookback_days": 14},
    }
