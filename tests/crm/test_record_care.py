"""Keeping the CRM tidy through the API, on SQLite and PostgreSQL: merge investors (preview,
conflicts, pointers), merge contacts, move a contact to another firm, delete and restore, the
purge after the grace period, and that search, the queue and the digest's reads see one
record afterwards. Bad input is a 400 naming the field and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appsrc.crm.record_care import RESTORE_DAYS, purge_expired
from appsrc.digest.activity import collect_investor_activity, load_window
from appsrc.store import queries
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    AuditEvent,
    Contact,
    ContactEmail,
    Email,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
)
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    """Each test on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
def crm(world):
    """Meridian imported twice, under two names; Jane at both (two records, one person)."""
    w = world
    w.meridian = w.investor("Meridian Capital", "meridian.example")
    w.partners = w.investor("Meridian Capital Partners", "meridiancp.example")
    w.jane = w.contact(w.meridian, "Jane Roe", "jane@meridian.example")
    w.jane2 = w.contact(w.partners, "Jane Roe", "jane.roe@meridiancp.example")
    w.kim = w.contact(w.partners, "Kim Park", "kim@meridiancp.example")
    w.acme = w.investor("Acme Capital", "acme.example")
    w.call = w.email("Capital call", "jane@meridian.example", [ADA])
    w.memo = w.email("Board memo", "kim@meridiancp.example", [ADA])
    w.both = w.email("Joint note", "jane@meridian.example", [ADA], cc=["kim@meridiancp.example"])
    return w


def api(client, method: str, path: str, body=None):
    return client.http.open(path, method=method, json=body, headers={"X-CSRFToken": client.csrf})


def approve_all(client, world, email):
    for proposal in world.proposals_of(email):
        assert api(client, "POST", f"/api/proposals/{proposal.id}/approve").status_code == 200


def snapshot() -> tuple:
    return (
        sorted(Investor.select(Investor.id, Investor.name, Investor.deleted_at).tuples()),
        sorted(InvestorDomain.select(InvestorDomain.domain, InvestorDomain.investor).tuples()),
        sorted(Contact.select(Contact.id, Contact.investor, Contact.deleted_at).tuples()),
        sorted(ContactEmail.select(ContactEmail.address, ContactEmail.contact).tuples()),
        sorted(EmailInvestorLink.select(EmailInvestorLink.email, EmailInvestorLink.investor).tuples()),
        sorted(
            ActivityProposal.select(ActivityProposal.id, ActivityProposal.investor, ActivityProposal.status).tuples()
        ),
        sorted(Activity.select(Activity.id, Activity.investor, Activity.contact).tuples()),
    )


def test_merge_preview_lists_what_moves_and_the_conflicts_and_changes_nothing(admin_client, crm):
    from appsrc.crm.investors import update_investor

    approve_all(admin_client, crm, crm.memo)
    update_investor(crm.partners.id, crm.now, directory=crm.directory, graveyard=True)
    before = snapshot()
    preview = api(
        admin_client, "POST", f"/api/investors/{crm.meridian.id}/merge", {"from": [crm.partners.id], "dry_run": True}
    )
    assert preview.status_code == 200
    body = preview.get_json()
    assert body["dry_run"] is True and body["survivor"] == {"id": crm.meridian.id, "name": "Meridian Capital"}
    [moving] = body["from"]
    assert moving["domains"] == ["meridiancp.example"]
    assert {c["name"] for c in moving["contacts"]} == {"Jane Roe", "Kim Park"}
    assert (moving["emails_linked"], moving["activities"]) == (2, 1)
    kinds = {c["kind"] for c in body["conflicts"]}
    assert kinds == {"same_contact_name", "graveyard", "emails_linked_to_both"}
    assert snapshot() == before


def test_merge_investors_moves_everything_and_leaves_a_pointer(admin_client, crm):
    approve_all(admin_client, crm, crm.memo)
    pending_before = queries.proposal_queue(status="pending", limit=200)["items"]
    merged = api(admin_client, "POST", f"/api/investors/{crm.meridian.id}/merge", {"from": [crm.partners.id]})
    assert merged.status_code == 200 and merged.get_json()["dry_run"] is False
    assert {d.domain for d in InvestorDomain.select().where(InvestorDomain.investor == crm.meridian.id)} == {
        "meridian.example",
        "meridiancp.example",
    }
    assert {c.name for c in Contact.select().where(Contact.investor == crm.meridian.id)} == {"Jane Roe", "Kim Park"}
    assert not EmailInvestorLink.select().where(EmailInvestorLink.investor == crm.partners.id).exists()
    links_of_joint = list(EmailInvestorLink.select().where(EmailInvestorLink.email == crm.both.id))
    assert [link.investor_id for link in links_of_joint] == [crm.meridian.id]  # one link, not two
    assert Activity.get().investor_id == crm.meridian.id
    # Search, the queue and the investor list see one investor.
    queries.clear_cache()
    assert {i["investor_id"] for i in queries.proposal_queue(status="pending", limit=200)["items"]} == {crm.meridian.id}
    assert len(queries.proposal_queue(status="pending", limit=200)["items"]) == len(pending_before)
    names = [i["name"] for i in queries.list_investors(include_graveyard=True)]
    assert "Meridian Capital Partners" not in names and "Meridian Capital" in names
    assert {item["subject"] for item in queries.email_activity(investor_id=crm.meridian.id, limit=50)["items"]} == {
        "Capital call",
        "Board memo",
        "Joint note",
    }
    # The digest's read of the window sees the survivor only.
    window = load_window(crm.now - timedelta(days=2), crm.now + timedelta(hours=1))
    assert {section.name for section in collect_investor_activity(window)} == {"Meridian Capital"}
    # The old id answers with a pointer; the name is free again.
    pointer = admin_client.http.get(f"/api/investors/{crm.partners.id}")
    assert pointer.status_code == 301 and pointer.get_json() == {"merged_into": crm.meridian.id}
    assert pointer.headers["Location"].endswith(f"/api/investors/{crm.meridian.id}")
    assert admin_client.http.get(f"/api/investors/{crm.meridian.id}").get_json()["name"] == "Meridian Capital"
    crm.investor("Meridian Capital Partners", "mcp-new.example")
    event = AuditEvent.get(AuditEvent.action == "investor.merge")
    assert event.detail["merged"][0]["name"] == "Meridian Capital Partners"


BAD_MERGES = [
    ({}, 400, "from"),
    ({"from": []}, 400, "from"),
    ({"from": "2"}, 400, "from"),
    ({"from": [True]}, 400, "from"),
    ({"from": ["SURVIVOR"]}, 400, "from"),
    ({"from": [99999]}, 400, "from"),
    ({"from": ["OTHER"], "dry_run": "no"}, 400, "dry_run"),
    ({"from": ["OTHER"], "into": 3}, 400, "into"),
]


def test_bad_merges_change_nothing(admin_client, crm):
    """Each bad request in turn (one world for all: each must leave it exactly as it was)."""
    ids = {"SURVIVOR": crm.meridian.id, "OTHER": crm.partners.id}
    before = snapshot()
    for body, status, field in BAD_MERGES:
        body = {k: [ids.get(v, v) for v in val] if isinstance(val, list) else val for k, val in body.items()}
        answer = api(admin_client, "POST", f"/api/investors/{crm.meridian.id}/merge", body)
        assert (answer.status_code, answer.get_json()["field"]) == (status, field), body
        assert snapshot() == before, body
    missing = api(admin_client, "POST", "/api/investors/99999/merge", {"from": [crm.partners.id]})
    assert missing.status_code == 404 and snapshot() == before


def test_merge_contacts_moves_addresses_activities_and_proposals(admin_client, crm):
    approve_all(admin_client, crm, crm.call)
    preview = api(admin_client, "POST", f"/api/contacts/{crm.jane.id}/merge", {"from": [crm.jane2.id], "dry_run": True})
    assert [c["kind"] for c in preview.get_json()["conflicts"]] == ["different_investor"]
    merged = api(admin_client, "POST", f"/api/contacts/{crm.jane.id}/merge", {"from": [crm.jane2.id]})
    assert merged.status_code == 200
    assert {a.address for a in ContactEmail.select().where(ContactEmail.contact == crm.jane.id)} == {
        "jane@meridian.example",
        "jane.roe@meridiancp.example",
    }
    pointer = admin_client.http.get(f"/api/contacts/{crm.jane2.id}")
    assert pointer.status_code == 301 and pointer.get_json() == {"merged_into": crm.jane.id}
    assert queries.contact_detail(crm.jane2.id) is None
    assert not ActivityProposal.select().where(ActivityProposal.target_key == f"contact:{crm.jane2.id}").exists()
    # New mail from the merged address lands on the survivor.
    later = crm.email("From my other address", "jane.roe@meridiancp.example", [ADA])
    assert [p.target_key for p in crm.proposals_of(later)] == [f"contact:{crm.jane.id}"]


def test_move_a_contact_keeps_history_before_the_move_with_the_old_firm(admin_client, crm, clock):
    now = clock.now()
    old = crm.email("Before the move", "kim@meridiancp.example", [ADA], sent_at=now - timedelta(days=20))
    approve_all(admin_client, crm, old)
    recent = crm.email("After the move", "kim@meridiancp.example", [ADA], sent_at=now - timedelta(days=2))
    since = (now - timedelta(days=10)).date().isoformat()
    moved = api(admin_client, "POST", f"/api/contacts/{crm.kim.id}/move", {"investor_id": crm.acme.id, "since": since})
    assert moved.status_code == 200, moved.get_json()
    assert Contact.get_by_id(crm.kim.id).investor_id == crm.acme.id

    def linked(email):
        return {link.investor_id for link in EmailInvestorLink.select().where(EmailInvestorLink.email == email.id)}

    assert linked(old) == {crm.partners.id}  # history stays with the firm Kim left
    assert linked(recent) == {crm.acme.id}
    assert Activity.get(Activity.email == old.id).investor_id == crm.partners.id
    assert {p.investor_id for p in crm.proposals_of(recent)} == {crm.acme.id}
    # New mail from Kim goes to Acme; the move is audited.
    new = crm.email("Hello from Acme", "kim@meridiancp.example", [ADA])
    assert {p.investor_id for p in crm.proposals_of(new)} == {crm.acme.id}
    assert AuditEvent.get(AuditEvent.action == "contact.move").detail["to_investor_id"] == crm.acme.id

    again = api(
        admin_client, "POST", f"/api/contacts/{crm.kim.id}/move", {"investor_id": crm.meridian.id, "since": since}
    )
    assert again.status_code == 400 and again.get_json()["field"] == "since"


BAD_MOVES = [
    ({}, "investor_id"),
    ({"investor_id": "x"}, "investor_id"),
    ({"investor_id": 99999}, "investor_id"),
    ({"investor_id": "SAME"}, "investor_id"),
    ({"investor_id": "ACME", "since": "someday"}, "since"),
    ({"investor_id": "ACME", "since": "2999-01-01"}, "since"),
    ({"investor_id": "ACME", "firm": "x"}, "firm"),
]


def test_bad_moves_change_nothing(admin_client, crm):
    ids = {"SAME": crm.partners.id, "ACME": crm.acme.id}
    before = snapshot()
    for body, field in BAD_MOVES:
        body = {k: ids.get(v, v) for k, v in body.items()}
        answer = api(admin_client, "POST", f"/api/contacts/{crm.kim.id}/move", body)
        assert answer.status_code in (400, 404) and answer.get_json()["field"] == field, body
        assert snapshot() == before, body


def test_delete_hides_an_investor_keeps_its_mail_and_restore_brings_it_back(admin_client, crm):
    approve_all(admin_client, crm, crm.call)
    deleted = api(admin_client, "DELETE", f"/api/investors/{crm.meridian.id}")
    assert deleted.status_code == 200 and deleted.get_json()["links_removed"] == 2
    assert Email.select().where(Email.id == crm.call.id).exists()  # mail kept
    assert "Meridian Capital" not in [i["name"] for i in queries.list_investors(include_graveyard=True)]
    assert admin_client.http.get(f"/api/investors/{crm.meridian.id}").status_code == 404
    listed = admin_client.http.get("/api/deleted").get_json()
    assert [i["name"] for i in listed["investors"]] == ["Meridian Capital"]
    assert api(admin_client, "DELETE", f"/api/investors/{crm.meridian.id}").status_code == 404

    restored = api(admin_client, "POST", f"/api/investors/{crm.meridian.id}/restore")
    assert restored.status_code == 200
    assert {
        link.email_id for link in EmailInvestorLink.select().where(EmailInvestorLink.investor == crm.meridian.id)
    } == {
        crm.call.id,
        crm.both.id,
    }
    assert Activity.select().where(Activity.investor == crm.meridian.id).count() == 1
    again = api(admin_client, "POST", f"/api/investors/{crm.meridian.id}/restore")
    assert again.status_code == 400 and again.get_json()["field"] == "investor_id"
    assert [e.action for e in AuditEvent.select().where(AuditEvent.target_type == "investor").order_by(AuditEvent.id)][
        -2:
    ] == ["investor.delete", "investor.restore"]


def test_delete_and_restore_a_contact(admin_client, crm):
    assert api(admin_client, "DELETE", f"/api/contacts/{crm.kim.id}").status_code == 200
    assert queries.contact_detail(crm.kim.id) is None
    assert [c["name"] for c in admin_client.http.get("/api/deleted").get_json()["contacts"]] == ["Kim Park"]
    assert {p.target_key for p in crm.proposals_of(crm.memo)} == {"address:kim@meridiancp.example"}
    assert api(admin_client, "POST", f"/api/contacts/{crm.kim.id}/restore").status_code == 200
    assert {p.target_key for p in crm.proposals_of(crm.memo)} == {f"contact:{crm.kim.id}"}


def test_after_the_grace_period_deleted_records_are_purged_to_an_audit_stub(admin_client, crm, clock):
    approve_all(admin_client, crm, crm.memo)
    api(admin_client, "DELETE", f"/api/investors/{crm.partners.id}")
    api(admin_client, "DELETE", f"/api/contacts/{crm.jane.id}")
    clock.advance(timedelta(days=RESTORE_DAYS - 1).total_seconds())
    assert purge_expired(clock.now()) == {"investors": 0, "contacts": 0, "emails_reduced": 0}
    clock.advance(timedelta(days=2).total_seconds())
    assert admin_client.login(ADA).status_code == 302  # a month later: a new session
    late = api(admin_client, "POST", f"/api/investors/{crm.partners.id}/restore")
    assert late.status_code == 400 and "more than" in late.get_json()["error"]
    assert purge_expired(clock.now())["investors"] == 1
    assert Investor.get_or_none(Investor.id == crm.partners.id) is None
    assert Contact.get_or_none(Contact.id == crm.jane.id) is None
    assert Email.select().where(Email.id == crm.memo.id).exists()  # the mail stays (scope all)
    stub = AuditEvent.get(AuditEvent.action == "investor.purge")
    assert stub.target_id == str(crm.partners.id) and stub.detail == {"name": "Meridian Capital Partners"}
    assert api(admin_client, "POST", f"/api/investors/{crm.partners.id}/restore").status_code == 404


def test_a_teammate_cannot_mend_records(member_client, crm):
    before = snapshot()
    for method, path, body in (
        ("POST", f"/api/investors/{crm.meridian.id}/merge", {"from": [crm.partners.id]}),
        ("DELETE", f"/api/investors/{crm.meridian.id}", None),
        ("POST", f"/api/contacts/{crm.kim.id}/move", {"investor_id": crm.acme.id}),
        ("GET", "/api/deleted", None),
    ):
        assert api(member_client, method, path, body).status_code == 403
    assert snapshot() == before
