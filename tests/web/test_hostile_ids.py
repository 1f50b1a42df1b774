"""Ids from outside are row ids (1..2^63-1) or a clear refusal: oversized, negative, float, bool
and string values in every id the API and the dashboard accept answer 400 naming the field (404
for an id in a path), never a 500 and never a coerced id that acts on another row.

The API's path ids are enumerated from the URL map, so a route added later is covered."""

from __future__ import annotations

import json
import re

import pytest

from appsrc.store.models import Activity, ActivityProposal, AuditEvent
from appsrc.store.queries import MAX_ID, encode_cursor
from tests.crm.fixtures import *
from tests.web.test_api import api, mail, text_children  # noqa: F401

HUGE = ["9" * 25, str(10**23), str(MAX_ID + 1)]
HOSTILE = HUGE + ["-1", "0", "1.5", "1e3", "true", "abc", "١", "1_0", " +1"]
# Every id the API reads from a query string, by route.
QUERY_IDS = {"/api/email/activity": ("investor_id", "account_id"), "/api/proposals": ("investor_id",)}
ACTIVITY_OUTPUT = (
    "..activity-results.children...activity-cursors.data...activity-page.data...activity-newer"
    ".disabled...activity-older.disabled...activity-page-label.children...activity-error.children.."
)


def id_rules(app) -> list[tuple[str, str]]:
    """(rule, method) of every API route with an id in its path."""
    return [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and "<int:" in rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def test_the_api_has_the_id_routes_we_expect(app):
    rules = {rule for rule, _method in id_rules(app)}
    assert {
        "/api/email/<int:email_id>",
        "/api/mailboxes/<int:account_id>/sync",
        "/api/proposals/<int:proposal_id>/approve",
        "/api/proposals/<int:proposal_id>/reject",
    } <= rules


def test_hostile_path_ids_are_404_json_on_every_id_route(app, api, mail):
    checked = 0
    for rule, method in id_rules(app):
        for value in HOSTILE:
            path = re.sub(r"<int:\w+>", value, rule)
            response = api.open(path, method=method, json={} if method != "GET" else None)
            assert response.status_code == 404, (path, method, response.status_code)
            assert response.is_json and response.json["error"], (path, method)
            checked += 1
    assert checked >= 4 * len(HOSTILE)
    # The largest id there is passes the route and is simply not found.
    assert api.get(f"/api/email/{MAX_ID}").json == {"error": "no such email", "field": "email_id"}
    response = api.post(f"/api/proposals/{MAX_ID}/approve")
    assert response.status_code == 404 and response.json["field"] == "ids"
    response = api.post(f"/api/mailboxes/{MAX_ID}/sync")
    assert response.status_code == 404 and response.json["field"] == "account_id"
    assert Activity.select().count() == 0


@pytest.mark.parametrize("route", sorted(QUERY_IDS))
def test_hostile_query_ids_are_400_naming_the_argument(api, mail, route):
    for name in QUERY_IDS[route]:
        for value in HOSTILE:
            response = api.get(route, query_string={name: value})
            assert response.status_code == 400, (route, name, value, response.status_code)
            assert response.is_json and response.json["field"] == name, (route, name, value)
        assert api.get(route, query_string={name: str(MAX_ID)}).json["items"] == []


def test_other_api_reads_shrug_off_hostile_id_arguments(app, api, mail):
    """No GET route may fall over on an id-looking argument it does not expect."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or "<" in rule.rule or "GET" not in rule.methods:
            continue
        for name in ("investor_id", "account_id", "email_id", "contact_id", "id"):
            response = api.get(rule.rule, query_string={name: "9" * 25})
            assert response.status_code in (200, 400), (rule.rule, name, response.status_code)
            exported = rule.rule.endswith(".csv") and response.status_code == 200  # a download, by design
            assert response.is_json or (exported and response.mimetype == "text/csv"), (rule.rule, name)
            response.close()  # ends a streamed download's request here, not at garbage collection


def test_a_cursor_carrying_a_bad_id_is_400(api, mail):
    for bad_id in (10**23, MAX_ID + 1, -1, 0, 1.5, True, "7", None):
        cursor = encode_cursor("2026-11-02T10:00:00+00:00", bad_id)
        for query in (
            {"cursor": cursor},
            {"cursor": cursor, "q": "capital"},
            {"cursor": cursor, "investor_id": str(mail.acme.id)},
        ):
            response = api.get("/api/email/activity", query_string=query)
            assert response.status_code == 400 and response.json["field"] == "cursor", (bad_id, query)
        response = api.get("/api/proposals", query_string={"cursor": cursor})
        assert response.status_code == 400 and response.json["field"] == "cursor", bad_id


def test_bulk_ids_must_be_json_integers(api, mail):
    """{"ids": [1.5]} once approved proposal 1: only JSON integers are ids."""
    assert 1 in [p.id for p in ActivityProposal.select()]
    for ids in (
        [10**23],
        [MAX_ID + 1],
        [-1],
        [0],
        [1.5],
        [1.0],
        [True],
        ["1"],
        [None],
        [[1]],
        [{"id": 1}],
        "1",
        {"1": 1},
        1,
        [1, 1.5],
    ):
        for action in ("approve", "reject"):
            response = api.post(f"/api/proposals/{action}", json={"ids": ids})
            assert response.status_code == 400 and response.json["field"] == "ids", (ids, response.json)
    assert ActivityProposal.select().where(ActivityProposal.status != "pending").count() == 0
    assert Activity.select().count() == 0
    assert not AuditEvent.select().where(AuditEvent.action.startswith("proposal.")).exists()


def test_contact_names_keys_must_be_proposal_ids(api, mail):
    proposal = ActivityProposal.select().order_by(ActivityProposal.id).first()
    for key in ("9" * 25, "-1", "1.5", "x", ""):
        response = api.post("/api/proposals/approve", json={"ids": [proposal.id], "contact_names": {key: "Sam"}})
        assert response.status_code == 400 and response.json["field"] == "contact_names", key
    assert Activity.select().count() == 0


# -- the dashboard ----------------------------------------------------------------------------
def test_email_page_with_a_hostile_id_says_not_found(admin_client, mail):
    for value in HOSTILE:
        assert admin_client.http.get(f"/email/{value.strip()}").status_code == 200, value  # the page shell
        response = admin_client.callback(
            "email-content.children", [("email-id", "data", value), ("email-version", "data", 0)]
        )
        assert response.status_code == 200, (value, response.text)
        assert any("not found" in t.lower() for t in text_children(response.json)), value


def test_activity_page_with_a_hostile_investor_id_in_the_url(admin_client, mail):
    for value in HUGE + ["-1", "1.5", "abc"]:
        page = admin_client.callback(
            ".._pages_content.children..._pages_store.data..",
            [
                ("_pages_location", "pathname", "/activity"),
                ("_pages_location", "search", f"?investor_id={value}&account_id={value}"),
            ],
        )
        assert page.status_code == 200, (value, page.text)
        selects = [
            c for c in _components(page.json) if c["props"].get("id") in ("activity-investor", "activity-account")
        ]
        assert [s["props"]["value"] for s in selects] == ["", ""], value  # not an id: no filter


def test_activity_callbacks_refuse_a_forged_filter_id(admin_client, mail):
    for value in HUGE + ["-1", "1.5", True, 1.5]:
        inputs = [
            ("activity-q", "value", ""),
            ("activity-investor", "value", value),
            ("activity-account", "value", None),
            ("activity-direction", "value", ""),
            ("activity-contact", "value", ""),
            ("activity-since", "value", ""),
            ("activity-until", "value", ""),
            ("activity-attachment", "value", ""),
            ("activity-newer", "n_clicks", None),
            ("activity-older", "n_clicks", None),
        ]
        response = admin_client.callback(
            ACTIVITY_OUTPUT, inputs, [("activity-cursors", "data", [None]), ("activity-page", "data", 0)]
        )
        assert response.status_code == 200, (value, response.text)
        assert any("investor_id must be an id" in t for t in text_children(response.json)), value
        count = admin_client.callback("activity-count.children", inputs[:8])
        assert count.status_code == 200 and count.json["response"]["activity-count"]["children"] == "", value


def _pattern_trigger(type_: str, value) -> str:
    """Dash's changed-prop id of a pattern-matched component: its id as sorted, compact JSON."""
    return json.dumps({"id": value, "type": type_}, separators=(",", ":")) + ".n_clicks"


def test_forged_component_ids_change_nothing(admin_client, mail, app):
    """Pattern-matched buttons carry ids the server rendered; a forged one is refused."""
    decide = [k for k in app.extensions["dash_app"].callback_map if k.startswith("..email-version.data...")][0]
    sync = [k for k in app.extensions["dash_app"].callback_map if k.startswith("..mailboxes-cards.children")][0]
    for value in HUGE + [10**23, -1, 1.5, True, "1"]:
        response = admin_client.callback(
            decide,
            [[{"id": {"type": "email-approve", "id": value}, "property": "n_clicks", "value": 1}], []],
            [("email-version", "data", 0)],
            triggered=[_pattern_trigger("email-approve", value)],
        )
        assert response.status_code == 200, (value, response.text)
        assert any("ids must be a list of proposal ids" in t for t in text_children(response.json)), value
        if value == "1":
            continue  # a string of digits is a fine mailbox id
        response = admin_client.callback(
            sync,
            [
                ("mailboxes-refresh", "n_intervals", 1),
                [{"id": {"type": "mailboxes-sync", "id": value}, "property": "n_clicks", "value": 1}],
            ],
            triggered=[_pattern_trigger("mailboxes-sync", value)],
        )
        assert response.status_code == 200, (value, response.text)
        assert any("account_id must be an id" in t for t in text_children(response.json)), value
    assert Activity.select().count() == 0
    assert ActivityProposal.select().where(ActivityProposal.status != "pending").count() == 0


def _components(tree) -> list[dict]:
    found = []
    if isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            found.append(tree)
        for value in tree.values():
            found += _components(value)
    elif isinstance(tree, list):
        for value in tree:
            found += _components(value)
    return found
