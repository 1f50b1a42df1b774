"""How a dashboard session ends: a cookie copied before sign-out (or a password reset, or
deactivation) is refused after it, polling cannot keep a session alive past seven days, and a
cookie carried to another browser is refused."""

from __future__ import annotations

import pytest

from appsrc.crm.users import reset_password, update_user
from appsrc.web.auth import SESSION_ABSOLUTE
from tests.crm.fixtures import *

SESSION_COOKIE = "irm_session"


def copy_of(client: WebClient, app) -> WebClient:
    """Another browser holding the same cookies (a stolen or synced copy)."""
    thief = WebClient(app)
    for name in (SESSION_COOKIE, "_csrf_token"):
        cookie = client.http.get_cookie(name)
        if cookie is not None:
            thief.http.set_cookie(name, cookie.value)
    return thief


def signed_in(client: WebClient) -> bool:
    return client.http.get("/").status_code == 200


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, admin_client):
    copy = copy_of(admin_client, app)
    assert signed_in(copy)  # the copy works while the session lives
    assert admin_client.http.post("/logout", headers={"X-CSRFToken": admin_client.csrf}).status_code == 302
    assert not signed_in(admin_client) and not signed_in(copy)
    assert copy.http.get("/").headers["Location"].startswith("/login")


@pytest.mark.parametrize("ending", ["password reset", "deactivation"])
def test_a_password_reset_or_deactivation_ends_every_session(app, member_client, world, clock, ending):
    copy = copy_of(member_client, app)
    assert signed_in(member_client) and signed_in(copy)
    if ending == "password reset":
        reset_password(world.bob.id, clock.now(), actor=world.ada)
    else:
        update_user(world.bob.id, clock.now(), is_active=False, actor=world.ada)
    assert not signed_in(member_client) and not signed_in(copy)


def test_polling_never_keeps_a_session_past_seven_days(admin_client, clock):
    """The idle lifetime is refreshed by every request; the absolute one is not."""
    for _hour in range(int(SESSION_ABSOLUTE.total_seconds() // 3600)):
        clock.advance(3600)
        assert signed_in(admin_client)
    clock.advance(1)
    assert not signed_in(admin_client)


def test_a_session_is_bound_to_the_browser_that_signed_in(app, admin_client):
    copy = copy_of(admin_client, app)
    copy.http.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (someone else's machine)"
    assert not signed_in(copy)
    assert signed_in(admin_client)  # the other browser's refusal does not end the owner's session
