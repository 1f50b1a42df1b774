"""Approvals at backfill scale through the API, on SQLite and PostgreSQL: the pending queue in
groups (by conversation, by investor) and split into known contacts and new people, paged newest
activity first; a group decision that covers exactly its preview (409 with the new preview when
the group changed, nothing decided), audited as one action that one undo takes back. On SQLite
the groups are read from tables kept by triggers, so every test also checks them against the
proposals themselves after the changes it makes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from appsrc.crm import proposals
from appsrc.store.models import Activity, ActivityProposal, AuditEvent, Contact, Email
from appsrc.store.queries.approvals import approval_groups
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
    """Acme: Jane (a contact) in a three-email conversation and a note of her own; an unknown
    Sam at Acme in the conversation too. Beta: Kim (a contact) once, newest of all."""
    w = world
    w.acme = w.investor("Acme Capital", "acme.example")
    w.beta = w.investor("Beta Partners", "beta.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.kim = w.contact(w.beta, "Kim Park", "kim@beta.example")
    at = {name: w.now - timedelta(hours=5 - i) for i, name in enumerate(("note", "call", "reply", "sam", "kims"))}
    w.note = w.email("Side note", "jane@acme.example", [ADA], sent_at=at["note"])
    w.call = w.email("Capital call", "jane@acme.example", [ADA], sent_at=at["call"])
    w.reply = w.email("Re: Capital call", ADA, ["jane@acme.example"], reply_to=w.call, sent_at=at["reply"])
    w.sam = w.email(
        "Re: Capital call", "sam@acme.example", [ADA], cc=["jane@acme.example"], reply_to=w.call, sent_at=at["sam"]
    )
    w.kims = w.email("Hello", "kim@beta.example", [BOB], sent_at=at["kims"])
    return w


def api(client, method: str, path: str, body=None):
    return client.http.open(path, method=method, json=body, headers={"X-CSRFToken": client.csrf})


def pending(investor) -> list[ActivityProposal]:
    return list(
        ActivityProposal.select().where(
            (ActivityProposal.status == "pending") & (ActivityProposal.investor == investor)
        )
    )


def expected(by: str, people: str) -> list[tuple[str, int, int, int]]:
    """(key, count in filter, known, new) per group newest first, from the proposals themselves."""
    groups: dict[str, dict] = {}
    for p in ActivityProposal.select(ActivityProposal, Email).join(Email).where(ActivityProposal.status == "pending"):
        key = p.email.thread_key if by == "thread" else str(p.investor_id)
        g = groups.setdefault(key, {"known": 0, "new": 0, "newest": {}})
        kind = "new" if p.contact_id is None else "known"
        g[kind] += 1
        for flt in ("all", kind):
            g["newest"][flt] = max(g["newest"].get(flt, (p.email.sent_at, 0)), (p.email.sent_at, p.id))
    rows = [
        (key, {"all": g["known"] + g["new"], "known": g["known"], "new": g["new"]}[people], g["known"], g["new"])
        for key, g in groups.items()
        if people in g["newest"]
    ]
    return sorted(rows, key=lambda r: groups[r[0]]["newest"][people], reverse=True)


def read_all(client, by: str, people: str) -> list[tuple[str, int, int, int]]:
    rows, cursor = [], ""
    while True:
        page = api(client, "GET", f"/api/approvals/groups?by={by}&people={people}&limit=2&cursor={cursor}")
        assert page.status_code == 200, page.json
        rows += [(i["key"], i["count"], i["known_contacts"], i["new_people"]) for i in page.json["items"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            return rows


def assert_groups_match_the_proposals(client):
    for by in ("thread", "investor"):
        for people in ("all", "known", "new"):
            assert read_all(client, by, people) == expected(by, people), (by, people)


def test_groups_by_conversation_and_by_investor_newest_first(admin_client, mail):
    threads = api(admin_client, "GET", "/api/approvals/groups?by=thread").json["items"]
    assert [(g["label"], g["count"], g["known_contacts"], g["new_people"]) for g in threads] == [
        ("Hello", 1, 1, 0),
        ("Re: Capital call", 4, 3, 1),  # the call, Ada's reply to Jane, Sam's (new) with Jane in cc
        ("Side note", 1, 1, 0),
    ]
    assert threads[1]["key"] == mail.call.thread_key and threads[1]["investor"]["name"] == "Acme Capital"
    assert threads[1]["latest_sent_at"] == mail.sam.sent_at.isoformat().replace("+00:00", "Z")
    investors = api(admin_client, "GET", "/api/approvals/groups?by=investor").json["items"]
    assert [(g["label"], g["key"], g["count"]) for g in investors] == [
        ("Beta Partners", str(mail.beta.id), 1),
        ("Acme Capital", str(mail.acme.id), 5),  # the side note and the conversation
    ]
    new = api(admin_client, "GET", "/api/approvals/groups?by=investor&people=new").json["items"]
    assert [(g["label"], g["count"], g["known_contacts"], g["new_people"]) for g in new] == [("Acme Capital", 1, 4, 1)]
    assert_groups_match_the_proposals(admin_client)


def test_the_flat_queue_splits_known_contacts_from_new_people(admin_client, mail):
    def senders(people):
        return [
            (p["from_email"], p["new_contact"])
            for p in api(admin_client, "GET", f"/api/approvals/proposals?people={people}").json["items"]
        ]

    assert senders("new") == [("sam@acme.example", True)]
    assert ("sam@acme.example", True) not in senders("known") and len(senders("known")) == 5
    assert len(senders("all")) == 6
    acme_known = api(admin_client, "GET", f"/api/approvals/proposals?people=known&investor_id={mail.acme.id}").json
    assert {p["investor_name"] for p in acme_known["items"]} == {"Acme Capital"} and len(acme_known["items"]) == 4


def test_a_group_is_previewed_then_decided_as_one_action_and_undone_as_one(admin_client, mail):
    key = quote(mail.call.thread_key, safe="")
    preview = api(admin_client, "GET", f"/api/approvals/groups/thread/{key}").json
    assert preview["count"] == 4 and len(preview["member_ids"]) == 4 and preview["version"]
    assert [(i["from_email"], i["contact_email"], i["new_contact"]) for i in preview["items"]] == [
        ("sam@acme.example", "jane@acme.example", False),  # one email, two people: newest id first
        ("sam@acme.example", "sam@acme.example", True),
        (ADA, "jane@acme.example", False),
        ("jane@acme.example", "jane@acme.example", False),
    ]
    assert preview["gmail_url"].startswith("https://mail.google.com/mail/?authuser=ada%40fund.example#all/")
    beta = api(admin_client, "GET", f"/api/approvals/groups/investor/{mail.beta.id}").json
    groups = [
        {"by": "thread", "key": mail.call.thread_key, "people": "all", "member_ids": preview["member_ids"]},
        {"by": "investor", "key": str(mail.beta.id), "people": "all", "member_ids": beta["member_ids"]},
    ]
    decided = api(admin_client, "POST", "/api/approvals/groups/decide", {"decision": "approve", "groups": groups})
    assert decided.status_code == 200, decided.json
    body = decided.json
    assert sorted(body["approved"]) == sorted(preview["member_ids"] + beta["member_ids"])
    assert (
        len(body["contacts_created"]) == 1
        and Contact.get_by_id(body["contacts_created"][0]).investor_id == mail.acme.id
    )
    assert Activity.select().count() == 5
    events = list(AuditEvent.select().where(AuditEvent.action == "proposal.group_decision"))
    assert len(events) == 1 and events[0].target_id == body["decision_id"]
    assert [g["member_ids"] for g in events[0].detail["groups"]] == [preview["member_ids"], beta["member_ids"]]
    assert {p.decision_id for p in ActivityProposal.select().where(ActivityProposal.status == "approved")} == {
        body["decision_id"]
    }
    assert_groups_match_the_proposals(admin_client)  # only the side note is left
    assert [g["label"] for g in approval_groups(by="thread")["items"]] == ["Side note"]

    undone = api(admin_client, "POST", f"/api/proposals/{preview['member_ids'][1]}/undo", {"whole_action": True}).json
    assert len(undone["undone"]) == 5 and Activity.select().count() == 0
    assert_groups_match_the_proposals(admin_client)
    assert len(approval_groups(by="thread")["items"]) == 3


def test_a_group_that_changed_since_its_preview_is_refused_with_the_new_preview(admin_client, mail):
    preview = api(admin_client, "GET", f"/api/approvals/groups/investor/{mail.acme.id}?people=known").json
    assert preview["count"] == 4
    proposals.reject(preview["member_ids"][0], mail.ada, mail.now)  # decided elsewhere meanwhile
    group = {"by": "investor", "key": str(mail.acme.id), "people": "known", "member_ids": preview["member_ids"]}
    refused = api(admin_client, "POST", "/api/approvals/groups/decide", {"decision": "approve", "groups": [group]})
    assert refused.status_code == 409 and refused.json["field"] == "groups"
    (now,) = refused.json["groups"]
    assert now["member_ids"] == preview["member_ids"][1:] and now["version"] != preview["version"]
    assert Activity.select().count() == 0  # nothing decided

    # A new email in the group after the new preview: refused again, with it listed.
    later = mail.email("Follow-up", "jane@acme.example", [ADA], sent_at=mail.now)
    group["member_ids"] = now["member_ids"]
    again = api(admin_client, "POST", "/api/approvals/groups/decide", {"decision": "reject", "groups": [group]})
    assert again.status_code == 409
    assert again.json["groups"][0]["member_ids"][0] == mail.proposals_of(later)[0].id
    assert ActivityProposal.select().where(ActivityProposal.status == "rejected").count() == 1

    group["member_ids"] = again.json["groups"][0]["member_ids"]
    done = api(admin_client, "POST", "/api/approvals/groups/decide", {"decision": "reject", "groups": [group]})
    assert done.status_code == 200 and sorted(done.json["rejected"]) == sorted(group["member_ids"])
    assert [p.contact_id for p in pending(mail.acme)] == [None]  # Sam, a new person, is still to decide
    assert_groups_match_the_proposals(admin_client)


def test_the_groups_follow_rematches_and_moved_conversations(admin_client, mail, world):
    """Sam becomes a contact (his proposal turns known); an email moves to another conversation."""
    world.contact(mail.acme, "Sam Okafor", "sam@acme.example")
    assert api(admin_client, "GET", "/api/approvals/groups?by=thread&people=new").json["items"] == []
    Email.update(thread_key="mid:<elsewhere@test>").where(Email.id == mail.reply.id).execute()
    labels = [g["label"] for g in api(admin_client, "GET", "/api/approvals/groups?by=thread").json["items"]]
    assert labels == ["Hello", "Re: Capital call", "Re: Capital call", "Side note"]
    assert_groups_match_the_proposals(admin_client)


BAD_READS = [
    ("/api/approvals/groups?by=contact", "by"),
    ("/api/approvals/groups?people=friends", "people"),
    ("/api/approvals/groups?limit=ten", "limit"),
    ("/api/approvals/groups?cursor=nonsense", "cursor"),
    ("/api/approvals/groups/investor/acme", "key"),
    ("/api/approvals/groups/sender/x", "by"),
    ("/api/approvals/proposals?people=x", "people"),
    ("/api/approvals/proposals?investor_id=-1", "investor_id"),
]
BAD_DECISIONS = [
    ([], "body"),
    ({"decision": "maybe", "groups": []}, "decision"),
    ({"decision": "approve", "groups": []}, "groups"),
    ({"decision": "approve", "groups": [{"by": "thread", "key": "k", "member_ids": ["1"]}]}, "groups"),
    ({"decision": "approve", "groups": [{"by": "nope", "key": "k", "member_ids": [1]}]}, "groups"),
    ({"decision": "approve", "groups": [{"by": "thread", "key": "k", "member_ids": [1], "x": 1}]}, "groups"),
    ({"decision": "approve", "groups": [], "extra": 1}, "extra"),
]


def test_bad_input_is_400_naming_the_field_and_changes_nothing(admin_client, mail):
    for path, field in BAD_READS:
        response = api(admin_client, "GET", path)
        assert response.status_code == 400 and response.json["field"] == field, (path, response.json)
    for body, field in BAD_DECISIONS:
        response = api(admin_client, "POST", "/api/approvals/groups/decide", body)
        assert response.status_code == 400 and response.json["field"] == field, (body, response.json)
    assert ActivityProposal.select().where(ActivityProposal.status != "pending").count() == 0


def test_an_empty_or_unknown_group_is_404(admin_client, mail):
    assert api(admin_client, "GET", "/api/approvals/groups/thread/mid%3A%3Cnothing%40test%3E").status_code == 404
    assert api(admin_client, "GET", "/api/approvals/groups/investor/999999").status_code == 404


def test_teammates_cannot_read_or_decide_groups(member_client, mail):
    assert api(member_client, "GET", "/api/approvals/groups").status_code == 403
    response = api(member_client, "POST", "/api/approvals/groups/decide", {"decision": "approve", "groups": []})
    assert response.status_code == 403
