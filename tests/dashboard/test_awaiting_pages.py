"""The Awaiting reply page's callbacks and the Overview card, through Dash's callback endpoint:
the policy control (validated, audited), Snooze with the page's date, a teammate refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from appsrc.store.models import AuditEvent, AwaitingMark
from appsrc.store.queries.awaiting import awaiting_policy
from tests.crm.fixtures import *
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"


def output_key(app, fragment: str) -> str:
    (key,) = [k for k in app.extensions["dash_app"].callback_map if fragment in k]
    return key


@pytest.fixture
def waiting(world, clock):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.beta = world.investor("Beta Partners", "beta.example")
    world.ask = world.email("Call", "jane@acme.example", [ADA], sent_at=clock.now() - timedelta(days=5))
    world.fees = world.email("Fees", "sam@beta.example", [BOB], sent_at=clock.now() - timedelta(days=6))
    world.more = world.email(
        "Re: Fees", "kim@beta.example", [BOB], sent_at=clock.now() - timedelta(days=5), reply_to=world.fees
    )
    return world


def act(client, app, trigger: str, *, days=2, lookback=14, until="2026-11-09", handled=(), snooze=()):
    ids = lambda type_, clicked: [  # noqa: E731
        {"id": {"type": type_, "id": i}, "property": "n_clicks", "value": 1} for i in clicked
    ]
    return client.callback(
        output_key(app, "awaiting-message.children"),
        [
            ("awaiting-policy-save", "n_clicks", 1 if trigger.startswith("awaiting-policy-save") else None),
            ids("awaiting-handled", handled),
            ids("awaiting-snooze", snooze),
            [],
        ],
        [
            ("awaiting-days", "value", days),
            ("awaiting-lookback", "value", lookback),
            ("awaiting-snooze-until", "value", until),
            ("awaiting-version", "data", 0),
        ],
        triggered=[trigger],
    )


def test_the_overview_card_counts_lps_and_conversations(admin_client, waiting):
    response = admin_client.callback("home-content.children", [("home-refresh", "n_intervals", 0)])
    texts = text_children(response.json["response"])
    assert "2 LPs" in texts
    assert "Waiting on us: 2 LPs" in texts


def test_the_policy_control_saves_validates_and_audits(admin_client, app, waiting):
    response = act(admin_client, app, "awaiting-policy-save.n_clicks", days=3.0, lookback=20)
    assert response.status_code == 200
    assert any("after 3 business days" in t for t in text_children(response.json["response"]))
    assert awaiting_policy() == {"business_days": 3, "lookback_days": 20}
    response = act(admin_client, app, "awaiting-policy-save.n_clicks", days=0, lookback=20)
    assert any("business_days must be" in t for t in text_children(response.json["response"]))
    response = act(admin_client, app, "awaiting-policy-save.n_clicks", days=None, lookback=20)
    assert any("business_days must be" in t for t in text_children(response.json["response"]))
    assert awaiting_policy() == {"business_days": 3, "lookback_days": 20}
    assert AuditEvent.select().where(AuditEvent.action == "awaiting.policy").count() == 1


def test_snooze_uses_the_pages_day_and_a_bad_day_changes_nothing(admin_client, app, waiting):
    trigger = json.dumps({"id": waiting.more.id, "type": "awaiting-snooze"}, separators=(",", ":")) + ".n_clicks"
    response = act(admin_client, app, trigger, until="2026-11-01", snooze=[waiting.more.id])
    assert any("until must be a day after today" in t for t in text_children(response.json["response"]))
    assert AwaitingMark.select().count() == 0
    response = act(admin_client, app, trigger, until="2026-11-09", snooze=[waiting.more.id])
    assert any("Snoozed until 2026-11-09" in t for t in text_children(response.json["response"]))
    mark = AwaitingMark.get()
    assert (mark.thread_key, mark.state, mark.created_by_id) == (waiting.fees.thread_key, "snoozed", waiting.ada.id)
    # Sam writes again: the snoozed row says so (and the case waits again from his message).
    listed = admin_client.callback(
        output_key(app, "awaiting-marks.children"),
        [("awaiting-version", "data", 1), ("awaiting-refresh", "n_intervals", 0)],
    )
    assert not any("they wrote again" in t for t in text_children(listed.json["response"]))
    again = waiting.now - timedelta(hours=1)
    waiting.email("Re: Fees", "sam@beta.example", [BOB], sent_at=again, reply_to=waiting.fees)
    listed = admin_client.callback(
        output_key(app, "awaiting-marks.children"),
        [("awaiting-version", "data", 2), ("awaiting-refresh", "n_intervals", 0)],
    )
    assert any("they wrote again" in t for t in text_children(listed.json["response"]))


def test_a_teammate_cannot_mark_a_case(member_client, app, waiting):
    trigger = json.dumps({"id": waiting.ask.id, "type": "awaiting-handled"}, separators=(",", ":")) + ".n_clicks"
    response = act(member_client, app, trigger, handled=[waiting.ask.id])
    assert response.status_code == 403
    assert AwaitingMark.select().count() == 0
