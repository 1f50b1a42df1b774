"""Dashboard actions through their real callbacks (Flask test client posting Dash's JSON): the CSV
import with preview and per-line errors, exclusions, users, mailboxes and bulk approvals."""

from __future__ import annotations

import base64

import pytest

from appsrc.store.models import (
    Activity,
    ActivityProposal,
    AuditEvent,
    EmailAccount,
    Exclusion,
    Investor,
    InvestorDomain,
    User,
)
from tests.crm.fixtures import *
from tests.dashboard.desk import find_components
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"
PREVIEW = "..investors-preview.children...investors-import.disabled...investors-csv.data.."
IMPORT = (
    "..investors-version.data@{h}...investors-message.children@{h}...investors-preview.children@{h}"
    "...investors-import.disabled@{h}.."
)
GOOD = (
    "investor,domains,graveyard,contact_name,contact_email\n"
    "Acme Capital,acme.example,0,Jane Roe,jane@acme.example\n"
    "Beta Partners,beta.example,1,,\n"
)


def upload(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


def output_key(app, startswith: str) -> str:
    keys = [k for k in app.extensions["dash_app"].callback_map if k.startswith(startswith)]
    assert len(keys) == 1, keys
    return keys[0]


def test_csv_preview_lists_every_bad_line_and_writes_nothing(admin_client, world):
    bad = GOOD + "Gamma,gmail.com,0,,\nDelta,delta.example,7,,\n"
    response = admin_client.callback(
        PREVIEW, [("investors-upload", "contents", upload(bad))], [("investors-upload", "filename", "lps.csv")]
    )
    assert response.status_code == 200
    body = response.json["response"]
    texts = text_children(body)
    assert any("line 4:" in t and "free-mail" in t for t in texts)
    assert any("line 5:" in t and "graveyard must be 0 or 1" in t for t in texts)
    assert body["investors-import"]["disabled"] is True and body["investors-csv"]["data"] is None
    assert Investor.select().count() == 0


def test_csv_preview_then_import_all_or_nothing(admin_client, world, app):
    mail = world.email("Hello", "sam@acme.example", [ADA])  # captured before Acme existed
    response = admin_client.callback(
        PREVIEW, [("investors-upload", "contents", upload(GOOD))], [("investors-upload", "filename", "lps.csv")]
    )
    body = response.json["response"]
    assert body["investors-import"]["disabled"] is False
    assert any("investors 2 new" in t for t in text_children(body))
    assert Investor.select().count() == 0  # a preview is a dry run
    keys = [k for k in app.extensions["dash_app"].callback_map if "investors-preview.children@" in k]
    assert len(keys) == 1
    response = admin_client.callback(
        keys[0],
        [("investors-import", "n_clicks", 1)],
        [("investors-csv", "data", body["investors-csv"]["data"]), ("investors-version", "data", 0)],
    )
    assert response.status_code == 200
    assert sorted(i.name for i in Investor.select()) == ["Acme Capital", "Beta Partners"]
    assert any("1 new proposal" in t for t in text_children(response.json["response"]))  # rematched
    assert [p.target_key for p in world.proposals_of(mail)] == ["address:sam@acme.example"]
    event = AuditEvent.get(AuditEvent.action == "investors.import")
    assert event.actor_id == world.ada.id


def test_import_revalidates_against_current_data(admin_client, world, app):
    world.investor("Other", "acme.example")
    keys = [k for k in app.extensions["dash_app"].callback_map if "investors-preview.children@" in k]
    response = admin_client.callback(
        keys[0],
        [("investors-import", "n_clicks", 1)],
        [("investors-csv", "data", GOOD), ("investors-version", "data", 0)],
    )
    assert response.status_code == 200
    assert any("already belongs to Other" in t for t in text_children(response.json["response"]))
    assert Investor.select().count() == 1 and InvestorDomain.select().count() == 1


def test_exclusion_from_the_dashboard_purges_and_is_audited(admin_client, world, app):
    world.email("Private", "doctor@clinic.example", [BOB])
    key = output_key(app, "..exclusions-version.data")
    response = admin_client.callback(
        key,
        [("exclusions-add", "submit_n_clicks", 1), ({"type": "exclusions-remove", "id": "ALL"}, "n_clicks", [])],
        [
            ("exclusions-value", "value", "clinic.example"),
            ("exclusions-reason", "value", "medical"),
            ("exclusions-version", "data", 0),
        ],
        triggered=["exclusions-add.submit_n_clicks"],
    )
    assert response.status_code == 200, response.text
    assert any("1 captured email(s) deleted" in t for t in text_children(response.json["response"]))
    assert Exclusion.get().created_by_id == world.ada.id


def test_users_page_adds_and_promotes_and_refuses_the_last_admin(admin_client, world, app):
    key = output_key(app, "..users-version.data")
    state = [
        ("users-new-email", "value", "cy@fund.example"),
        ("users-new-name", "value", "Cy"),
        ("users-new-password", "value", ""),
        ("users-new-admin", "value", False),
        ("users-version", "data", 0),
    ]
    wild = [[], [], [], []]  # the per-user buttons (none clicked)
    response = admin_client.callback(
        key, [("users-add", "n_clicks", 1)] + wild, state, triggered=["users-add.n_clicks"]
    )
    assert response.status_code == 200 and User.get(User.email == "cy@fund.example").is_admin is False
    assert EmailAccount.select().where(EmailAccount.address == "cy@fund.example").exists()
    # Ada demotes herself: refused, she is the last active admin.
    trigger = f'{{"id":{world.ada.id},"type":"users-admin"}}.n_clicks'
    wild[0] = [{"id": {"type": "users-admin", "id": world.ada.id}, "property": "n_clicks", "value": 1}]
    response = admin_client.callback(key, [("users-add", "n_clicks", None)] + wild, state, triggered=[trigger])
    assert any("last active admin" in t for t in text_children(response.json["response"]))
    assert User.get_by_id(world.ada.id).is_admin


def test_sync_now_button_sets_the_flag_for_the_worker(admin_client, world, app, clock):
    key = output_key(app, "..mailboxes-cards.children")
    bob = EmailAccount.get(EmailAccount.address == BOB)
    trigger = f'{{"id":{bob.id},"type":"mailboxes-sync"}}.n_clicks'
    response = admin_client.callback(
        key,
        [
            ("mailboxes-refresh", "n_intervals", 3),
            [{"id": {"type": "mailboxes-sync", "id": bob.id}, "property": "n_clicks", "value": 1}],
        ],
        triggered=[trigger],
    )
    assert response.status_code == 200
    assert EmailAccount.get_by_id(bob.id).sync_requested_at == clock.now()


def test_bulk_approve_from_the_queue(admin_client, world, app):
    acme = world.investor("Acme Capital", "acme.example")
    world.contact(acme, "Jane Roe", "jane@acme.example")
    emails = [world.email(f"Note {i}", "jane@acme.example", [ADA]) for i in range(3)]
    ids = [world.proposals_of(e)[0].id for e in emails]
    key = output_key(app, "..approvals-version.data")
    response = admin_client.callback(
        key,
        [
            ("approvals-approve", "n_clicks", None),
            ("approvals-reject", "n_clicks", None),
            ("approvals-bulk-approve", "n_clicks", 1),
            ("approvals-bulk-reject", "n_clicks", None),
        ],
        [
            ("approvals-selected", "data", ids[0]),
            ("approvals-contact-name", "value", ""),
            [
                {"id": {"type": "approvals-check", "id": i}, "property": "value", "value": v}
                for i, v in zip(ids, [True, False, True], strict=True)
            ],
            [
                {
                    "id": {"type": "approvals-check", "id": i},
                    "property": "id",
                    "value": {"type": "approvals-check", "id": i},
                }
                for i in ids
            ],
            ("approvals-version", "data", 0),
        ],
        triggered=["approvals-bulk-approve.n_clicks"],
    )
    assert response.status_code == 200, response.text
    assert sorted(a.proposal_id for a in Activity.select()) == sorted([ids[0], ids[2]])
    assert ActivityProposal.get_by_id(ids[1]).status == "pending"


@pytest.mark.parametrize("path", ["/approvals", "/users", "/investors"])
def test_admin_pages_render_for_an_admin(admin_client, path):
    key = ".._pages_content.children..._pages_store.data.."
    response = admin_client.callback(key, [("_pages_location", "pathname", path), ("_pages_location", "search", "")])
    assert response.status_code == 200 and "Admins only" not in response.text


PICKERS = "..activity-investor.options...activity-account.options.."


def test_activity_picker_shows_a_graveyard_investor_the_page_was_opened_with(admin_client, world):
    """The investor page's "search its mail" link carries ?investor_id= even for a graveyard
    investor: the picker must show that filter, not "Any investor"."""
    acme = world.investor("Acme Capital", "acme.example")
    dead = world.investor("Dead Co", "dead.example", graveyard=True)
    world.investor("Gone Too", "gone.example", graveyard=True)

    def investor_options(selected):
        response = admin_client.callback(
            PICKERS, [("activity-cursors", "id", "activity-cursors")], [("activity-investor", "value", selected)]
        )
        assert response.status_code == 200, response.text
        return response.json["response"]["activity-investor"]["options"]

    assert investor_options("") == [
        {"label": "Any investor", "value": ""},
        {"label": "Acme Capital", "value": str(acme.id)},
    ]
    assert investor_options(str(dead.id)) == [
        {"label": "Any investor", "value": ""},
        {"label": "Acme Capital", "value": str(acme.id)},
        {"label": "Dead Co (graveyard)", "value": str(dead.id)},
    ]
    assert investor_options("9" * 25) == investor_options("")
    # The link on the investor page and on the investors list is what sends it.
    investor_page = admin_client.callback(
        "..investor-header.children...investor-name.value...investor-domains.value...investor-graveyard.value"
        "...investor-notes.value...investor-contacts.children...investor-timeline.children...investor-recent.children..",
        [("investor-id", "data", str(dead.id)), ("investor-version", "data", 0)],
    )
    links = [c["props"]["href"] for c in find_components(investor_page.json, "Link")]
    assert f"/activity?investor_id={dead.id}" in links


def test_two_chart_visits_in_a_week_share_the_cached_figures(admin_client, world, clock):
    """The charts page hands the query the clock's now, microseconds and all; the figures are
    cached per local week window, so the second visit reuses the first one's."""
    acme = world.investor("Acme Capital", "acme.example")
    world.email("Capital call", "jane@acme.example", [ADA])

    def pending_line():
        response = admin_client.callback("charts-backlog.figure", [("charts-weeks", "value", "8")])
        assert response.status_code == 200, response.text
        return next(
            t
            for t in response.json["response"]["charts-backlog"]["figure"]["data"]
            if t["name"] == "pending at week end"
        )["y"]

    first = pending_line()
    assert first[-1] == 1
    world.contact(acme, "Jane Roe", "jane@acme.example")
    world.email("Second call", "jane@acme.example", [ADA])  # one more pending proposal
    clock.advance(101.000123)  # within the two minutes the backlog is cached
    assert pending_line() == first  # same week: the cached figure
    clock.advance(7 * 86400)
    assert admin_client.login(world.ada.email).status_code == 302  # a week on, the session has ended
    assert pending_line()[-1] == 2  # a new week window: computed afresh


def test_csv_preview_spells_out_domain_additions_and_removals(admin_client, world):
    world.investor("Acme Capital", "acme.example", "acmecap.example")
    world.investor("Beta Partners", "beta.example")
    change = (
        "investor,domains,graveyard,contact_name,contact_email\n"
        "Acme Capital,acme.example;acme-lp.example,0,,\n"
        "Beta Partners,,,Bo Berg,bo@beta.example\n"
    )
    response = admin_client.callback(
        PREVIEW, [("investors-upload", "contents", upload(change))], [("investors-upload", "filename", "lps.csv")]
    )
    assert response.status_code == 200, response.text
    rows = find_components(response.json, "Tr")[1:]  # after the header row
    cells = [text_children(row) for row in rows]
    assert cells[0][:2] == ["Acme Capital", "acme-lp.example, acme.example"]
    assert "+ acme-lp.example" in cells[0] and "− acmecap.example" in cells[0]
    assert cells[1][:3] == ["Beta Partners", "beta.example", "unchanged"]
    assert sorted(d.domain for d in InvestorDomain.select()) == ["acme.example", "acmecap.example", "beta.example"]


def test_the_audit_log_on_the_users_page_lists_the_latest_fifty_newest_first(admin_client, world, app):
    """What admins did, as they read it: newest first, who, what, on which record; the latest
    fifty only (the API pages through the rest)."""
    from datetime import timedelta

    from appsrc.crm import audit

    for n in range(55):
        audit.record(
            "investor.update", world.now + timedelta(minutes=n), actor=world.ada, target_type="investor", target_id=n
        )
    audit.record(
        "exclusion.add", world.now + timedelta(hours=2), actor_label="cli", target_type="exclusion", target_id=7
    )
    response = admin_client.callback(output_key(app, "..users-table.children"), [("users-version", "data", 0)])
    assert response.status_code == 200, response.text
    header, *rows = [text_children(row) for row in find_components(response.json["response"]["users-audit"], "Tr")]
    assert header == ["When", "Who", "What", "Target"] and len(rows) == 50
    assert rows[0][1:] == ["cli", "exclusion.add", "exclusion 7"]
    assert rows[1][1:] == [ADA, "investor.update", "investor 54"]
    assert rows[-1][1:] == [ADA, "investor.update", "investor 6"]  # 0..5 are older than the latest fifty
