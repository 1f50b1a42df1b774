"""The capture-scope and mailbox-lifecycle API: admin-only, bad input a 400 naming the field, a
content-reducing change only with `"confirm": true`, and every change audited."""

from __future__ import annotations

import pytest

from appsrc.store import bare
from appsrc.store.models import AuditEvent, BareSighting, Email, EmailAccount
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.investor_mail = world.email("Capital call", "jane@acme.example", [ADA])
    world.other = world.email("Lunch?", "friend@elsewhere.example", [BOB])
    return world


def api(client, method: str, path: str, body=None):
    return client.http.open(path, method=method, json=body, headers={"X-CSRFToken": client.csrf})


def test_policy_reads_the_scope_and_what_each_one_means(admin_client, mail):
    policy = admin_client.http.get("/api/admin/capture/policy").get_json()
    assert policy["scope"] == "all" and policy["emails_out_of_scope"] == 1
    assert set(policy["scopes"]) == {"investors", "all"} and "bare sighting" in policy["scopes"]["investors"]


def test_reducing_content_needs_confirm_and_answers_with_the_counts(admin_client, mail):
    refused = api(admin_client, "PATCH", "/api/admin/capture/policy", {"scope": "investors"})
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "confirm" and refused.get_json()["emails_reduced"] == 1
    assert bare.capture_scope() == "all" and Email.select().count() == 2

    done = api(admin_client, "PATCH", "/api/admin/capture/policy", {"scope": "investors", "confirm": True})
    assert done.status_code == 200
    body = done.get_json()
    assert (body["scope"], body["previous"], body["emails_reduced"], body["bare_sightings"]) == (
        "investors",
        "all",
        1,
        1,
    )
    assert [e.subject for e in Email.select()] == ["Capital call"]
    event = AuditEvent.get(AuditEvent.action == "capture.scope")
    assert event.actor.email == ADA and event.detail["emails_to_reduce"] == 1

    back = api(admin_client, "PATCH", "/api/admin/capture/policy", {"scope": "all"}).get_json()
    assert back["refetch_queued"] == 1 and back["refetch_pending"] == 1
    assert BareSighting.get().refetch_requested_at is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "scope"),
        ({"scope": "everything"}, "scope"),
        ({"scope": 1}, "scope"),
        ({"scope": "investors", "confirm": "yes"}, "confirm"),
        ({"scope": "all", "extra": 1}, "extra"),
        ([1, 2], "body"),
    ],
)
def test_bad_policy_input_is_a_400_naming_the_field_and_changes_nothing(admin_client, mail, body, field):
    answer = api(admin_client, "PATCH", "/api/admin/capture/policy", body)
    assert answer.status_code == 400 and answer.get_json()["field"] == field
    assert bare.capture_scope() == "all" and Email.select().count() == 2


def test_pause_resume_and_remove_through_the_api(admin_client, mail):
    bob = EmailAccount.get(EmailAccount.address == BOB)
    paused = api(admin_client, "POST", f"/api/mailboxes/{bob.id}/pause")
    assert paused.status_code == 200 and paused.get_json()["state"] == "paused"
    items = {m["address"]: m for m in admin_client.http.get("/api/mailboxes").get_json()["items"]}
    assert items[BOB]["state"] == "paused" and items[ADA]["state"] == "active"
    assert api(admin_client, "POST", f"/api/mailboxes/{bob.id}/sync").status_code == 400
    assert api(admin_client, "POST", f"/api/mailboxes/{bob.id}/resume").get_json()["state"] == "active"

    wrong = api(admin_client, "POST", f"/api/mailboxes/{bob.id}/remove", {"confirm": ADA})
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "confirm"
    assert Email.select().count() == 2
    removed = api(admin_client, "POST", f"/api/mailboxes/{bob.id}/remove", {"confirm": BOB})
    assert removed.status_code == 200
    assert removed.get_json()["state"] == "removed" and removed.get_json()["removed"]["emails_deleted"] == 1
    assert [e.subject for e in Email.select()] == ["Capital call"]
    assert [e.action for e in AuditEvent.select().where(AuditEvent.target_type == "mailbox")] == [
        "mailbox.pause",
        "mailbox.resume",
        "mailbox.remove",
    ]


def test_lifecycle_calls_on_unknown_mailboxes_are_404(admin_client, mail):
    for action in ("pause", "resume", "remove"):
        answer = api(admin_client, "POST", f"/api/mailboxes/424242/{action}", {"confirm": "x@fund.example"})
        assert answer.status_code == 404 and answer.get_json()["field"] == "account_id"


def test_a_teammate_cannot_use_them(member_client, mail):
    bob = EmailAccount.get(EmailAccount.address == BOB)
    assert api(member_client, "GET", "/api/admin/capture/policy").status_code == 403
    assert (
        api(member_client, "PATCH", "/api/admin/capture/policy", {"scope": "investors", "confirm": True}).status_code
        == 403
    )
    assert api(member_client, "POST", f"/api/mailboxes/{bob.id}/pause").status_code == 403
    assert bare.capture_scope() == "all"
    assert EmailAccount.get_by_id(bob.id).paused_at is None
