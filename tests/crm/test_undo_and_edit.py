"""Mending decisions and records: undo an approval or a rejection (alone or the whole bulk
action), and correct an approved activity. Through the API, on SQLite and PostgreSQL; bad input
is a 400 naming the field and changes nothing; every change is audited with before and after."""

from __future__ import annotations

import pytest

from appsrc.store import queries
from appsrc.store.models import Activity, ActivityProposal, AuditEvent
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    """Each test on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    world.sam = world.contact(world.acme, "Sam Lee", "sam@acme.example")
    world.beta = world.investor("Beta Partners", "beta.example")
    world.kim = world.contact(world.beta, "Kim Park", "kim@beta.example")
    world.one = world.email("Capital call", "jane@acme.example", [ADA])
    world.two = world.email("Side letter", "jane@acme.example", [ADA])
    world.three = world.email("Site visit", "sam@acme.example", [BOB])
    return world


def api(client, method: str, path: str, body=None):
    return client.http.open(path, method=method, json=body, headers={"X-CSRFToken": client.csrf})


def proposal_of(world, email) -> ActivityProposal:
    return world.proposals_of(email)[0]


def pending_ids() -> set[int]:
    queries.clear_cache()
    return {p["id"] for p in queries.proposal_queue(status="pending", limit=200)["items"]}


def test_undo_an_approval_withdraws_the_activity_and_requeues_it(admin_client, mail):
    p = proposal_of(mail, mail.one)
    assert api(admin_client, "POST", f"/api/proposals/{p.id}/approve").status_code == 200
    activity = Activity.get(Activity.proposal == p.id)
    assert p.id not in pending_ids()

    undone = api(admin_client, "POST", f"/api/proposals/{p.id}/undo")
    assert undone.status_code == 200
    assert undone.get_json() == {"undone": [p.id], "activities_withdrawn": [activity.id]}
    assert ActivityProposal.get_by_id(p.id).status == "pending" and p.id in pending_ids()
    assert not Activity.select().where(Activity.id == activity.id).exists()
    assert queries.activity_timeline(contact_id=mail.jane.id)["items"] == []
    events = AuditEvent.select().where((AuditEvent.target_type == "proposal") & (AuditEvent.target_id == str(p.id)))
    actions = [e.action for e in events.order_by(AuditEvent.id)]
    assert actions == ["proposal.approve", "proposal.undo"]
    undo_event = AuditEvent.get(AuditEvent.action == "proposal.undo")
    assert undo_event.detail["previous_status"] == "approved"
    assert undo_event.detail["activity_withdrawn"]["id"] == activity.id

    # It can be decided again, and undoing a pending proposal is a conflict.
    assert api(admin_client, "POST", f"/api/proposals/{p.id}/reject").status_code == 200
    assert api(admin_client, "POST", f"/api/proposals/{p.id}/undo").status_code == 200
    again = api(admin_client, "POST", f"/api/proposals/{p.id}/undo")
    assert again.status_code == 409 and again.get_json()["field"] == "proposal_id"


def test_undo_the_whole_bulk_action_in_one_step(admin_client, mail):
    bulk = [proposal_of(mail, mail.one).id, proposal_of(mail, mail.two).id]
    single = proposal_of(mail, mail.three).id
    assert api(admin_client, "POST", "/api/proposals/approve", {"ids": bulk}).status_code == 200
    assert api(admin_client, "POST", f"/api/proposals/{single}/approve").status_code == 200
    undone = api(admin_client, "POST", f"/api/proposals/{bulk[1]}/undo", {"whole_action": True}).get_json()
    assert sorted(undone["undone"]) == sorted(bulk) and len(undone["activities_withdrawn"]) == 2
    assert ActivityProposal.get_by_id(single).status == "approved"  # another action: untouched
    assert Activity.select().count() == 1


BAD_UNDOS = [
    ("/api/proposals/999/undo", None, 404, "proposal_id"),
    ("/api/proposals/{p}/undo", {"whole_action": "yes"}, 400, "whole_action"),
    ("/api/proposals/{p}/undo", {"everything": True}, 400, "everything"),
    ("/api/proposals/{p}/undo", [1], 400, "body"),
]


def test_bad_undo_requests_change_nothing(admin_client, mail):
    p = proposal_of(mail, mail.one)
    api(admin_client, "POST", f"/api/proposals/{p.id}/approve")
    for path, body, status, field in BAD_UNDOS:
        answer = api(admin_client, "POST", path.format(p=p.id), body)
        assert (answer.status_code, answer.get_json()["field"]) == (status, field), body
        assert ActivityProposal.get_by_id(p.id).status == "approved" and Activity.select().count() == 1


def test_edit_an_activity_note_date_and_contact(admin_client, mail):
    p = proposal_of(mail, mail.one)
    api(admin_client, "POST", f"/api/proposals/{p.id}/approve")
    activity = Activity.get(Activity.proposal == p.id)
    subject_before = mail.one.subject

    edited = api(
        admin_client,
        "PATCH",
        f"/api/activities/{activity.id}",
        {"note": "  Discussed the Q3 call  ", "occurred_at": "2026-11-20", "contact_id": mail.kim.id},
    )
    assert edited.status_code == 200
    changed = edited.get_json()["changed"]
    assert set(changed) == {"note", "occurred_at", "contact_id", "investor_id"}
    row = Activity.get_by_id(activity.id)
    assert (row.note, row.contact_id, row.investor_id) == ("Discussed the Q3 call", mail.kim.id, mail.beta.id)
    assert row.occurred_at.isoformat() == "2026-11-20T12:00:00+00:00" and row.edited_at is not None
    assert type(mail.one).get_by_id(mail.one.id).subject == subject_before  # the email is never edited
    timeline = queries.activity_timeline(investor_id=mail.beta.id)["items"]
    assert [(i["id"], i["note"]) for i in timeline] == [(activity.id, "Discussed the Q3 call")]
    event = AuditEvent.get(AuditEvent.action == "activity.edit")
    assert event.detail["changes"]["contact_id"] == {"before": mail.jane.id, "after": mail.kim.id}

    dated = api(admin_client, "PATCH", f"/api/activities/{activity.id}", {"occurred_at": "2026-11-21T09:30:00+01:00"})
    assert dated.status_code == 200
    assert Activity.get_by_id(activity.id).occurred_at.isoformat() == "2026-11-21T08:30:00+00:00"
    zulu = api(admin_client, "PATCH", f"/api/activities/{activity.id}", {"occurred_at": "2026-11-21t07:45:00z"})
    assert zulu.status_code == 200  # RFC 3339's lower-case "t" and "z"
    assert Activity.get_by_id(activity.id).occurred_at.isoformat() == "2026-11-21T07:45:00+00:00"


BAD_EDITS = [
    ({}, "body"),
    ({"summary": "new subject"}, "summary"),
    ({"email_id": 1}, "email_id"),
    ({"note": 5}, "note"),
    ({"note": "x" * 5001}, "note"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2026-11-20T10:00:00"}, "occurred_at"),
    ({"occurred_at": "1900-01-01"}, "occurred_at"),
    ({"contact_id": "abc"}, "contact_id"),
    ({"contact_id": 99999}, "contact_id"),
    ({"note": "fine", "contact_id": True}, "contact_id"),
]


def test_bad_edits_are_400_naming_the_field_and_change_nothing(admin_client, mail):
    p = proposal_of(mail, mail.one)
    api(admin_client, "POST", f"/api/proposals/{p.id}/approve")
    activity = Activity.get(Activity.proposal == p.id)
    before = Activity.select().where(Activity.id == activity.id).dicts().get()
    for body, field in BAD_EDITS:
        answer = api(admin_client, "PATCH", f"/api/activities/{activity.id}", body)
        assert answer.status_code == 400 and answer.get_json()["field"] == field, body
        assert Activity.select().where(Activity.id == activity.id).dicts().get() == before, body
    assert not AuditEvent.select().where(AuditEvent.action == "activity.edit").exists()


def test_editing_an_unknown_activity_is_404_and_teammates_cannot(admin_client, member_client, mail):
    assert api(admin_client, "PATCH", "/api/activities/4242", {"note": "x"}).status_code == 404
    p = proposal_of(mail, mail.one)
    api(admin_client, "POST", f"/api/proposals/{p.id}/approve")
    activity = Activity.get(Activity.proposal == p.id)
    assert api(member_client, "PATCH", f"/api/activities/{activity.id}", {"note": "x"}).status_code == 403
    assert api(member_client, "POST", f"/api/proposals/{p.id}/undo").status_code == 403
    assert Activity.get_by_id(activity.id).note == "" and ActivityProposal.get_by_id(p.id).status == "approved"
