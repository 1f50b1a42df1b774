"""The JSON API contract (the routes of `appsrc/web/api.py`), with hostile input."""

from __future__ import annotations

import pytest

from appsrc.crm.users import issue_token
from appsrc.store.models import Activity, ActivityProposal, EmailAccount
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def api(app, world, clock):
    """A script's client: an admin Bearer token, no cookies, no CSRF."""
    token = issue_token(world.ada.email, clock.now(), label="test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    world.dead = world.investor("Dead Co", "dead.example", graveyard=True)
    world.e1 = world.email("Capital call", "jane@acme.example", [ADA, BOB])
    world.e2 = world.email("Hello", "sam@acme.example", [ADA], from_name="Sam")
    world.e3 = world.email(XSS, "ceo@dead.example", [BOB], from_name=XSS)
    return world


def test_activity_contract(api, mail):
    body = api.get("/api/email/activity?limit=2").json
    assert set(body) == {"items", "next_cursor"} and len(body["items"]) == 2 and body["next_cursor"]
    item = body["items"][0]
    for key in (
        "email_id",
        "message_id",
        "subject",
        "snippet",
        "from_email",
        "sent_at",
        "direction",
        "investors",
        "mailboxes",
    ):
        assert key in item
    rest = api.get(f"/api/email/activity?limit=2&cursor={body['next_cursor']}").json
    assert [i["email_id"] for i in rest["items"]] == [mail.e3.id] and rest["next_cursor"] is None
    only = api.get(
        f"/api/email/activity?investor_id={mail.acme.id}&account_id={mail.mailbox(BOB).id}&direction=inbound&q=capital"
    ).json
    assert [i["email_id"] for i in only["items"]] == [mail.e1.id]


@pytest.mark.parametrize(
    "query, field",
    [
        ("investor_id=abc", "investor_id"),
        ("account_id=1.5", "account_id"),
        ("direction=up", "direction"),
        ("limit=many", "limit"),
        ("cursor=zzz", "cursor"),
    ],
)
def test_bad_activity_input_is_400_naming_the_field(api, mail, query, field):
    response = api.get(f"/api/email/activity?{query}")
    assert response.status_code == 400 and response.json["field"] == field and response.json["error"]


@pytest.mark.parametrize("q", ["' OR '1'='1", "1; DROP TABLE email", '"', "*", "NEAR(", XSS, "%_", "é" * 500])
def test_hostile_search_text_is_harmless(api, mail, q):
    """Just words to look for: nothing matches them but the email whose subject is the XSS text
    (its words are all in it), and the table is still there afterwards."""
    response = api.get("/api/email/activity", query_string={"q": q})
    expected = [mail.e3.id] if q == XSS else []
    assert response.status_code == 200 and [i["email_id"] for i in response.json["items"]] == expected
    assert len(api.get("/api/email/activity").json["items"]) == 3


def test_investors_picker_hides_graveyard_unless_asked(api, mail):
    assert [i["name"] for i in api.get("/api/investors").json["items"]] == ["Acme Capital"]
    items = api.get("/api/investors?include_graveyard=1").json["items"]
    assert [(i["name"], i["graveyard"], i["domains"]) for i in items] == [
        ("Acme Capital", False, ["acme.example"]),
        ("Dead Co", True, ["dead.example"]),
    ]


def test_proposals_list_and_decide(api, mail, world):
    listed = api.get("/api/proposals?status=pending").json["items"]
    by_email = {p["email_id"]: p for p in listed}
    p1, p2 = by_email[mail.e1.id], by_email[mail.e2.id]
    for key in ("id", "email_id", "message_id", "investor_id", "contact_email", "status"):
        assert key in p1
    assert api.get("/api/proposals?status=maybe").status_code == 400
    response = api.post(f"/api/proposals/{p1['id']}/approve")
    assert response.status_code == 200 and response.json["approved"] == [p1["id"]]
    assert api.post(f"/api/proposals/{p1['id']}/approve").status_code == 409
    assert api.post(f"/api/proposals/{p1['id']}/reject").status_code == 409
    assert api.post("/api/proposals/999999/approve").status_code == 404
    # "Approve and create contact" with a name, for the unknown sender.
    response = api.post(f"/api/proposals/{p2['id']}/approve", json={"contact_name": "Samuel"})
    assert response.status_code == 200 and len(response.json["contacts_created"]) == 1
    assert Activity.select().count() == 2
    assert api.get("/api/proposals?status=approved").json["items"][0]["status"] == "approved"


def test_bulk_decisions_are_all_or_nothing(api, mail):
    ids = [p.id for p in ActivityProposal.select().where(ActivityProposal.status == "pending")]
    assert len(ids) == 2
    response = api.post("/api/proposals/reject", json={"ids": ids + [999999]})
    assert response.status_code == 404
    assert ActivityProposal.select().where(ActivityProposal.status == "pending").count() == 2
    response = api.post("/api/proposals/reject", json={"ids": ids})
    assert response.status_code == 200 and sorted(response.json["rejected"]) == sorted(ids)
    for bad in ({"ids": "1,2"}, {"ids": ["x"]}, {"ids": []}, [1, 2]):
        response = api.post("/api/proposals/approve", json=bad)
        assert response.status_code == 400 and response.json["field"] in ("ids", "body")
    response = api.post("/api/proposals/approve", data="{not json", content_type="application/json")
    assert response.status_code == 400


def test_email_detail_and_mailboxes(api, mail):
    detail = api.get(f"/api/email/{mail.e1.id}").json
    assert detail["subject"] == "Capital call" and detail["mailboxes"] == [ADA, BOB]
    assert api.get("/api/email/999999").status_code == 404
    boxes = api.get("/api/mailboxes").json["items"]
    assert [m["address"] for m in boxes] == [ADA, BOB] and {"id", "state", "stored", "skipped", "failed"} <= set(
        boxes[0]
    )


def test_sync_now_only_asks_the_worker(api, mail, clock):
    account = EmailAccount.get(EmailAccount.address == BOB)
    response = api.post(f"/api/mailboxes/{account.id}/sync")
    assert response.status_code == 202
    assert EmailAccount.get_by_id(account.id).sync_requested_at == clock.now()
    unknown = api.post("/api/mailboxes/999/sync")
    assert unknown.status_code == 404 and unknown.json["field"] == "account_id"
    EmailAccount.update(paused_at=clock.now()).where(EmailAccount.id == account.id).execute()
    paused = api.post(f"/api/mailboxes/{account.id}/sync")
    assert paused.status_code == 400 and "paused" in paused.json["error"]


def test_unknown_api_paths_answer_json(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404 and response.is_json
    assert api.delete("/api/proposals").status_code == 404 and api.delete("/api/proposals").is_json


def test_xss_in_subjects_and_names_comes_back_as_text(admin_client, mail):
    """Dash renders strings as text nodes: the payload must arrive as a plain string child,
    never inside markdown, dangerouslySetInnerHTML or an attribute."""
    response = admin_client.callback(
        "..activity-results.children...activity-cursors.data...activity-page.data...activity-newer.disabled"
        "...activity-older.disabled...activity-page-label.children...activity-error.children..",
        [
            ("activity-q", "value", ""),  # unsearched: highlights split text (tests/dashboard/test_search_pages.py)
            ("activity-investor", "value", None),
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
    assert response.status_code == 200
    text = response.text
    assert text_children(response.json).count(XSS) == 3  # subject, snippet and sender name, all as text
    assert "dangerouslySetInnerHTML" not in text and '"Markdown"' not in text
    detail = admin_client.callback(
        "email-content.children", [("email-id", "data", str(mail.e3.id)), ("email-version", "data", 0)]
    )
    assert detail.status_code == 200 and "dangerouslySetInnerHTML" not in detail.text
    assert '"type":"Markdown"' not in detail.text
    assert XSS in text_children(detail.json)


def text_children(tree) -> list[str]:
    """Every string a component tree renders as a text node."""
    found = []
    if isinstance(tree, dict):
        children = tree.get("children")
        if isinstance(children, str):
            found.append(children)
        elif isinstance(children, list):
            found += [c for c in children if isinstance(c, str)]
        for value in tree.values():
            found += text_children(value)
    elif isinstance(tree, list):
        for value in tree:
            found += text_children(value)
    return found
