"""One person outside the fund: find what is stored about an address, export it, erase it on
request. Through the real API and the dashboard's real callbacks, on a real SQLite store."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from appsrc.crm.people import find_person
from appsrc.crm.proposals import approve
from appsrc.crm.users import add_user
from appsrc.matching.matcher import match_key
from appsrc.store.capture import known_ids
from appsrc.store.models import (
    Activity,
    AuditEvent,
    BareParticipant,
    BareSighting,
    Contact,
    ContactEmail,
    Email,
    EmailAccount,
    EmailAccountMessage,
    SkippedMessage,
)
from tests.crm.fixtures import *
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"
JANE = "jane.roe@acme.example"
TYPED = "Jane.Roe+x@Acme.example"  # the same mailbox as JANE, by match key
SEARCH = (
    ".."
    + "...".join(
        ["people-result.children", "people-found.data", "people-export.children", "people-erase-open.disabled"]
    )
    + ".."
)
DIALOG = (
    ".."
    + "...".join(
        ["people-erase-modal.is_open", "people-erase-typed.value", "people-message.children", "people-version.data"]
    )
    + ".."
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    """Each test on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
def lp(world):
    """Jane, a contact at Acme, in two emails (one to her +tag address); Sam's email is not hers."""
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", JANE)
    world.call = world.email("Capital call", JANE, [ADA, BOB], body="Please wire the funds by Friday.")
    world.reply = world.email(
        "Quarterly letter", ADA, ["Jane.Roe+lp@acme.example"], cc=["sam@acme.example"], body="Attached, as promised."
    )
    world.other = world.email("Hello from Sam", "sam@acme.example", [ADA], body="Nothing about Jane's fund.")
    [proposal] = [p for p in world.proposals_of(world.call) if p.target_key == f"contact:{world.jane.id}"]
    approve([proposal.id], world.ada, world.now, directory=world.directory)
    return world


def erase(client, address: str, body=None):
    headers = {"X-CSRFToken": client.csrf}
    if body is None:
        return client.http.delete(f"/api/people/{address}", headers=headers)
    return client.http.delete(f"/api/people/{address}", json=body, headers=headers)


def state_of_the_store() -> tuple:
    return (
        Email.select().count(),
        EmailAccountMessage.select().count(),
        Activity.select().count(),
        ContactEmail.select().count(),
        BareSighting.select().count(),
        SkippedMessage.select().count(),
        AuditEvent.select().where(AuditEvent.action == "person.erased").count(),
    )


def bare_sighting(world, mailbox: str, gmail_id: str, *addresses: str) -> BareSighting:
    sighting = BareSighting.create(
        account=world.mailbox(mailbox), gmail_id=gmail_id, sent_at=world.now, created_at=world.now
    )
    for role, address in zip(["from"] + ["to"] * len(addresses), addresses, strict=False):
        BareParticipant.create(
            sighting=sighting,
            address=address,
            match_key=match_key(address),
            domain=address.rpartition("@")[2],
            role=role,
        )
    return sighting


# -- find -----------------------------------------------------------------------------------------
def test_find_lists_exactly_the_mail_involving_the_address(admin_client, lp):
    response = admin_client.http.get(f"/api/people/{TYPED}")
    assert response.status_code == 200, response.text
    found = response.json
    assert found["address"] == "jane.roe+x@acme.example"
    assert sorted(e["id"] for e in found["emails"]) == sorted([lp.call.id, lp.reply.id])
    proposals = lp.proposals_of(lp.call) + lp.proposals_of(lp.reply)
    assert found["counts"] == {
        "emails": 2,
        "activities": 1,
        "proposals": len(proposals),
        "contacts": 1,
        "bare_sightings": 0,
    }
    assert sorted(p["id"] for p in found["proposals"]) == sorted(p.id for p in proposals)
    assert [a["email_id"] for a in found["activities"]] == [lp.call.id]
    assert [(c["id"], c["name"], c["addresses"]) for c in found["contacts"]] == [(lp.jane.id, "Jane Roe", [JANE])]
    assert found["truncated"] is False
    by_id = {e["id"]: e for e in found["emails"]}
    assert by_id[lp.call.id]["mailboxes"] == [ADA, BOB] and by_id[lp.call.id]["direction"] == "inbound"
    assert by_id[lp.reply.id]["direction"] == "outbound"
    assert by_id[lp.reply.id]["cc"] == [{"email": "sam@acme.example", "name": ""}]


def test_find_compares_gmail_addresses_like_the_matcher(admin_client, world):
    mail = world.email("Dinner", "j.doe@gmail.com", [BOB])
    world.email("Lunch", "jdoe2@gmail.com", [BOB])
    found = admin_client.http.get("/api/people/JDoe@googlemail.com").json
    assert [e["id"] for e in found["emails"]] == [mail.id] and found["counts"]["emails"] == 1


def test_find_caps_the_lists_but_not_the_counts(admin_client, world):
    for n in range(3):
        world.email(f"Note {n}", "pat@else.example", [ADA])
    found = find_person("pat@else.example", own_domains=("fund.example",), limit=2)
    assert found["counts"]["emails"] == 3 and len(found["emails"]) == 2 and found["truncated"] is True
    assert [e["subject"] for e in found["emails"]] == ["Note 0", "Note 1"]  # the newest first


@pytest.mark.parametrize("address", [ADA, "nobody@fund.example", "x@mail.fund.example", "not-an-address", "a@b"])
def test_an_own_domain_or_invalid_address_is_refused(admin_client, lp, address):
    before = state_of_the_store()
    for response in (
        admin_client.http.get(f"/api/people/{address}"),
        admin_client.http.get(f"/api/people/{address}/export"),
        erase(admin_client, address, {"confirm": True}),
    ):
        assert response.status_code == 400, (address, response.status_code)
        assert response.json["field"] == "address" and response.json["error"]
    assert state_of_the_store() == before


def test_a_team_mailbox_outside_the_own_domains_is_refused(admin_client, world):
    add_user("founder@gmail.com", "Founder", world.now)
    response = admin_client.http.get("/api/people/Founder@googlemail.com")
    assert response.status_code == 400 and response.json["field"] == "address"


def test_a_teammate_gets_none_of_it(member_client, lp):
    before = state_of_the_store()
    for response in (
        member_client.http.get(f"/api/people/{JANE}"),
        member_client.http.get(f"/api/people/{JANE}/export"),
        erase(member_client, JANE, {"confirm": True}),
    ):
        assert (response.status_code, response.json) == (403, {"error": "admin only"})
    assert state_of_the_store() == before


# -- export ---------------------------------------------------------------------------------------
def test_the_export_is_a_zip_of_the_person_and_their_mail(admin_client, lp):
    response = admin_client.http.get(f"/api/people/{TYPED}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="person-export.zip"'
    assert response.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    ids = sorted([lp.call.id, lp.reply.id])
    assert sorted(archive.namelist()) == sorted(["person.json"] + [f"emails/{i}.eml" for i in ids])
    person = json.loads(archive.read("person.json"))
    assert person["address"] == "jane.roe+x@acme.example" and person["generated_at"] == "2026-11-02T15:30:00Z"
    assert sorted(e["id"] for e in person["emails"]) == ids
    assert [c["id"] for c in person["contacts"]] == [lp.jane.id] and len(person["activities"]) == 1
    call = archive.read(f"emails/{lp.call.id}.eml").decode()
    headers, _, body = call.partition("\n\n")
    assert "Subject: Capital call" in headers.splitlines() and f"From: {JANE}" in headers.splitlines()
    assert f"To: {ADA}, {BOB}" in headers.splitlines() and "Message-ID: " + lp.call.message_id in headers
    assert any(line.startswith("Date: ") and line.endswith("+0000") for line in headers.splitlines())
    assert body == "Please wire the funds by Friday."
    reply = archive.read(f"emails/{lp.reply.id}.eml").decode()
    assert (
        "Subject: Quarterly letter" in reply and "Cc: sam@acme.example" in reply and "Attached, as promised." in reply
    )


def test_a_stored_subject_cannot_add_a_header_to_the_export(admin_client, world):
    world.email("Hi\r\nBcc: everyone@else.example", "pat@else.example", [ADA], body="x")
    archive = zipfile.ZipFile(io.BytesIO(admin_client.http.get("/api/people/pat@else.example/export").data))
    [name] = [n for n in archive.namelist() if n.startswith("emails/")]
    headers = archive.read(name).decode().partition("\n\n")[0].splitlines()
    assert "Subject: Hi Bcc: everyone@else.example" in headers
    assert not any(line.startswith("Bcc:") for line in headers)


# -- erase ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [None, {}, {"confirm": False}, {"confirm": "true"}, {"confirm": 1}, [True]])
def test_erasing_needs_confirm_true_and_changes_nothing_without_it(admin_client, lp, body):
    before = state_of_the_store()
    response = erase(admin_client, JANE, body)
    assert response.status_code == 400 and response.json["field"] == "confirm", response.text
    assert state_of_the_store() == before
    assert Contact.get_by_id(lp.jane.id).deleted_at is None


def test_erasing_removes_the_persons_mail_and_keeps_everyone_elses(admin_client, lp):
    sightings = list(
        EmailAccountMessage.select(EmailAccountMessage.account, EmailAccountMessage.gmail_id)
        .where(EmailAccountMessage.email.in_([lp.call.id, lp.reply.id]))
        .tuples()
    )
    assert len(sightings) == 3
    proposals = len(lp.proposals_of(lp.call) + lp.proposals_of(lp.reply))
    assert admin_client.http.get("/api/email/activity?q=Capital").json["items"]  # found before
    EmailAccount.update(stored_count=10).execute()
    skipped_before = {a.id: a.skipped_count for a in EmailAccount.select()}
    audit_before = AuditEvent.select().count()

    response = erase(admin_client, TYPED, {"confirm": True})
    assert response.status_code == 200, response.text
    assert response.json == {
        "emails": 2,
        "activities": 1,
        "proposals": proposals,
        "contacts": 1,
        "bare_sightings": 0,
        "audit_entries": 1,  # her contact's creation, which named her
    }

    assert not Email.select().where(Email.id.in_([lp.call.id, lp.reply.id])).exists()
    assert Email.get_by_id(lp.other.id).subject == "Hello from Sam"
    assert admin_client.http.get("/api/email/activity?q=Capital").json["items"] == []
    assert admin_client.http.get("/api/email/activity?q=Quarterly").json["items"] == []
    assert [i["email_id"] for i in admin_client.http.get("/api/email/activity?q=Sam").json["items"]] == [lp.other.id]
    assert Activity.select().count() == 0
    # Every sighting is a lasting skip naming no address, so capture does not fetch it again.
    erased = {
        (s.account_id, s.gmail_id): s.detail for s in SkippedMessage.select().where(SkippedMessage.reason == "erased")
    }
    assert erased == dict.fromkeys(sightings, "erased on request")
    for account_id, gmail_id in sightings:
        assert gmail_id in known_ids(account_id, [gmail_id])
    per_account = {a: sum(1 for s, _ in sightings if s == a) for a in skipped_before}
    assert {a.id: a.skipped_count - skipped_before[a.id] for a in EmailAccount.select()} == per_account
    assert {a.id: 10 - a.stored_count for a in EmailAccount.select()} == per_account
    # The contact loses the address, and with no address left, its name.
    assert not ContactEmail.select().where(ContactEmail.contact == lp.jane.id).exists()
    jane = Contact.get_by_id(lp.jane.id)
    assert jane.deleted_at is not None and jane.name == ""
    # The audit log keeps the figures and nothing that names her.
    events = list(AuditEvent.select().order_by(AuditEvent.id).offset(audit_before))
    assert [e.action for e in events] == ["person.erased"]
    [event] = events
    assert event.target_type == "person" and event.target_id == "" and event.actor_id == lp.ada.id
    assert event.detail == response.json
    recorded = json.dumps([event.detail, event.target_id, event.actor_label]).lower()
    assert "jane" not in recorded and "roe" not in recorded and "acme" not in recorded
    # Asked again, nothing is left.
    found = admin_client.http.get(f"/api/people/{JANE}").json
    assert found["counts"] == dict.fromkeys(["emails", "activities", "proposals", "contacts", "bare_sightings"], 0)


def test_erasing_takes_the_person_out_of_earlier_audit_entries(admin_client, lp):
    """Earlier entries keep what happened, not who: every spelling of the address becomes
    [erased] (the JSON stays whole, other people stay named), and the emptied contact's name
    leaves the entries about that contact. The exclusion list's entries keep the address it
    goes on refusing."""
    from appsrc.crm import audit

    audit.record(
        "draft.create",
        lp.now,
        actor=lp.ada,
        target_type="email",
        target_id=lp.reply.id,
        detail={"to": ["Jane.Roe+lp@ACME.example"], "cc": ["sam@acme.example"], "note": "for jane.roe@acme.example"},
    )
    audit.record("exclusion.add", lp.now, actor=lp.ada, target_type="exclusion", target_id=1, detail={"value": JANE})
    audit.record("investor.rename", lp.now, actor=lp.ada, target_type="investor", target_id=lp.acme.id, detail={})
    untouched = {e.id: e.detail for e in AuditEvent.select() if "jane" not in json.dumps(e.detail).lower()}

    response = erase(admin_client, TYPED, {"confirm": True})
    assert response.status_code == 200 and response.json["audit_entries"] == 2

    draft = AuditEvent.get(AuditEvent.action == "draft.create").detail
    assert draft == {"to": ["[erased]"], "cc": ["sam@acme.example"], "note": "for [erased]"}
    created = AuditEvent.get((AuditEvent.action == "contact.create") & (AuditEvent.target_id == str(lp.jane.id)))
    assert created.detail == {"investor_id": lp.acme.id, "name": "[erased]", "addresses": ["[erased]"]}
    assert AuditEvent.get(AuditEvent.action == "exclusion.add").detail == {"value": JANE}
    for event in AuditEvent.select():
        text = json.dumps(event.detail).lower()
        assert event.action.startswith("exclusion.") or ("jane" not in text and "roe" not in text), event.action
    assert {e.id: e.detail for e in AuditEvent.select().where(AuditEvent.id.in_(list(untouched)))} == untouched


def test_erasing_one_of_a_contacts_addresses_keeps_the_contact(admin_client, world):
    acme = world.investor("Acme Capital", "acme.example")
    jane = world.contact(acme, "Jane Roe", JANE, "jane@home.example")
    response = erase(admin_client, JANE, {"confirm": True})
    assert response.status_code == 200 and response.json["contacts"] == 1
    jane = Contact.get_by_id(jane.id)
    assert jane.deleted_at is None and jane.name == "Jane Roe"
    assert [a.address for a in jane.addresses] == ["jane@home.example"]


def test_erasing_deletes_the_bare_sightings_involving_the_address(admin_client, world):
    """Mail kept without content (who and when) is hers too."""
    lp = world
    hers = bare_sighting(lp, BOB, "bare-1", "JANE.ROE@acme.example", BOB)
    theirs = bare_sighting(lp, BOB, "bare-2", "someone@else.example", BOB)
    assert admin_client.http.get(f"/api/people/{JANE}").json["counts"]["bare_sightings"] == 1
    EmailAccount.update(stored_count=10, skipped_count=0).execute()
    bob = lp.mailbox(BOB)

    response = erase(admin_client, JANE, {"confirm": True})
    assert response.status_code == 200 and response.json["bare_sightings"] == 1
    assert not BareSighting.select().where(BareSighting.id == hers.id).exists()
    assert not BareParticipant.select().where(BareParticipant.sighting == hers.id).exists()
    assert BareSighting.select().where(BareSighting.id == theirs.id).exists()
    skip = SkippedMessage.get((SkippedMessage.account == bob.id) & (SkippedMessage.gmail_id == "bare-1"))
    assert (skip.reason, skip.detail) == ("erased", "erased on request")
    assert "bare-1" in known_ids(bob.id, ["bare-1"])
    # Bare sightings were never counted as stored; the erased one now counts as skipped.
    bob = lp.mailbox(BOB)
    assert (bob.stored_count, bob.skipped_count) == (10, 1)


# -- the dashboard --------------------------------------------------------------------------------
def test_the_people_page_finds_exports_and_erases(admin_client, lp):
    response = admin_client.callback(
        SEARCH,
        [("people-find", "n_clicks", 1), ("people-address", "n_submit", None), ("people-version", "data", 0)],
        [("people-address", "value", TYPED), ("people-found", "data", None)],
        triggered=["people-find.n_clicks"],
    )
    assert response.status_code == 200, response.text
    found = response.json["response"]
    texts = text_children(found)
    assert any(t.startswith("jane.roe+x@acme.example: 2 emails, 1 activity") for t in texts), texts
    assert "Capital call" in texts and "Quarterly letter" in texts and "Hello from Sam" not in texts
    assert found["people-found"]["data"] == "jane.roe+x@acme.example"
    assert found["people-export"]["children"]["props"]["href"] == "/api/people/jane.roe%2Bx@acme.example/export"
    assert found["people-erase-open"]["disabled"] is False

    dialog_inputs = [
        ("people-erase-open", "n_clicks", None),
        ("people-erase-cancel", "n_clicks", None),
        ("people-erase", "n_clicks", 1),
    ]

    def confirm(typed: str):
        state = [
            ("people-erase-typed", "value", typed),
            ("people-found", "data", "jane.roe+x@acme.example"),
            ("people-version", "data", 0),
        ]
        return admin_client.callback(DIALOG, dialog_inputs, state, triggered=["people-erase.n_clicks"])

    refused = confirm("someone.else@acme.example")
    assert refused.status_code == 200 and Email.select().where(Email.id == lp.call.id).exists()
    done = confirm("Jane.Roe+x@acme.example")
    assert done.status_code == 200, done.text
    body = done.json["response"]
    assert body["people-erase-modal"]["is_open"] is False and body["people-version"]["data"] == 1
    assert any(
        t.startswith("Erased: 2 emails, 1 activity") and t.endswith(" 1 audit entry no longer names them.")
        for t in text_children(body)
    )
    assert not Email.select().where(Email.id.in_([lp.call.id, lp.reply.id])).exists()
    assert AuditEvent.get(AuditEvent.action == "person.erased").actor_id == lp.ada.id
    # The page then looks the erased address up again (whatever the box holds by then): nothing left.
    again = admin_client.callback(
        SEARCH,
        [("people-find", "n_clicks", 1), ("people-address", "n_submit", None), ("people-version", "data", 1)],
        [("people-address", "value", "someone.else@acme.example"), ("people-found", "data", "jane.roe+x@acme.example")],
        triggered=["people-version.data"],
    )
    assert any(t.startswith("jane.roe+x@acme.example: 0 emails") for t in text_children(again.json["response"]))
