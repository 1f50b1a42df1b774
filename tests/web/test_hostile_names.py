"""XSS and SQL payloads in investor names, contact names and domains, entered the ways an admin
enters them (CSV import, the investor and contact pages): stored as typed, returned as the literal
string by the JSON API, rendered by every Dash layout as text, never a 500. Domains are validated,
so a payload there is refused with a message that shows it as text."""

from __future__ import annotations

import base64
import csv
import io

import pytest

from appsrc.store.models import Contact, Investor
from tests.crm.fixtures import *
from tests.dashboard.desk import callback_key, find_components
from tests.web.test_api import text_children

ADA, BOB = "ada@fund.example", "bob@fund.example"
INVESTOR_XSS = '<script>alert("inv")</script><img src=x onerror=alert(1)>'
INVESTOR_SQL = "Robert'); DROP TABLE investor;--"
CONTACT_XSS = '<svg onload=alert(2)> "Jane" & <b>Co</b>'
CONTACT_SQL = "x' OR '1'='1"
DOMAIN_XSS = "<script>.example"


def key_for(app, output: str, trigger: str) -> str:
    """The key of the one callback with `output` among its outputs and `trigger` ("id.prop") among
    its inputs (several callbacks may share an output with allow_duplicate)."""
    keys = [
        k
        for k, entry in app.extensions["dash_app"].callback_map.items()
        if output in k and any(f"{i['id']}.{i['property']}" == trigger for i in entry["inputs"])
    ]
    assert len(keys) == 1, keys
    return keys[0]


def csv_upload(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["investor", "domains", "graveyard", "contact_name", "contact_email"])
    writer.writerows(rows)
    return "data:text/csv;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


def rendered(response, *payloads: str) -> list[str]:
    """The callback answered, as text nodes only; returns its text nodes."""
    assert response.status_code == 200, response.text
    assert "dangerouslySetInnerHTML" not in response.text and '"type":"Markdown"' not in response.text
    texts = text_children(response.json)
    for payload in payloads:
        assert any(payload in t for t in texts), (payload, texts)
    return texts


@pytest.fixture
def hostile(admin_client, app, world):
    """Two investors and their contacts imported through the dashboard's CSV import, with mail."""
    upload = csv_upload(
        [
            [INVESTOR_XSS, "xss.example", "0", CONTACT_XSS, "jane@xss.example"],
            [INVESTOR_SQL, "sql.example", "0", CONTACT_SQL, "bobby@sql.example"],
        ]
    )
    preview = admin_client.callback(
        "..investors-preview.children...investors-import.disabled...investors-csv.data..",
        [("investors-upload", "contents", upload)],
        [("investors-upload", "filename", "hostile.csv")],
    )
    rendered(preview, INVESTOR_XSS, INVESTOR_SQL)
    body = preview.json["response"]
    imported = admin_client.callback(
        callback_key(app, "investors-preview.children@"),
        [("investors-import", "n_clicks", 1)],
        [("investors-csv", "data", body["investors-csv"]["data"]), ("investors-version", "data", 0)],
    )
    assert imported.status_code == 200, imported.text
    world.xss = Investor.get(Investor.name == INVESTOR_XSS)
    world.sql = Investor.get(Investor.name == INVESTOR_SQL)
    world.jane = Contact.get(Contact.name == CONTACT_XSS)
    world.bobby = Contact.get(Contact.name == CONTACT_SQL)
    world.e1 = world.email("Capital call", "jane@xss.example", [ADA])
    world.e2 = world.email("Re: terms", "bobby@sql.example", [BOB])
    return world


def test_names_come_back_literally_from_the_api(app, hostile, clock):
    from appsrc.crm.users import issue_token

    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + issue_token(ADA, clock.now())
    investors = client.get("/api/investors").json["items"]
    assert sorted(i["name"] for i in investors) == sorted([INVESTOR_XSS, INVESTOR_SQL])
    items = client.get("/api/email/activity").json["items"]
    assert {inv["name"] for item in items for inv in item["investors"]} == {INVESTOR_XSS, INVESTOR_SQL}
    proposals = client.get("/api/proposals").json["items"]
    assert {(p["investor_name"], p["contact_name"]) for p in proposals} == {
        (INVESTOR_XSS, CONTACT_XSS),
        (INVESTOR_SQL, CONTACT_SQL),
    }
    for q in (INVESTOR_SQL, CONTACT_SQL, INVESTOR_XSS):
        assert client.get("/api/email/activity", query_string={"q": q}).status_code == 200
    assert Investor.select().count() == 2  # the SQL in the names stayed data


def test_names_render_as_text_on_every_page(admin_client, app, hostile):
    investors = admin_client.callback(
        callback_key(app, "investors-table.children"),
        [("investors-q", "value", None), ("investors-graveyard", "value", False), ("investors-version", "data", 0)],
    )
    rendered(investors, INVESTOR_XSS, INVESTOR_SQL)
    investors_by_name = admin_client.callback(
        callback_key(app, "investors-table.children"),
        [
            ("investors-q", "value", "<script>"),
            ("investors-graveyard", "value", False),
            ("investors-version", "data", 0),
        ],
    )
    assert INVESTOR_SQL not in rendered(investors_by_name, INVESTOR_XSS)
    investor = admin_client.callback(
        callback_key(app, "investor-header.children"),
        [("investor-id", "data", str(hostile.xss.id)), ("investor-version", "data", 0)],
    )
    rendered(investor, INVESTOR_XSS, CONTACT_XSS, "Capital call")
    assert investor.json["response"]["investor-name"]["value"] == INVESTOR_XSS
    contact = admin_client.callback(
        callback_key(app, "contact-header.children"),
        [("contact-id", "data", str(hostile.bobby.id)), ("contact-version", "data", 0)],
    )
    rendered(contact, CONTACT_SQL, INVESTOR_SQL)
    activity = admin_client.callback(
        callback_key(app, "activity-results.children"),
        [
            ("activity-q", "value", ""),
            ("activity-investor", "value", str(hostile.xss.id)),
            ("activity-account", "value", None),
            ("activity-direction", "value", ""),
            ("activity-contact", "value", ""),
            ("activity-since", "value", ""),
            ("activity-until", "value", ""),
            ("activity-attachment", "value", ""),
            ("activity-newer", "n_clicks", None),
            ("activity-older", "n_clicks", None),
        ],
        [("activity-cursors", "data", [None]), ("activity-page", "data", 0)],
    )
    rendered(activity, INVESTOR_XSS)
    pickers = admin_client.callback(
        callback_key(app, "activity-investor.options"),
        [("activity-cursors", "id", "activity-cursors")],
        [("activity-investor", "value", "")],
    )
    labels = [o["label"] for o in pickers.json["response"]["activity-investor"]["options"]]
    assert INVESTOR_XSS in labels and INVESTOR_SQL in labels
    queue = admin_client.callback(
        callback_key(app, "approvals-list.children"),
        [
            ("approvals-investor", "value", None),
            ("approvals-version", "data", 0),
            ("approvals-newer", "n_clicks", None),
            ("approvals-older", "n_clicks", None),
            [],
            ("approvals-view", "value", "flat"),
            ("approvals-people", "value", "all"),
        ],
        [("approvals-selected", "data", None), ("approvals-cursors", "data", [None]), ("approvals-page", "data", 0)],
    )
    rendered(queue, INVESTOR_XSS, INVESTOR_SQL)
    selected = queue.json["response"]["approvals-selected"]["data"]
    detail = admin_client.callback(
        callback_key(app, "approvals-detail.children"), [("approvals-selected", "data", selected)]
    )
    rendered(detail)
    assert any(INVESTOR_XSS in t or INVESTOR_SQL in t for t in text_children(detail.json))
    email = admin_client.callback(
        "email-content.children", [("email-id", "data", str(hostile.e1.id)), ("email-version", "data", 0)]
    )
    rendered(email, INVESTOR_XSS)


def test_names_typed_on_the_investor_and_contact_pages(admin_client, app, hostile):
    save = admin_client.callback(
        key_for(app, "investor-message.children", "investor-save.n_clicks"),
        [("investor-save", "n_clicks", 1)],
        [
            ("investor-id", "data", str(hostile.xss.id)),
            ("investor-name", "value", CONTACT_SQL),
            ("investor-domains", "value", "xss.example"),
            ("investor-graveyard", "value", False),
            ("investor-notes", "value", INVESTOR_XSS),
            ("investor-version", "data", 0),
        ],
        triggered=["investor-save.n_clicks"],
    )
    assert save.status_code == 200, save.text
    assert Investor.get_by_id(hostile.xss.id).name == CONTACT_SQL
    added = admin_client.callback(
        callback_key(app, "investor-contact-name.value"),
        [("investor-contact-add", "n_clicks", 1)],
        [
            ("investor-id", "data", str(hostile.xss.id)),
            ("investor-contact-name", "value", INVESTOR_XSS),
            ("investor-contact-addresses", "value", "ceo@xss.example"),
            ("investor-version", "data", 0),
        ],
    )
    rendered(added, INVESTOR_XSS)  # "Added <payload>; ..." as text
    renamed = admin_client.callback(
        key_for(app, "contact-message.children", "contact-save.n_clicks"),
        [("contact-save", "n_clicks", 1)],
        [
            ("contact-id", "data", str(hostile.jane.id)),
            ("contact-name", "value", INVESTOR_SQL),
            ("contact-addresses", "value", "jane@xss.example"),
            ("contact-version", "data", 0),
        ],
        triggered=["contact-save.n_clicks"],
    )
    assert renamed.status_code == 200, renamed.text
    assert Contact.get_by_id(hostile.jane.id).name == INVESTOR_SQL
    page = admin_client.callback(
        callback_key(app, "investor-header.children"),
        [("investor-id", "data", str(hostile.xss.id)), ("investor-version", "data", 1)],
    )
    rendered(page, CONTACT_SQL, INVESTOR_XSS, INVESTOR_SQL)


def test_a_payload_in_a_domain_is_refused_and_shown_as_text(admin_client, app, hostile):
    preview = admin_client.callback(
        "..investors-preview.children...investors-import.disabled...investors-csv.data..",
        [("investors-upload", "contents", csv_upload([["Gamma", f"{DOMAIN_XSS};gamma.example", "0", "", ""]]))],
        [("investors-upload", "filename", "bad.csv")],
    )
    texts = rendered(preview, DOMAIN_XSS)
    assert any("line 2:" in t and "not a valid domain" in t for t in texts)
    assert preview.json["response"]["investors-import"]["disabled"] is True
    save = admin_client.callback(
        key_for(app, "investor-message.children", "investor-save.n_clicks"),
        [("investor-save", "n_clicks", 1)],
        [
            ("investor-id", "data", str(hostile.sql.id)),
            ("investor-name", "value", INVESTOR_SQL),
            ("investor-domains", "value", f"sql.example; {DOMAIN_XSS}"),
            ("investor-graveyard", "value", False),
            ("investor-notes", "value", ""),
            ("investor-version", "data", 0),
        ],
        triggered=["investor-save.n_clicks"],
    )
    rendered(save, DOMAIN_XSS)
    created = admin_client.callback(
        key_for(app, "investors-message.children", "investors-new-create.n_clicks"),
        [("investors-new-create", "n_clicks", 1)],
        [
            ("investors-new-name", "value", INVESTOR_XSS + " II"),
            ("investors-new-domains", "value", "x.example' OR 1=1 --"),
            ("investors-new-graveyard", "value", False),
            ("investors-version", "data", 0),
        ],
    )
    rendered(created, "x.example' OR 1=1 --")
    assert [d.domain for d in Investor.get_by_id(hostile.sql.id).domain_rows] == ["sql.example"]
    assert Investor.select().count() == 2 and not find_components(created.json, "Markdown")
