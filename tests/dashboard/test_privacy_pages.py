"""The privacy controls through their real callbacks (Flask test client posting Dash's JSON): the
capture scope and the confirmation that names what it deletes, a mailbox's pause, resume and
removal, and a teammate's own exclusions, which only they can change and the audit log never
spells out."""

from __future__ import annotations

import json

import pytest

from appsrc.crm import member_exclusions
from appsrc.store import queries
from appsrc.store.bare import capture_scope
from appsrc.store.models import AuditEvent, Email, EmailAccount, EmailAccountMessage, MemberExclusion
from tests.crm.fixtures import *
from tests.dashboard.desk import callback_key, find_components
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"
APPLY_SCOPE = "mailboxes-scope-dialog.is_open"
SCOPE_VIEW = "mailboxes-scope-now.children"
CARDS = "..mailboxes-cards.children"
PAUSE_RESUME = "mailboxes-message.children@"  # with the interval it bumps; the removal's key holds "-dialog"
REMOVAL = "mailboxes-remove-dialog.is_open"
REMOVAL_READY = "mailboxes-remove-confirm.disabled"
KEPT_OUT = (
    "..home-kept-out-list.children...home-kept-out-message.children...home-kept-out-value.value"
    "...home-refresh.n_intervals.."
)


def pattern_trigger(type_: str, id_) -> str:
    """Dash's changed-prop id of a pattern-matched button: its id as sorted, compact JSON."""
    return json.dumps({"id": id_, "type": type_}, separators=(",", ":")) + ".n_clicks"


def buttons(type_: str, clicked=None) -> list[dict]:
    """The wildcard input of one kind of per-row button, with `clicked` (an id) pressed once."""
    return [] if clicked is None else [{"id": {"type": type_, "id": clicked}, "property": "n_clicks", "value": 1}]


def pause_resume_key(app) -> str:
    keys = [k for k in app.extensions["dash_app"].callback_map if k.startswith(".." + PAUSE_RESUME)]
    assert len(keys) == 1, keys
    return keys[0]


def texts(response) -> list[str]:
    assert response.status_code == 200, response.text
    return text_children(response.json["response"])


@pytest.fixture
def mixed_mail(world):
    """One investor's email and two that are nobody's investor mail."""
    world.acme = world.investor("Acme Capital", "acme.example")
    world.call = world.email("Capital call", "jane@acme.example", [ADA])
    world.lunch = world.email("Lunch on Thursday?", "friend@elsewhere.example", [BOB])
    world.dentist = world.email("Your appointment", "desk@dentist.example", [ADA])
    return world


def subjects_in_search() -> set[str]:
    return {item["subject"] for item in queries.email_activity(limit=200)["items"]}


# -- the capture scope --------------------------------------------------------------------------
def scope_action(client, app, button: str, choice: str | None = "investors"):
    return client.callback(
        callback_key(app, APPLY_SCOPE),
        [
            ("mailboxes-scope-apply", "n_clicks", 1 if button == "apply" else None),
            ("mailboxes-scope-confirm", "n_clicks", 1 if button == "confirm" else None),
            ("mailboxes-scope-cancel", "n_clicks", 1 if button == "cancel" else None),
        ],
        [("mailboxes-scope-choice", "value", choice), ("mailboxes-scope-version", "data", 4)],
        triggered=[f"mailboxes-scope-{button}.n_clicks"],
    )


def test_investor_mail_only_asks_first_and_names_how_many_emails_lose_their_content(admin_client, app, mixed_mail):
    response = scope_action(admin_client, app, "apply")
    body = response.json["response"]
    assert body["mailboxes-scope-dialog"]["is_open"] is True
    assert body["mailboxes-scope-confirm"]["children"] == "Reduce 2 emails"
    assert "2 emails" in texts(response)
    assert "mailboxes-scope-version" not in body  # nothing changed, so nothing to reload
    assert capture_scope() == "all"
    assert subjects_in_search() == {"Capital call", "Lunch on Thursday?", "Your appointment"}
    assert not AuditEvent.select().where(AuditEvent.action == "capture.scope").exists()

    cancelled = scope_action(admin_client, app, "cancel").json["response"]
    assert cancelled["mailboxes-scope-dialog"]["is_open"] is False
    assert capture_scope() == "all"


def test_confirming_reduces_the_mail_that_is_not_investor_mail(admin_client, app, mixed_mail):
    response = scope_action(admin_client, app, "confirm", choice="all")  # the dialog only ever confirms `investors`
    body = response.json["response"]
    assert body["mailboxes-scope-dialog"]["is_open"] is False
    assert body["mailboxes-scope-version"]["data"] == 5
    assert any("2 emails reduced to bare sightings" in t for t in texts(response))
    assert capture_scope() == "investors"
    assert subjects_in_search() == {"Capital call"}
    assert Email.get_or_none(Email.id == mixed_mail.lunch.id) is None
    event = AuditEvent.get(AuditEvent.action == "capture.scope")
    assert event.actor_id == mixed_mail.ada.id and event.detail["scope"] == "investors"

    # The card states the new scope, keeps explaining both, and the cards count the bare sightings.
    view = admin_client.callback(callback_key(app, SCOPE_VIEW), [("mailboxes-scope-version", "data", 5)])
    view_body = view.json["response"]
    assert view_body["mailboxes-scope-choice"]["value"] == "investors"
    assert "Investor mail only" in texts(view)
    assert [o["value"] for o in view_body["mailboxes-scope-choice"]["options"]] == ["investors", "all"]
    assert any("bare sighting" in t for t in text_children(view_body["mailboxes-scope-choice"]["options"][0]))
    cards = render_cards(admin_client, app)
    assert "2 emails kept without content (bare sightings) · 0 queued to be fetched in full" in texts(cards)


def test_all_external_mail_says_the_bare_sightings_are_fetched_in_the_background(admin_client, app, mixed_mail):
    scope_action(admin_client, app, "confirm")
    response = scope_action(admin_client, app, "apply", choice="all")
    assert response.json["response"]["mailboxes-scope-dialog"]["is_open"] is False
    assert any("2 emails kept without content will be fetched in full in the background" in t for t in texts(response))
    assert capture_scope() == "all"
    cards = texts(render_cards(admin_client, app))
    assert "Fetching 1 earlier email that now matches (at Gmail's quota pace)" in cards  # Ada's and Bob's, one each
    assert "2 emails kept without content (bare sightings) · 2 queued to be fetched in full" in cards


def test_a_scope_that_is_no_scope_is_refused(admin_client, app, mixed_mail):
    response = scope_action(admin_client, app, "apply", choice="everything")
    assert any("scope must be one of investors, all" in t for t in texts(response))
    assert capture_scope() == "all"


# -- a mailbox's life ---------------------------------------------------------------------------
def render_cards(client, app, refreshes: int = 1):
    return client.callback(
        callback_key(app, CARDS), [("mailboxes-refresh", "n_intervals", refreshes), buttons("mailboxes-sync")]
    )


def card_buttons(response) -> dict[int, set[str]]:
    """Per mailbox id, the kinds of its admin buttons ("mailboxes-pause", ...)."""
    found: dict[int, set[str]] = {}
    for button in find_components(response.json["response"], "Button"):
        id_ = button["props"].get("id")
        if isinstance(id_, dict):
            found.setdefault(id_["id"], set()).add(id_["type"])
    return found


def state_of(address: str) -> str:
    return next(m["state"] for m in queries.list_mailboxes() if m["address"] == address)


def pause_or_resume(client, app, action: str, account_id):
    return client.callback(
        pause_resume_key(app),
        [
            buttons("mailboxes-pause", account_id if action == "pause" else None),
            buttons("mailboxes-resume", account_id if action == "resume" else None),
        ],
        [("mailboxes-refresh", "n_intervals", 7)],
        triggered=[pattern_trigger(f"mailboxes-{action}", account_id)],
    )


def test_pause_and_resume_change_the_state_and_are_audited(admin_client, app, world):
    bob = world.mailbox(BOB)
    assert card_buttons(render_cards(admin_client, app))[bob.id] == {
        "mailboxes-sync",
        "mailboxes-pause",
        "mailboxes-remove",
    }
    response = pause_or_resume(admin_client, app, "pause", bob.id)
    assert any("bob@fund.example is paused" in t for t in texts(response))
    assert response.json["response"]["mailboxes-refresh"]["n_intervals"] == 8  # the cards reload at once
    assert state_of(BOB) == "paused" and state_of(ADA) == "active"
    event = AuditEvent.get(AuditEvent.action == "mailbox.pause")
    assert event.actor_id == world.ada.id and event.target_id == str(bob.id)

    cards = render_cards(admin_client, app)
    assert card_buttons(cards)[bob.id] == {"mailboxes-sync", "mailboxes-resume", "mailboxes-remove"}
    badges = [
        b["props"]["children"]
        for b in find_components(cards.json, "Badge")
        if "mailbox-state" in b["props"]["className"]
    ]
    assert sorted(badges) == ["active", "paused"]

    response = pause_or_resume(admin_client, app, "resume", bob.id)
    assert any("captured again" in t for t in texts(response))
    assert state_of(BOB) == "active"
    assert AuditEvent.get(AuditEvent.action == "mailbox.resume").actor_id == world.ada.id


def test_a_forged_mailbox_id_pauses_nothing(admin_client, app, world):
    for forged in (10**23, -1, True, 1.5, 999):
        response = pause_or_resume(admin_client, app, "pause", forged)
        assert any("account_id" in t or "no such mailbox" in t.lower() for t in texts(response)), forged
    assert {m["state"] for m in queries.list_mailboxes()} == {"active"}


def removal(client, app, trigger: str, *, typed: str = "", target=None, opened=None):
    return client.callback(
        callback_key(app, REMOVAL),
        [
            buttons("mailboxes-remove", opened),
            ("mailboxes-remove-cancel", "n_clicks", 1 if trigger == "cancel" else None),
            ("mailboxes-remove-confirm", "n_clicks", 1 if trigger == "confirm" else None),
        ],
        [
            ("mailboxes-remove-typed", "value", typed),
            ("mailboxes-remove-target", "data", target),
            ("mailboxes-refresh", "n_intervals", 2),
        ],
        triggered=[
            pattern_trigger("mailboxes-remove", opened) if trigger == "open" else f"mailboxes-remove-{trigger}.n_clicks"
        ],
    )


def test_removing_a_mailbox_needs_its_address_typed(admin_client, app, world):
    only_bob = world.email("Only Bob had it", "friend@elsewhere.example", [BOB])
    shared = world.email("Both had it", "friend@elsewhere.example", [ADA, BOB])
    bob = world.mailbox(BOB)

    opened = removal(admin_client, app, "open", opened=bob.id).json["response"]
    assert opened["mailboxes-remove-dialog"]["is_open"] is True
    assert opened["mailboxes-remove-address"]["children"] == BOB
    target = opened["mailboxes-remove-target"]["data"]
    assert target == {"id": bob.id, "address": BOB} and opened["mailboxes-remove-typed"]["value"] == ""

    def ready(typed):
        response = admin_client.callback(
            REMOVAL_READY, [("mailboxes-remove-typed", "value", typed), ("mailboxes-remove-target", "data", target)]
        )
        return response.json["response"]["mailboxes-remove-confirm"]["disabled"] is False

    assert not ready("") and not ready(ADA) and not ready("bob@fund") and ready(" Bob@Fund.example ")

    refused = removal(admin_client, app, "confirm", typed=ADA, target=target)
    assert any("type the mailbox's address" in t.lower() for t in texts(refused))
    assert "mailboxes-remove-dialog" not in refused.json["response"]  # stays open
    assert state_of(BOB) == "active" and Email.get_or_none(Email.id == only_bob.id) is not None

    removed = removal(admin_client, app, "confirm", typed=BOB, target=target)
    body = removed.json["response"]
    assert body["mailboxes-remove-dialog"]["is_open"] is False
    assert any(t.startswith("bob@fund.example is removed") for t in texts(removed))
    assert state_of(BOB) == "removed"
    assert Email.get_or_none(Email.id == only_bob.id) is None
    assert [s.account_id for s in EmailAccountMessage.select().where(EmailAccountMessage.email == shared.id)] == [
        world.mailbox(ADA).id
    ]
    event = AuditEvent.get(AuditEvent.action == "mailbox.remove")
    assert event.actor_id == world.ada.id and event.detail["emails_deleted"] == 1
    assert card_buttons(render_cards(admin_client, app))[bob.id] == {"mailboxes-sync", "mailboxes-resume"}


def test_a_teammate_cannot_run_the_admins_callbacks(member_client, app, mixed_mail):
    bob = mixed_mail.mailbox(BOB)
    attempts = [
        scope_action(member_client, app, "confirm"),
        pause_or_resume(member_client, app, "pause", bob.id),
        removal(member_client, app, "confirm", typed=BOB, target={"id": bob.id, "address": BOB}),
        render_cards(member_client, app),
    ]
    for response in attempts:
        assert response.status_code == 403 and response.json == {"error": "admin only"}
    assert capture_scope() == "all" and state_of(BOB) == "active"
    assert subjects_in_search() == {"Capital call", "Lunch on Thursday?", "Your appointment"}


# -- a teammate's own exclusions ------------------------------------------------------------------
def kept_out(client, *, add: str | None = None, remove=None):
    return client.callback(
        KEPT_OUT,
        [
            ("home-kept-out-add", "n_clicks", 1 if add is not None else None),
            ("home-kept-out-value", "n_submit", None),
            buttons("home-kept-out-remove", remove),
        ],
        [("home-kept-out-value", "value", add), ("home-refresh", "n_intervals", 3)],
        triggered=[
            pattern_trigger("home-kept-out-remove", remove) if remove is not None else "home-kept-out-add.n_clicks"
        ],
    )


def overview_page(client) -> str:
    response = client.callback(
        ".._pages_content.children..._pages_store.data..",
        [("_pages_location", "pathname", "/"), ("_pages_location", "search", "")],
    )
    assert response.status_code == 200
    return response.text


def test_a_teammate_keeps_their_doctor_out_of_their_own_mailbox(member_client, world):
    private = world.email("Test results", "doctor@clinic.example", [BOB])
    shared = world.email("Clinic newsletter", "doctor@clinic.example", [ADA, BOB])

    response = kept_out(member_client, add="Clinic.example")
    body = response.json["response"]
    assert any("Removed from your mailbox: 2 captured emails" in t for t in texts(response))
    assert body["home-kept-out-value"]["value"] == ""
    assert body["home-refresh"]["n_intervals"] == 4  # his mailbox's card shows the new counts at once
    assert "clinic.example" in text_children(body["home-kept-out-list"])
    assert Email.get_or_none(Email.id == private.id) is None
    assert [s.account_id for s in EmailAccountMessage.select().where(EmailAccountMessage.email == shared.id)] == [
        world.mailbox(ADA).id
    ]  # Ada's copy is hers and stays
    exclusion = MemberExclusion.get()
    assert exclusion.user_id == world.bob.id

    event = AuditEvent.get(AuditEvent.action == "member_exclusion.add")
    assert event.actor_id == world.bob.id
    recorded = json.dumps([event.actor_label, event.target_type, event.target_id, event.detail])
    assert "clinic" not in recorded

    # Only Bob sees the list: it is on his overview, not on Ada's.
    assert "clinic.example" in overview_page(member_client)

    response = kept_out(member_client, remove=exclusion.id)
    assert any("clinic.example is no longer kept out" in t for t in texts(response))
    assert MemberExclusion.select().count() == 0
    event = AuditEvent.get(AuditEvent.action == "member_exclusion.remove")
    assert event.actor_id == world.bob.id and "clinic" not in json.dumps(event.detail)


def test_a_teammate_acts_only_on_their_own_list(member_client, admin_client, world, web_runtime):
    adas, _ = member_exclusions.add(world.ada, "family.example", world.now, directory=web_runtime.directory)
    assert "family.example" not in overview_page(member_client)
    assert "family.example" in overview_page(admin_client)

    response = kept_out(member_client, remove=adas.id)  # an id that is not his
    assert any("no such exclusion" in t for t in texts(response))
    assert MemberExclusion.get_by_id(adas.id).user_id == world.ada.id
    for forged in (10**23, -1, True, 1.5):
        assert any("must be an id" in t for t in texts(kept_out(member_client, remove=forged))), forged

    world.investor("Acme Capital", "acme.example")
    response = kept_out(member_client, add="acme.example")
    assert any("investor's domain" in t for t in texts(response))
    assert response.json["response"].get("home-kept-out-value") is None  # what he typed stays to correct
    assert not MemberExclusion.select().where(MemberExclusion.user == world.bob.id).exists()

    response = kept_out(member_client, add="family.example")  # Ada's entry is hers: Bob may have his own
    assert any("Nothing had been captured with it." in t for t in texts(response))
    assert MemberExclusion.select().where(MemberExclusion.value == "family.example").count() == 2


def test_a_teammates_overview_shows_the_card_without_admin_buttons(member_client, world):
    EmailAccount.update(paused_at=world.now).where(EmailAccount.address == BOB).execute()
    response = member_client.callback("home-content.children", [("home-refresh", "n_intervals", None)])
    assert response.status_code == 200
    assert "paused" in texts(response)
    assert find_components(response.json, "Button") == []
