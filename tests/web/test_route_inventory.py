"""The security inventory: every route the app serves is declared here with who may use it, and
every unsafe method refuses a session without the CSRF token. A route added without a line
below fails `test_every_route_is_declared`; the other tests in this folder then check it for
anonymous visitors and teammates (`test_auth.py`), hostile ids (`test_hostile_ids.py`) and this
file's CSRF rule."""

from __future__ import annotations

from tests.crm.fixtures import *
from tests.web.test_auth import rule_cases

SAFE = {"GET", "HEAD", "OPTIONS"}
# rule -> who may use it: public | member (any signed-in user: the dashboard shell) | page
# (pages: each page declares its own access) | callback (each callback declares its own) | admin
ROUTES = {
    "/healthz": "public",
    "/login": "public",
    "/static/<path:filename>": "public",
    "/logout": "member",
    "/_dash-layout": "member",
    "/_dash-dependencies": "member",
    "/_reload-hash": "member",
    "/_favicon.ico": "member",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": "member",
    "/assets/<path:filename>": "member",
    "/": "page",
    "/<path:path>": "page",
    "/_dash-update-component": "callback",
    "/api/<path:_anything>": "admin",  # the JSON 404 for unknown API paths
    "/api/activities/<int:activity_id>": "admin",
    "/api/admin/capture/policy": "admin",
    "/api/admin/digest/policy": "admin",
    "/api/admin/digest/preview": "admin",
    "/api/admin/digest/runs": "admin",
    "/api/admin/digest/runs/<int:run_id>": "admin",
    "/api/admin/digest/send-now": "admin",
    "/api/admin/digest/status": "admin",
    "/api/admin/digest/test-email": "admin",
    "/api/approvals/groups": "admin",
    "/api/approvals/groups/<by>/<path:key>": "admin",
    "/api/approvals/groups/decide": "admin",
    "/api/approvals/proposals": "admin",
    "/api/awaiting-reply": "admin",
    "/api/awaiting-reply/<int:email_id>/handled": "admin",
    "/api/awaiting-reply/<int:email_id>/snooze": "admin",
    "/api/awaiting-reply/<int:email_id>/state": "admin",
    "/api/awaiting-reply/marks": "admin",
    "/api/awaiting-reply/policy": "admin",
    "/api/contacts/<int:contact_id>": "admin",
    "/api/contacts/<int:contact_id>/conversations": "admin",
    "/api/contacts/<int:contact_id>/merge": "admin",
    "/api/contacts/<int:contact_id>/move": "admin",
    "/api/contacts/<int:contact_id>/restore": "admin",
    "/api/deleted": "admin",
    "/api/email/<int:email_id>": "admin",
    "/api/email/<int:email_id>/draft-reply": "admin",
    "/api/email/<int:email_id>/draft-reply/suggest": "admin",
    "/api/email/activity": "admin",
    "/api/email/activity.csv": "admin",
    "/api/investors": "admin",
    "/api/investors/<int:investor_id>": "admin",
    "/api/investors/<int:investor_id>/activities.csv": "admin",
    "/api/investors/<int:investor_id>/conversations": "admin",
    "/api/investors/<int:investor_id>/documents": "admin",
    "/api/investors/<int:investor_id>/merge": "admin",
    "/api/investors/<int:investor_id>/restore": "admin",
    "/api/mailboxes": "admin",
    "/api/mailboxes/<int:account_id>/pause": "admin",
    "/api/mailboxes/<int:account_id>/remove": "admin",
    "/api/mailboxes/<int:account_id>/resume": "admin",
    "/api/mailboxes/<int:account_id>/sync": "admin",
    "/api/people/<address>": "admin",
    "/api/people/<address>/export": "admin",
    "/api/proposals": "admin",
    "/api/proposals/<int:proposal_id>/approve": "admin",
    "/api/proposals/<int:proposal_id>/reject": "admin",
    "/api/proposals/<int:proposal_id>/undo": "admin",
    "/api/proposals/approve": "admin",
    "/api/proposals/reject": "admin",
}


def test_every_route_is_declared(app):
    """A new route must say here who may use it before it ships."""
    assert {rule.rule for rule in app.url_map.iter_rules()} == set(ROUTES)


def test_admin_routes_refuse_a_teammate_and_public_ones_are_only_the_login(app, member_client):
    for rule, method, path in rule_cases(app):
        if ROUTES[rule] != "admin":
            continue
        headers = {"X-CSRFToken": member_client.csrf, "Content-Type": "application/json"}
        response = member_client.http.open(path, method=method, headers=headers, data="{}")
        assert (response.status_code, response.json) == (403, {"error": "admin only"}), (rule, method)
    assert {rule for rule, who in ROUTES.items() if who == "public"} == {
        "/healthz",
        "/login",
        "/static/<path:filename>",
    }


def test_every_unsafe_method_refuses_a_session_without_the_csrf_token(app, admin_client):
    """An admin's own browser, tricked into a cross-site POST: without the token, nothing runs."""
    checked = 0
    for rule, method, path in rule_cases(app):
        if method in SAFE:
            continue
        response = admin_client.http.open(path, method=method, headers={"Content-Type": "application/json"}, data="{}")
        checked += 1
        if rule == "/login":  # the login form carries its own token
            assert response.status_code == 400 and b"Your session expired" in response.data, (rule, method)
        else:
            assert response.status_code == 400, (rule, method, response.status_code)
            assert response.json["field"] == "csrf_token", (rule, method)
    assert checked >= 15
    assert admin_client.http.get("/").status_code == 200  # and the session itself is untouched
