"""Deny by default, proved by enumeration: every URL rule and every Dash callback, read from the
app itself, so a route or callback added later is covered without editing this file."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import dash
import pytest

from appsrc.crm.users import issue_token, reset_password, update_user
from appsrc.web.auth import LoginThrottle, safe_next
from tests.crm.factories import former_admin_token
from tests.crm.fixtures import *
from tests.crm.fixtures import WebClient

SAMPLES = {"int": "1", "path": "x/y.js", "string": "x", "default": "x"}
PUBLIC = {"/healthz", "/login", "/static/<path:filename>"}
# Infrastructure any signed-in user needs to load the dashboard shell (no CRM data in any of it).
MEMBER_INFRA = {
    "/_dash-layout",
    "/_dash-dependencies",
    "/_reload-hash",
    "/_favicon.ico",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
    "/assets/<path:filename>",
    "/logout",
}
PAGE_RULES = {"/", "/<path:path>"}
CALLBACK_RULE = "/_dash-update-component"


def rule_cases(app):
    cases = []
    for rule in app.url_map.iter_rules():
        path = re.sub(
            r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: SAMPLES.get(m.group(1) or "default", "x"), rule.rule
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cases.append((rule.rule, method, path))
    return cases


def admin_page_paths():
    return [
        p["path"]
        if not p.get("path_template")
        else p["path_template"]
        .replace("<", "")
        .replace(">", "")
        .replace("email_id", "1")
        .replace("investor_id", "1")
        .replace("contact_id", "1")
        for p in dash.page_registry.values()
        if p.get("access", "admin") != "member"
    ]


def test_the_app_has_the_rules_we_expect_to_guard(app):
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert {"/api/email/activity", "/api/proposals", CALLBACK_RULE, "/login", "/logout"} <= rules
    assert len(admin_page_paths()) >= 9


def test_every_rule_denies_anonymous_requests(app):
    client = app.test_client()
    checked = 0
    for rule, method, path in rule_cases(app):
        if rule in PUBLIC:
            continue
        response = client.open(path, method=method)
        checked += 1
        if rule == "/logout":
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), (rule, method)
        elif method == "GET" and (rule in PAGE_RULES):
            assert response.status_code == 302, (rule, method)
            assert response.headers["Location"].startswith("/login?next="), (rule, method)
        else:
            assert response.status_code == 401, (rule, method, response.status_code)
            assert response.is_json and response.json["error"], (rule, method)
    assert checked > 10


def test_every_admin_rule_refuses_a_signed_in_teammate(app, member_client):
    checked = 0
    for rule, method, path in rule_cases(app):
        if rule in PUBLIC or rule in MEMBER_INFRA or rule == CALLBACK_RULE:
            continue
        if rule in PAGE_RULES:
            continue  # pages: below, per page
        headers = {"X-CSRFToken": member_client.csrf, "Content-Type": "application/json"}
        response = member_client.http.open(path, method=method, headers=headers, data="{}")
        checked += 1
        assert response.status_code == 403, (rule, method, response.status_code)
        assert response.json == {"error": "admin only"}
    assert checked >= 8


@pytest.mark.parametrize(
    "path",
    [
        "/activity",
        "/approvals",
        "/investors",
        "/investors/1",
        "/contacts/1",
        "/email/1",
        "/exclusions",
        "/mailboxes",
        "/charts",
        "/users",
    ],
)
def test_admin_pages_redirect_a_teammate_to_their_overview(member_client, path):
    response = member_client.http.get(path)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_every_admin_page_in_the_registry_redirects_a_teammate(member_client):
    for path in admin_page_paths():
        response = member_client.http.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/", path


def test_a_teammate_gets_the_shell_and_their_overview(member_client, world):
    assert member_client.http.get("/").status_code == 200
    layout = member_client.http.get("/_dash-layout").text
    assert "Sign out" in layout and "/approvals" not in layout  # the nav shows only the overview
    response = member_client.callback("home-content.children", [("home-refresh", "n_intervals", None)])
    assert response.status_code == 200
    text = response.text
    assert world.bob.email in text and "Pending approvals" not in text and world.ada.email not in text


def _callbacks(app):
    dash_app = app.extensions["dash_app"]
    return [(key, entry) for key, entry in dash_app.callback_map.items() if callable(entry.get("callback"))]


def _body(key, entry):
    def spec(deps):
        out = []
        for dep in deps:
            if isinstance(dep["id"], str) and dep["id"].startswith("{"):
                out.append([])  # a wildcard with no matching component
            else:
                # Dash's own router needs a path (the browser always sends one).
                value = {"pathname": "/", "search": ""}.get(dep["property"]) if dep["id"] == "_pages_location" else None
                out.append({"id": dep["id"], "property": dep["property"], "value": value})
        return out

    parts = key.strip(".").split("...")
    outputs = [
        []
        if p.startswith("{")
        else {"id": p.rsplit(".", 1)[0].split("@")[0], "property": p.rsplit(".", 1)[1].split("@")[0]}
        for p in parts
    ]
    return {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": spec(entry["inputs"]),
        "state": spec(entry["state"]),
        "changedPropIds": [],
    }


def test_every_callback_answers_401_to_anonymous_and_403_to_a_teammate(app, member_client):
    anonymous = app.test_client()
    callbacks = _callbacks(app)
    assert len(callbacks) > 25
    member_ok = []
    for key, entry in callbacks:
        body = _body(key, entry)
        response = anonymous.post(CALLBACK_RULE, json=body)
        assert response.status_code == 401, key
        response = member_client.http.post(CALLBACK_RULE, json=body, headers={"X-CSRFToken": member_client.csrf})
        if app.extensions["dashboard"].callback_access(key) == "member":
            member_ok.append(key)
            assert response.status_code != 403, key
        else:
            assert response.status_code == 403, key
            assert response.json == {"error": "admin only"}
    # Only the overview (with a teammate's own exclusions) and Dash's page router are open to teammates.
    assert sorted(member_ok) == sorted(
        [
            "home-content.children",
            "..home-kept-out-list.children...home-kept-out-message.children...home-kept-out-value.value..."
            "home-refresh.n_intervals..",
            ".._pages_content.children..._pages_store.data..",
        ]
    )


def test_the_router_renders_admins_only_for_admin_pages_to_a_teammate(member_client):
    key = ".._pages_content.children..._pages_store.data.."
    for path in ["/approvals", "/users", "/email/1"]:
        response = member_client.callback(
            key, [("_pages_location", "pathname", path), ("_pages_location", "search", "")]
        )
        assert response.status_code == 200
        assert "Admins only" in response.text, path


def test_every_callback_answers_an_admin_without_a_server_error(admin_client, app):
    for key, entry in _callbacks(app):
        response = admin_client.http.post(
            CALLBACK_RULE, json=_body(key, entry), headers={"X-CSRFToken": admin_client.csrf}
        )
        assert response.status_code in (200, 204), (key, response.status_code, response.text[:300])


def test_unknown_callback_is_refused(admin_client):
    response = admin_client.callback("nope.children", [("nope", "id", None)])
    assert response.status_code == 400 and response.json["field"] == "output"


# -- CSRF -----------------------------------------------------------------------------------------
def test_callbacks_need_the_csrf_token(admin_client):
    response = admin_client.callback("home-content.children", [("home-refresh", "n_intervals", None)], csrf=False)
    assert response.status_code == 400 and response.json["field"] == "csrf_token"
    wrong = admin_client.http.post(CALLBACK_RULE, json={}, headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400


def test_api_writes_with_a_session_need_the_csrf_token(admin_client):
    response = admin_client.http.post("/api/proposals/reject", json={"ids": [1]})
    assert response.status_code == 400 and response.json["field"] == "csrf_token"
    response = admin_client.http.post(
        "/api/proposals/reject", json={"ids": [999]}, headers={"X-CSRFToken": admin_client.csrf}
    )
    assert response.status_code == 404  # past the CSRF check


def test_bearer_tokens_skip_csrf_and_need_an_admin(app, world, clock):
    client = app.test_client()
    token = issue_token(world.ada.email, clock.now())
    response = client.post("/api/proposals/reject", json={"ids": [999]}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert client.get("/api/investors", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    member_token = former_admin_token(world.bob.email, clock.now())
    assert client.get("/api/investors", headers={"Authorization": f"Bearer {member_token}"}).status_code == 403
    assert client.get("/api/investors", headers={"Authorization": "Bearer irm_forged"}).status_code == 401
    # A token is for the API only: it does not open the dashboard or its callbacks.
    assert client.get("/_dash-layout", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    update_user(world.bob.id, clock.now(), is_active=False)
    assert client.get("/api/investors", headers={"Authorization": f"Bearer {member_token}"}).status_code == 401


def test_login_form_needs_its_csrf_token(anon, world):
    response = anon.http.post("/login", data={"email": world.ada.email, "password": world.PASSWORD})
    assert response.status_code == 400 and "session expired" in response.text


def test_logout_is_a_post_with_csrf(admin_client):
    assert admin_client.http.get("/logout").headers["Location"] == "/"  # a GET signs nobody out
    assert admin_client.http.get("/api/investors").status_code == 200
    assert admin_client.http.post("/logout").status_code == 400  # no token
    response = admin_client.http.post("/logout", data={"csrf_token": admin_client.csrf})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert admin_client.http.get("/api/investors").status_code == 401


# -- sessions -------------------------------------------------------------------------------------
def test_login_sets_a_fresh_http_only_lax_session(anon, world):
    anon.http.get("/login")
    before = anon.http.get_cookie("irm_session").value
    response = anon.login(world.ada.email)
    assert response.status_code == 302
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("irm_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert anon.http.get_cookie("irm_session").value != before


def test_cookies_are_secure_behind_https(app, world):
    client = WebClient(app)
    page = client.http.get("/login", headers={"X-Forwarded-Proto": "https"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.http.post(
        "/login",
        headers={"X-Forwarded-Proto": "https"},
        data={"email": world.ada.email, "password": world.PASSWORD, "csrf_token": token},
    )
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("irm_session=")][0]
    assert "Secure" in cookie


def test_wrong_password_inactive_user_and_throttling(anon, world, clock):
    assert anon.login(world.ada.email, "wrong password!").status_code == 401
    assert anon.login("nobody@fund.example", "whatever it is").status_code == 401
    update_user(world.bob.id, clock.now(), is_active=False)
    assert anon.login(world.bob.email).status_code == 401
    for _ in range(4):
        anon.login(world.ada.email, "wrong password!")
    locked = anon.login(world.ada.email)  # the right password, but the account is locked for a while
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_a_password_reset_or_deactivation_ends_existing_sessions(app, world, clock):
    first = WebClient(app)
    first.login(world.bob.email)
    assert first.http.get("/").status_code == 200
    reset_password(world.bob.id, clock.now(), password="another long password")
    assert first.http.get("/").status_code == 302
    second = WebClient(app)
    second.login(world.bob.email, "another long password")
    assert second.http.get("/").status_code == 200
    update_user(world.bob.id, clock.now(), is_active=False)
    assert second.http.get("/").status_code == 302


# -- redirects ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "/\tevil",
        "evil.example",
        "///evil.example",
        "/login",
        " //evil.example",
    ],
)
def test_next_never_leaves_the_box(anon, world, target):
    response = anon.login(world.ada.email, next_=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == safe_next(target)
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")
    assert not any(ord(c) < 32 for c in location) and "\\" not in location
    if "evil" in target or target.startswith("/login"):
        assert location == "/"


def test_next_keeps_a_local_path(anon, world):
    response = anon.login(world.ada.email, next_="/activity?q=capital&investor_id=2")
    assert response.headers["Location"] == "/activity?q=capital&investor_id=2"


def test_anonymous_page_load_remembers_where_it_was_going(anon):
    response = anon.http.get("/activity?q=call")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/activity?q%3Dcall"


def test_login_page_escapes_next(anon):
    page = anon.http.get('/login?next=/"><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in page.text


def test_security_headers(admin_client):
    response = admin_client.http.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp and "https:" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_no_page_pulls_anything_from_a_cdn(admin_client):
    index = admin_client.http.get("/").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "/assets/bootstrap.min.css" in " ".join(urls)
    config = json.loads(
        re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', index, re.S).group(1)
    )
    assert config.get("serve_locally", True) is not False


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_with_each_failure_and_stop_at_five_minutes():
    clock = FakeMonotonic()
    throttle = LoginThrottle(clock=clock)
    waits = []
    for _ in range(16):
        throttle.failed("user:ada@fund.example")
        waits.append(throttle.retry_after("user:ada@fund.example"))
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    clock.now += 299.5
    assert throttle.retry_after("user:ada@fund.example") == 0.5  # counted from the last failure
    clock.now += 900
    assert throttle.retry_after("user:ada@fund.example") == 0.0  # failures leave the window


def test_a_spray_of_addresses_does_not_clear_a_real_delay():
    """Once, past 10,000 addresses every lock was wiped: spraying made-up addresses unlocked the
    account under attack. Now only expired and undelayed entries make room."""
    clock = FakeMonotonic()
    throttle = LoginThrottle(clock=clock)
    for _ in range(14):
        throttle.failed("user:ada@fund.example")
    assert throttle.retry_after("user:ada@fund.example") == 300.0
    for n in range(3 * throttle.max_keys):
        clock.now += 0.001
        throttle.failed(f"user:spray{n}@example.org")
        assert len(throttle._failures) <= throttle.max_keys
    assert 0 < throttle.retry_after("user:ada@fund.example") < 300.0  # still delayed
    assert "user:spray0@example.org" not in throttle._failures  # the oldest unlocked ones went
    assert f"user:spray{3 * throttle.max_keys - 1}@example.org" in throttle._failures
    # Locks end on time, and then their entries may go too.
    clock.now += 900
    assert throttle.retry_after("user:ada@fund.example") == 0.0
    for n in range(throttle.max_keys):
        throttle.failed(f"user:later{n}@example.org")
    assert "user:ada@fund.example" not in throttle._failures


def test_locks_alone_cannot_grow_the_throttle_without_bound():
    clock = FakeMonotonic()
    throttle = LoginThrottle(clock=clock, max_keys=10)
    for n in range(150):
        for _ in range(5):
            throttle.failed(f"user:locked{n}@example.org")
    assert len(throttle._failures) <= 10 * throttle.max_keys
    assert throttle.retry_after("user:locked149@example.org") > 0  # the newest locks stay
    assert throttle.retry_after("user:locked0@example.org") == 0.0  # the oldest made room


def test_spraying_the_login_form_leaves_the_delayed_account_delayed(app, anon, world, clock):
    """The same through the real login form, with a small table so the spray stays short."""
    app.extensions["login_throttle"] = LoginThrottle(max_keys=8, clock=clock.monotonic)
    for _ in range(5):
        assert anon.login(world.ada.email, "wrong password!").status_code == 401
    for n in range(20):
        assert anon.login(f"spray{n}@example.org", "whatever it is").status_code == 401
    locked = anon.login(world.ada.email)  # the right password: still refused until the lock ends
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert len(app.extensions["login_throttle"]._failures) <= 8


def test_the_layout_is_never_cached_and_powerful_features_are_off(admin_client):
    layout = admin_client.http.get("/_dash-layout")
    assert layout.status_code == 200 and layout.headers["Cache-Control"] == "no-store"
    policy = admin_client.http.get("/").headers["Permissions-Policy"]
    assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


def test_hsts_only_when_the_request_came_over_https(admin_client):
    assert "Strict-Transport-Security" not in admin_client.http.get("/").headers  # Tor: plain HTTP
    https = admin_client.http.get("/", headers={"X-Forwarded-Proto": "https"})
    assert https.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_dashs_mcp_endpoint_stays_off_even_when_the_environment_asks(web_runtime, world, monkeypatch):
    from appsrc.web.app import create_app

    monkeypatch.setenv("DASH_MCP_ENABLED", "true")  # what would switch it on (Dash registers it lazily)
    app = create_app(web_runtime)
    client = WebClient(app)
    assert client.login(world.ada.email).status_code == 302
    assert client.http.get("/").status_code == 200
    assert [rule.rule for rule in app.url_map.iter_rules() if "mcp" in rule.rule.lower()] == []
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    answer = client.http.post("/_mcp", json=initialize, headers={"X-CSRFToken": client.csrf})
    assert b"jsonrpc" not in answer.data


def test_a_teammate_gets_a_plain_404_for_paths_that_are_no_page(member_client, admin_client):
    for path in ("/no-such-page", "/_mcp", "/email", "/api-docs"):
        response = member_client.http.get(path)
        assert (response.status_code, response.json) == (404, {"error": "not found"}), path
    assert member_client.http.get("/").status_code == 200  # their overview still loads
    assert admin_client.http.get("/no-such-page").status_code == 200  # admins get the dashboard's own page
