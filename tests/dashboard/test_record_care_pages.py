"""Keeping the CRM tidy from the dashboard, through the real callbacks (Flask test client posting
Dash's JSON): merge investors and contacts with a preview that changes nothing, the merged id's
page moving on to the survivor, delete and restore, correcting an approved activity, undoing an
approval, a contact who changed firms, and a teammate refused every one of these."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.crm.proposals import approve
from appsrc.store import queries
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    AuditEvent,
    Contact,
    ContactEmail,
    ContactMove,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
)
from tests.crm.fixtures import *
from tests.dashboard.desk import callback_key, find_components
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"
TZ = "Asia/Singapore"  # UTC+8 all year: a day in the fund's zone cannot pass for a UTC day
MERGE_INVESTORS = "investor-merge-modal.is_open"
MERGE_CONTACTS = "contact-merge-modal.is_open"
DELETE_INVESTOR = "investor-delete-modal.is_open"
DELETE_CONTACT = "contact-delete-modal.is_open"
EDIT = "investor-edit-modal.is_open"
UNDO = "investor-undo-modal.is_open"
MOVE = "contact-move-modal.is_open"
INVESTOR_STATE = "investor-redirect.href"
CONTACT_STATE = "contact-redirect.href"
DELETED_LIST = "investors-deleted.children"
RESTORE = "investors-version.data@"  # with the restore buttons among its inputs; see restore_key


@pytest.fixture
def settings(settings):
    """A fund east of UTC, so dates typed in the dashboard are read as the fund's days."""
    return settings.replace(timezone=TZ)


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
    w.sam = w.contact(w.acme, "Sam Lee", "sam@acme.example")
    w.call = w.email("Capital call", "jane@meridian.example", [ADA])
    w.memo = w.email("Board memo", "kim@meridiancp.example", [ADA])
    w.both = w.email("Joint note", "jane@meridian.example", [ADA], cc=["kim@meridiancp.example"])
    return w


def texts(response) -> list[str]:
    assert response.status_code == 200, response.text
    return text_children(response.json["response"])


def pattern_trigger(type_: str, id_) -> str:
    """Dash's changed-prop id of a pattern-matched button: its id as sorted, compact JSON."""
    return json.dumps({"id": id_, "type": type_}, separators=(",", ":")) + ".n_clicks"


def clicked(type_: str, id_) -> list[dict]:
    return [{"id": {"type": type_, "id": id_}, "property": "n_clicks", "value": 1}]


def approve_all(world, email) -> list[int]:
    ids = [p.id for p in world.proposals_of(email)]
    approve(ids, world.ada, world.now, directory=world.directory)
    return ids


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
        sorted(Activity.select(Activity.id, Activity.investor, Activity.contact, Activity.note).tuples()),
    )


# -- posting the page's callbacks ---------------------------------------------------------------
def merge_investors_dialog(client, app, button: str, survivor, chosen=(), previewed=None):
    return client.callback(
        callback_key(app, MERGE_INVESTORS),
        [
            ("investor-merge-open", "n_clicks", 1 if button == "open" else None),
            ("investor-merge-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("investor-merge-check", "n_clicks", 1 if button == "check" else None),
            ("investor-merge-confirm", "n_clicks", 1 if button == "confirm" else None),
            ("investor-merge-from", "value", list(chosen)),
        ],
        [
            ("investor-id", "data", str(survivor.id)),
            ("investor-merge-previewed", "data", previewed),
            ("investor-version", "data", 3),
        ],
        triggered=["investor-merge-from.value" if button == "from" else f"investor-merge-{button}.n_clicks"],
    )


def merge_contacts_dialog(client, app, button: str, survivor, chosen=(), previewed=None):
    return client.callback(
        callback_key(app, MERGE_CONTACTS),
        [
            ("contact-merge-open", "n_clicks", 1 if button == "open" else None),
            ("contact-merge-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("contact-merge-check", "n_clicks", 1 if button == "check" else None),
            ("contact-merge-confirm", "n_clicks", 1 if button == "confirm" else None),
            ("contact-merge-from", "value", list(chosen)),
        ],
        [
            ("contact-id", "data", str(survivor.id)),
            ("contact-merge-previewed", "data", previewed),
            ("contact-version", "data", 3),
        ],
        triggered=[f"contact-merge-{button}.n_clicks"],
    )


def investor_page(client, app, investor_id):
    return client.callback(
        callback_key(app, "investor-header.children"),
        [("investor-id", "data", str(investor_id)), ("investor-version", "data", 1)],
    )


def investor_state(client, app, investor_id):
    return client.callback(
        callback_key(app, INVESTOR_STATE), [("investor-id", "data", str(investor_id)), ("investor-version", "data", 1)]
    )


def contact_state(client, app, contact_id):
    return client.callback(
        callback_key(app, CONTACT_STATE), [("contact-id", "data", str(contact_id)), ("contact-version", "data", 1)]
    )


def delete_investor_dialog(client, app, button: str, investor):
    return client.callback(
        callback_key(app, DELETE_INVESTOR),
        [
            ("investor-delete-open", "n_clicks", 1 if button == "open" else None),
            ("investor-delete-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("investor-delete-confirm", "n_clicks", 1 if button == "confirm" else None),
        ],
        [("investor-id", "data", str(investor.id)), ("investor-version", "data", 2)],
        triggered=[f"investor-delete-{button}.n_clicks"],
    )


def delete_contact_dialog(client, app, button: str, contact):
    return client.callback(
        callback_key(app, DELETE_CONTACT),
        [
            ("contact-delete-open", "n_clicks", 1 if button == "open" else None),
            ("contact-delete-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("contact-delete-confirm", "n_clicks", 1 if button == "confirm" else None),
        ],
        [("contact-id", "data", str(contact.id)), ("contact-version", "data", 2)],
        triggered=[f"contact-delete-{button}.n_clicks"],
    )


def deleted_list(client, app):
    return client.callback(callback_key(app, DELETED_LIST), [("investors-version", "data", 5)])


def restore_key(app) -> str:
    keys = [
        k
        for k, entry in app.extensions["dash_app"].callback_map.items()
        if RESTORE in k and any("investors-restore-investor" in str(i["id"]) for i in entry["inputs"])
    ]
    assert len(keys) == 1, keys
    return keys[0]


def restore(client, app, kind: str, record_id):
    type_ = f"investors-restore-{kind}"
    return client.callback(
        restore_key(app),
        [
            clicked(type_, record_id) if kind == "investor" else [],
            clicked(type_, record_id) if kind == "contact" else [],
        ],
        [("investors-version", "data", 5)],
        triggered=[pattern_trigger(type_, record_id)],
    )


def edit_dialog(
    client, app, button: str, investor, *, activity_id=None, note=None, day=None, contact=None, target=None
):
    edits = clicked("investor-activity-edit", activity_id) if button == "open" else []
    return client.callback(
        callback_key(app, EDIT),
        [
            edits,
            ("investor-edit-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("investor-edit-save", "n_clicks", 1 if button == "save" else None),
        ],
        [
            ("investor-edit-note", "value", note),
            ("investor-edit-date", "value", day),
            ("investor-edit-contact", "value", contact),
            ("investor-edit-target", "data", target),
            ("investor-id", "data", str(investor.id)),
            ("investor-version", "data", 4),
        ],
        triggered=[
            pattern_trigger("investor-activity-edit", activity_id)
            if button == "open"
            else f"investor-edit-{button}.n_clicks"
        ],
    )


def undo_dialog(client, app, button: str, investor, *, activity_id=None, whole=False, target=None):
    undos = clicked("investor-activity-undo", activity_id) if button == "open" else []
    return client.callback(
        callback_key(app, UNDO),
        [
            undos,
            ("investor-undo-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("investor-undo-confirm", "n_clicks", 1 if button == "confirm" else None),
        ],
        [
            ("investor-undo-whole", "value", whole),
            ("investor-undo-target", "data", target),
            ("investor-id", "data", str(investor.id)),
            ("investor-version", "data", 4),
        ],
        triggered=[
            pattern_trigger("investor-activity-undo", activity_id)
            if button == "open"
            else f"investor-undo-{button}.n_clicks"
        ],
    )


def move_dialog(client, app, button: str, contact, *, investor_id=None, since=None):
    return client.callback(
        callback_key(app, MOVE),
        [
            ("contact-move-open", "n_clicks", 1 if button == "open" else None),
            ("contact-move-cancel", "n_clicks", 1 if button == "cancel" else None),
            ("contact-move-confirm", "n_clicks", 1 if button == "confirm" else None),
        ],
        [
            ("contact-id", "data", str(contact.id)),
            ("contact-move-investor", "value", investor_id),
            ("contact-move-since", "value", since),
            ("contact-version", "data", 2),
        ],
        triggered=[f"contact-move-{button}.n_clicks"],
    )


def warnings_in(tree) -> list[str]:
    """The text of every warning list item (the merge preview's conflicts)."""
    return [
        " ".join(text_children(item))
        for item in find_components(tree, "ListGroupItem")
        if item["props"].get("color") == "warning"
    ]


# -- merge investors ----------------------------------------------------------------------------
def test_merge_preview_lists_what_moves_and_the_conflicts_and_changes_nothing(admin_client, app, crm):
    approve_all(crm, crm.memo)
    before = snapshot()

    opened = merge_investors_dialog(admin_client, app, "open", crm.meridian).json["response"]
    assert opened["investor-merge-modal"]["is_open"] is True
    assert opened["investor-merge-confirm"]["disabled"] is True
    labels = {o["value"]: o["label"] for o in opened["investor-merge-from"]["options"]}
    assert set(labels) == {crm.partners.id, crm.acme.id}  # every live investor but this one
    assert labels[crm.partners.id] == "Meridian Capital Partners · meridiancp.example"

    # "Merge" before any preview merges nothing.
    refused = merge_investors_dialog(admin_client, app, "confirm", crm.meridian, [crm.partners.id], previewed=None)
    assert "Preview the merge first." in texts(refused)
    assert snapshot() == before

    preview = merge_investors_dialog(admin_client, app, "check", crm.meridian, [crm.partners.id])
    body = preview.json["response"]
    shown = texts(preview)
    assert "What moves into Meridian Capital" in shown
    assert "meridiancp.example" in shown
    assert "Jane Roe (jane.roe@meridiancp.example); Kim Park (kim@meridiancp.example)" in shown
    rows = {
        text_children(row)[0]: text_children(row)[1] for row in find_components(body["investor-merge-preview"], "Tr")
    }
    assert rows["Links to captured emails"] == "2" and rows["Approved activities"] == "1"
    assert rows["Decided proposals"] == "1" and rows["Pending proposals"] == "1"
    conflicts = warnings_in(body["investor-merge-preview"])
    assert any("may be one person" in c and "Jane Roe (Meridian Capital Partners)" in c for c in conflicts)
    assert any("linked to both Meridian Capital Partners and Meridian Capital" in c for c in conflicts)
    assert len(conflicts) == 2
    assert body["investor-merge-confirm"]["disabled"] is False
    assert body["investor-merge-previewed"]["data"] == [crm.partners.id]
    assert snapshot() == before  # a preview is a dry run
    assert not AuditEvent.select().where(AuditEvent.action == "investor.merge").exists()

    # Picking something else asks for a new preview.
    changed = merge_investors_dialog(admin_client, app, "from", crm.meridian, [crm.partners.id, crm.acme.id])
    changed_body = changed.json["response"]
    assert changed_body["investor-merge-confirm"]["disabled"] is True
    assert changed_body["investor-merge-previewed"]["data"] is None
    assert changed_body["investor-merge-preview"]["children"] is None


def test_merge_moves_everything_to_the_survivor_and_the_old_page_moves_on(admin_client, app, crm):
    approve_all(crm, crm.memo)
    merged = merge_investors_dialog(
        admin_client, app, "confirm", crm.meridian, [crm.partners.id, crm.acme.id], previewed=[crm.partners.id]
    )
    body = merged.json["response"]
    assert body["investor-merge-modal"]["is_open"] is False
    assert body["investor-version"]["data"] == 4
    assert any(
        t.startswith("Merged Meridian Capital Partners into Meridian Capital: 1 domain, 2 contacts")
        for t in texts(merged)
    )
    # Exactly what was previewed: Acme, picked after the preview, stays itself.
    assert Investor.get_by_id(crm.acme.id).deleted_at is None
    old = Investor.get_by_id(crm.partners.id)
    assert old.merged_into_id == crm.meridian.id and old.deleted_at is not None
    assert {d.domain for d in InvestorDomain.select().where(InvestorDomain.investor == crm.meridian.id)} == {
        "meridian.example",
        "meridiancp.example",
    }
    assert {c.name for c in Contact.select().where(Contact.investor == crm.meridian.id)} == {"Jane Roe", "Kim Park"}
    assert not EmailInvestorLink.select().where(EmailInvestorLink.investor == crm.partners.id).exists()
    assert Activity.get().investor_id == crm.meridian.id
    assert AuditEvent.get(AuditEvent.action == "investor.merge").actor_id == crm.ada.id

    # The survivor's page shows everything; the duplicate's page moves on to it.
    page = investor_page(admin_client, app, crm.meridian.id)
    contacts = text_children(page.json["response"]["investor-contacts"])
    assert "Kim Park" in contacts and contacts.count("Jane Roe") == 2
    assert "Board memo" in texts(page)
    state = investor_state(admin_client, app, crm.partners.id).json["response"]
    assert state["investor-redirect"]["href"] == f"/investors/{crm.meridian.id}"
    assert state["investor-actions"]["style"] == {"display": "none"}
    old_page = investor_page(admin_client, app, crm.partners.id)
    links = [c["props"]["href"] for c in find_components(old_page.json, "Link")]
    assert f"/investors/{crm.meridian.id}" in links and "Meridian Capital" in texts(old_page)
    live = investor_state(admin_client, app, crm.meridian.id).json["response"]
    assert "investor-redirect" not in live and live["investor-actions"]["style"] == {}


def test_a_merge_refused_by_the_crm_says_why_and_changes_nothing(admin_client, app, crm):
    before = snapshot()
    nothing = merge_investors_dialog(admin_client, app, "check", crm.meridian, [])
    assert "Pick at least one duplicate first." in texts(nothing)
    itself = merge_investors_dialog(admin_client, app, "confirm", crm.meridian, previewed=[crm.meridian.id])
    assert any("cannot be merged into itself" in t for t in texts(itself))
    assert "investor-version" not in itself.json["response"]
    assert snapshot() == before


# -- merge contacts -----------------------------------------------------------------------------
def test_contact_merge_previews_then_merges_and_the_old_contact_page_moves_on(admin_client, app, crm):
    approve_all(crm, crm.memo)
    opened = merge_contacts_dialog(admin_client, app, "open", crm.jane).json["response"]
    labels = {o["value"]: o["label"] for o in opened["contact-merge-from"]["options"]}
    assert set(labels) == {crm.jane2.id, crm.kim.id, crm.sam.id}  # live contacts of any investor, not Jane herself
    assert labels[crm.jane2.id] == "Jane Roe · Meridian Capital Partners · jane.roe@meridiancp.example"

    before = snapshot()
    preview = merge_contacts_dialog(admin_client, app, "check", crm.jane, [crm.jane2.id])
    shown = texts(preview)
    assert "What moves into Jane Roe" in shown and "jane.roe@meridiancp.example" in shown
    conflicts = warnings_in(preview.json["response"]["contact-merge-preview"])
    assert len(conflicts) == 1 and "Jane Roe is at Meridian Capital Partners" in conflicts[0]
    assert snapshot() == before

    merged = merge_contacts_dialog(admin_client, app, "confirm", crm.jane, previewed=[crm.jane2.id])
    assert any(t.startswith("Merged Jane Roe into Jane Roe: 1 address") for t in texts(merged))
    assert ContactEmail.get(ContactEmail.address == "jane.roe@meridiancp.example").contact_id == crm.jane.id
    assert Contact.get_by_id(crm.jane2.id).merged_into_id == crm.jane.id
    state = contact_state(admin_client, app, crm.jane2.id).json["response"]
    assert state["contact-redirect"]["href"] == f"/contacts/{crm.jane.id}"
    assert state["contact-actions"]["style"] == {"display": "none"}
    assert "contact-redirect" not in contact_state(admin_client, app, crm.jane.id).json["response"]


# -- delete and restore -------------------------------------------------------------------------
def test_delete_an_investor_then_restore_it_from_the_investors_page(admin_client, app, crm):
    assert "Nothing was deleted in the last 30 days." in texts(deleted_list(admin_client, app))
    opened = delete_investor_dialog(admin_client, app, "open", crm.meridian).json["response"]
    assert opened["investor-delete-modal"]["is_open"] is True
    assert opened["investor-delete-name"]["children"] == "Meridian Capital"
    assert Investor.get_by_id(crm.meridian.id).deleted_at is None  # opening asks, nothing more

    deleted = delete_investor_dialog(admin_client, app, "confirm", crm.meridian)
    body = deleted.json["response"]
    assert body["investor-delete-modal"]["is_open"] is False and body["investor-version"]["data"] == 3
    assert any("Meridian Capital is deleted" in t and "restore it until 02 Dec 2026" in t for t in texts(deleted))
    assert [c["props"]["href"] for c in find_components(body["investor-message"], "Link")] == ["/investors"]
    assert Investor.get_by_id(crm.meridian.id).deleted_at is not None
    assert not EmailInvestorLink.select().where(EmailInvestorLink.investor == crm.meridian.id).exists()
    assert all(i["id"] != crm.meridian.id for i in queries.list_investors(include_graveyard=True))
    assert investor_state(admin_client, app, crm.meridian.id).json["response"]["investor-actions"]["style"] == {
        "display": "none"
    }
    assert any("was deleted on 02 Nov 2026" in t for t in texts(investor_page(admin_client, app, crm.meridian.id)))

    listed = deleted_list(admin_client, app)
    rows = [text_children(row) for row in find_components(listed.json, "Tr")[1:]]
    assert rows == [["Meridian Capital", "Investor", "02 Nov 2026", "02 Dec 2026", "Restore"]]
    restored = restore(admin_client, app, "investor", crm.meridian.id)
    assert any(t.startswith("Restored Meridian Capital;") for t in texts(restored))
    assert restored.json["response"]["investors-version"]["data"] == 6
    assert Investor.get_by_id(crm.meridian.id).deleted_at is None
    assert EmailInvestorLink.select().where(EmailInvestorLink.investor == crm.meridian.id).exists()  # rematched
    assert AuditEvent.get(AuditEvent.action == "investor.restore").actor_id == crm.ada.id
    assert "Nothing was deleted in the last 30 days." in texts(deleted_list(admin_client, app))


def test_delete_a_contact_then_restore_it_and_a_contact_of_a_deleted_investor_waits(admin_client, app, crm):
    deleted = delete_contact_dialog(admin_client, app, "confirm", crm.kim)
    assert any("Kim Park is deleted" in t for t in texts(deleted))
    assert Contact.get_by_id(crm.kim.id).deleted_at is not None
    delete_investor_dialog(admin_client, app, "confirm", crm.partners)
    rows = [text_children(row) for row in find_components(deleted_list(admin_client, app).json, "Tr")[1:]]
    assert [row[:2] for row in rows] == [
        ["Meridian Capital Partners", "Investor"],
        ["Kim Park", "Contact at Meridian Capital Partners (deleted)"],
    ]
    refused = restore(admin_client, app, "contact", crm.kim.id)
    assert any("Nothing was restored: its investor is deleted" in t for t in texts(refused))
    assert Contact.get_by_id(crm.kim.id).deleted_at is not None
    restore(admin_client, app, "investor", crm.partners.id)
    restored = restore(admin_client, app, "contact", crm.kim.id)
    assert any(t.startswith("Restored Kim Park;") for t in texts(restored))
    assert Contact.get_by_id(crm.kim.id).deleted_at is None


def test_a_refresh_of_the_deleted_list_restores_nothing(admin_client, app, crm):
    delete_investor_dialog(admin_client, app, "confirm", crm.acme)
    response = admin_client.callback(
        restore_key(app),
        [
            [{"id": {"type": "investors-restore-investor", "id": crm.acme.id}, "property": "n_clicks", "value": None}],
            [],
        ],
        [("investors-version", "data", 5)],
        triggered=[pattern_trigger("investors-restore-investor", crm.acme.id)],
    )
    assert response.status_code == 204
    assert Investor.get_by_id(crm.acme.id).deleted_at is not None


# -- correct an approved activity -------------------------------------------------------------------
def test_edit_an_activity_note_date_and_contact(admin_client, app, crm):
    crm.lee = crm.contact(crm.meridian, "Lee Chan", "lee@meridian.example")
    approve_all(crm, crm.call)
    activity = Activity.get()
    occurred = activity.occurred_at
    opened = edit_dialog(admin_client, app, "open", crm.meridian, activity_id=activity.id).json["response"]
    assert opened["investor-edit-modal"]["is_open"] is True
    assert opened["investor-edit-summary"]["children"] == activity.summary
    assert opened["investor-edit-note"]["value"] == ""
    local = occurred.astimezone(ZoneInfo(TZ))
    assert opened["investor-edit-date"]["value"] == local.date().isoformat()
    assert opened["investor-edit-contact"]["value"] == crm.jane.id
    assert {o["label"] for o in opened["investor-edit-contact"]["options"]} == {"Jane Roe", "Lee Chan"}
    target = opened["investor-edit-target"]["data"]

    saved = edit_dialog(
        admin_client,
        app,
        "save",
        crm.meridian,
        note="Wants the Q3 deck before Friday",
        day=local.date().isoformat(),
        contact=crm.jane.id,
        target=target,
    )
    body = saved.json["response"]
    assert body["investor-edit-modal"]["is_open"] is False and body["investor-version"]["data"] == 5
    after = Activity.get_by_id(activity.id)
    assert after.note == "Wants the Q3 deck before Friday"
    assert after.occurred_at == occurred  # the date was not touched: the time stays
    page = texts(investor_page(admin_client, app, crm.meridian.id))
    assert "Wants the Q3 deck before Friday" in page
    assert any("edited 02 Nov 2026" in t for t in page)

    # Another day, at the same time of the fund's day; and another contact.
    moved = edit_dialog(
        admin_client,
        app,
        "save",
        crm.meridian,
        note="Wants the Q3 deck before Friday",
        day="2026-10-05",
        contact=crm.lee.id,
        target=target,
    )
    assert moved.json["response"]["investor-edit-modal"]["is_open"] is False
    after = Activity.get_by_id(activity.id)
    expected = datetime.combine(datetime(2026, 10, 5).date(), local.time(), tzinfo=ZoneInfo(TZ)).astimezone(UTC)
    assert after.occurred_at == expected
    assert after.contact_id == crm.lee.id and after.note == "Wants the Q3 deck before Friday"
    assert AuditEvent.select().where(AuditEvent.action == "activity.edit").count() == 2


def test_a_bad_date_shows_an_error_and_changes_nothing(admin_client, app, crm):
    approve_all(crm, crm.call)
    activity = Activity.get()
    opened = edit_dialog(admin_client, app, "open", crm.meridian, activity_id=activity.id).json["response"]
    target = opened["investor-edit-target"]["data"]
    before = snapshot()
    for bad in ("2026-02-30", "next Tuesday", "1900-01-01"):
        response = edit_dialog(
            admin_client, app, "save", crm.meridian, note="A new note", day=bad, contact=crm.jane.id, target=target
        )
        body = response.json["response"]
        assert "investor-edit-modal" not in body and "investor-version" not in body, bad  # stays open
        assert any(t.startswith("Nothing was saved:") for t in texts(response)), bad
        assert snapshot() == before, bad
    assert not AuditEvent.select().where(AuditEvent.action == "activity.edit").exists()


# -- undo an approval ---------------------------------------------------------------------------
def test_undo_an_approval_alone_or_with_its_whole_bulk_action(admin_client, app, crm):
    first, second = crm.proposals_of(crm.call)[0], crm.proposals_of(crm.memo)[0]
    approve([first.id, second.id], crm.ada, crm.now, directory=crm.directory)  # one bulk action
    activity = Activity.get(Activity.proposal == first.id)
    page = investor_page(admin_client, app, crm.meridian.id).json["response"]
    undo_buttons = [
        b["props"]["id"]["id"]
        for b in find_components(page["investor-timeline"], "Button")
        if b["props"]["id"]["type"] == "investor-activity-undo"
    ]
    assert undo_buttons == [activity.id]

    opened = undo_dialog(admin_client, app, "open", crm.meridian, activity_id=activity.id).json["response"]
    assert opened["investor-undo-modal"]["is_open"] is True
    assert opened["investor-undo-target"]["data"] == {"proposal_id": first.id}
    assert "Capital call" in opened["investor-undo-text"]["children"]
    assert ActivityProposal.get_by_id(first.id).status == "approved"  # opening asks, nothing more

    cancelled = undo_dialog(admin_client, app, "cancel", crm.meridian, target={"proposal_id": first.id})
    assert cancelled.json["response"]["investor-undo-modal"]["is_open"] is False
    assert ActivityProposal.get_by_id(first.id).status == "approved"

    alone = undo_dialog(admin_client, app, "confirm", crm.meridian, target={"proposal_id": first.id})
    assert "Undone: 1 proposal back in the Approvals queue, 1 activity withdrawn." in texts(alone)
    assert ActivityProposal.get_by_id(first.id).status == "pending"
    assert ActivityProposal.get_by_id(second.id).status == "approved"
    assert not Activity.select().where(Activity.id == activity.id).exists()
    timeline = investor_page(admin_client, app, crm.meridian.id).json["response"]["investor-timeline"]
    assert "Capital call" not in text_children(timeline)

    approve([first.id], crm.ada, crm.now, directory=crm.directory)
    approve_again = crm.proposals_of(crm.both)
    approve([p.id for p in approve_again], crm.ada, crm.now, directory=crm.directory)
    both = approve_again[0]
    whole = undo_dialog(admin_client, app, "confirm", crm.meridian, whole=True, target={"proposal_id": both.id})
    assert any(t.startswith(f"Undone: {len(approve_again)} proposals") for t in texts(whole))
    assert {ActivityProposal.get_by_id(p.id).status for p in approve_again} == {"pending"}
    assert ActivityProposal.get_by_id(first.id).status == "approved"  # another action, untouched


def test_undo_of_a_pending_proposal_is_refused(admin_client, app, crm):
    pending = crm.proposals_of(crm.call)[0]
    response = undo_dialog(admin_client, app, "confirm", crm.meridian, target={"proposal_id": pending.id})
    assert any("Nothing was undone:" in t and "there is no decision to undo" in t for t in texts(response))
    assert "investor-version" not in response.json["response"]


# -- a contact who changed firms ------------------------------------------------------------------
def test_move_a_contact_to_another_firm(admin_client, app, crm):
    old_mail = crm.email("Before the move", "jane@meridian.example", [ADA], sent_at=datetime(2026, 9, 1, tzinfo=UTC))
    approve_all(crm, old_mail)
    approve_all(crm, crm.call)
    opened = move_dialog(admin_client, app, "open", crm.jane).json["response"]
    assert opened["contact-move-modal"]["is_open"] is True
    assert opened["contact-move-from"]["children"] == "Meridian Capital"
    assert {o["value"] for o in opened["contact-move-investor"]["options"]} == {crm.partners.id, crm.acme.id}
    assert opened["contact-move-since"]["value"] == "2026-11-02"  # 23:30 in Singapore

    missing = move_dialog(admin_client, app, "confirm", crm.jane, since="2026-10-01")
    assert "Pick the firm they joined." in texts(missing)
    assert Contact.get_by_id(crm.jane.id).investor_id == crm.meridian.id

    moved = move_dialog(admin_client, app, "confirm", crm.jane, investor_id=crm.acme.id, since="2026-10-01")
    body = moved.json["response"]
    assert body["contact-move-modal"]["is_open"] is False and body["contact-version"]["data"] == 3
    assert any(
        t.startswith("Jane Roe moved to Acme Capital from 01 Oct 2026: 1 approved activity") for t in texts(moved)
    )
    assert Contact.get_by_id(crm.jane.id).investor_id == crm.acme.id
    move = ContactMove.get()
    assert move.since == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # the start of 1 October in Singapore
    assert Activity.get(Activity.email == old_mail.id).investor_id == crm.meridian.id  # before: stays
    assert Activity.get(Activity.email == crm.call.id).investor_id == crm.acme.id

    again = move_dialog(admin_client, app, "confirm", crm.jane, investor_id=crm.partners.id, since="2026-09-01")
    assert any(t.startswith("Nothing was moved:") for t in texts(again))
    assert ContactMove.select().count() == 1


# -- teammates ----------------------------------------------------------------------------------
def test_a_teammate_is_refused_every_record_care_callback(member_client, app, crm):
    approve_all(crm, crm.call)
    activity = Activity.get()
    before = snapshot()
    attempts = [
        merge_investors_dialog(member_client, app, "confirm", crm.meridian, previewed=[crm.partners.id]),
        merge_investors_dialog(member_client, app, "check", crm.meridian, [crm.partners.id]),
        merge_contacts_dialog(member_client, app, "confirm", crm.jane, previewed=[crm.jane2.id]),
        delete_investor_dialog(member_client, app, "confirm", crm.meridian),
        delete_contact_dialog(member_client, app, "confirm", crm.kim),
        edit_dialog(
            member_client,
            app,
            "save",
            crm.meridian,
            note="mine now",
            day="2026-10-01",
            contact=crm.jane.id,
            target={"id": activity.id, "note": "", "day": "2026-11-02", "time": "12:00:00", "contact_id": crm.jane.id},
        ),
        undo_dialog(member_client, app, "confirm", crm.meridian, target={"proposal_id": activity.proposal_id}),
        move_dialog(member_client, app, "confirm", crm.jane, investor_id=crm.acme.id, since="2026-10-01"),
        restore(member_client, app, "investor", crm.meridian.id),
        investor_state(member_client, app, crm.partners.id),
        contact_state(member_client, app, crm.jane2.id),
        deleted_list(member_client, app),
    ]
    for response in attempts:
        assert response.status_code == 403 and response.json == {"error": "admin only"}
    assert snapshot() == before


def test_every_record_care_date_is_the_funds_day(admin_client, app, crm, clock):
    """A deletion just after midnight in Singapore is dated that day, not UTC's previous one."""
    clock.advance(timedelta(hours=1).total_seconds())  # 00:30 on 3 November in Singapore, 2 November in UTC
    delete_investor_dialog(admin_client, app, "confirm", crm.acme)
    rows = [text_children(row) for row in find_components(deleted_list(admin_client, app).json, "Tr")[1:]]
    assert rows[0][2:4] == ["03 Nov 2026", "03 Dec 2026"]
