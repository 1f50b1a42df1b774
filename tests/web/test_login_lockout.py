"""Failed logins cannot shut the real person out: a spray against an admin's address leaves the
admin's own browser signing in at once (others get growing delays, never a lock), and a burst
of logins cannot take every server thread with password hashing."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from appsrc.web.auth import PASSWORD_CHECK_SLOTS
from tests.crm.fixtures import *
from tests.live_server import served


def test_a_spray_of_fifty_failures_leaves_the_admins_own_browser_signing_in_at_once(app, world, admin_client):
    own_browser = admin_client  # signed in before: it carries the known-device cookie
    assert own_browser.http.get_cookie("irm_device") is not None
    assert own_browser.http.post("/logout", headers={"X-CSRFToken": own_browser.csrf}).status_code == 302

    attacker = WebClient(app)
    answers = [attacker.login(world.ada.email, f"guess number {n}").status_code for n in range(50)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # delayed, not let through
    refused = attacker.login(world.ada.email)  # even the right password waits, from a stranger
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1

    assert own_browser.login(world.ada.email).status_code == 302  # at once
    assert own_browser.http.get("/").status_code == 200


def test_a_forged_or_another_accounts_device_cookie_does_not_help(app, world, member_client):
    """The cookie is signed and names one account: Bob's browser is a stranger to Ada's."""
    attacker = WebClient(app)
    for _ in range(5):
        attacker.login(world.ada.email, "wrong password!")
    forged = WebClient(app)
    forged.http.set_cookie("irm_device", f"{world.ada.id}.0123456789abcdef.{'0' * 32}")
    assert forged.login(world.ada.email).status_code == 429
    assert member_client.http.post("/logout", headers={"X-CSRFToken": member_client.csrf}).status_code == 302
    assert member_client.login(world.ada.email).status_code == 429


@pytest.fixture
def server(app):
    with served(app, threads=8) as url:
        yield url


class CountingSlots(threading.BoundedSemaphore):
    """The app's password-check slots, counting how many are held at once."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.held, self.peak = 0, 0
        self._count = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        got = super().acquire(blocking, timeout)
        if got:
            with self._count:
                self.held += 1
                self.peak = max(self.peak, self.held)
        return got

    def release(self, n: int = 1) -> None:
        with self._count:
            self.held -= n
        super().release(n)


def login_form(server: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(server + "/login", timeout=10)
    return session, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_twenty_concurrent_bad_logins_hash_two_at_a_time_and_health_answers(app, server):
    slots = app.extensions["password_checks"] = CountingSlots(PASSWORD_CHECK_SLOTS)
    forms = [login_form(server) for _ in range(20)]
    start = threading.Barrier(21)
    statuses: list[int] = []

    def bad_login(n: int) -> None:
        session, token = forms[n]
        start.wait()
        data = {"email": f"nobody{n}@example.org", "password": "not it at all", "csrf_token": token}
        statuses.append(session.post(server + "/login", data=data, timeout=30, allow_redirects=False).status_code)

    threads = [threading.Thread(target=bad_login, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    start.wait()
    health = requests.get(server + "/healthz", timeout=10)  # during the burst
    for thread in threads:
        thread.join(timeout=60)
    for session, _token in forms:  # no kept-alive connection left for the server's teardown
        session.close()
    assert health.status_code == 200
    assert len(statuses) == 20 and set(statuses) <= {401, 429}
    assert 1 <= slots.peak <= PASSWORD_CHECK_SLOTS  # never more at once than the bound


def test_a_login_that_gets_no_turn_is_told_to_retry_and_frees_its_thread(app, server, world):
    slots = app.extensions["password_checks"]
    for _ in range(PASSWORD_CHECK_SLOTS):
        assert slots.acquire(timeout=1)  # every slot busy hashing, as under a flood
    try:
        session, token = login_form(server)
        data = {"email": world.ada.email, "password": world.PASSWORD, "csrf_token": token}
        busy = session.post(server + "/login", data=data, timeout=10, allow_redirects=False)
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        assert "busy" in busy.text
        assert requests.get(server + "/healthz", timeout=10).status_code == 200
    finally:
        for _ in range(PASSWORD_CHECK_SLOTS):
            slots.release()
    assert session.post(server + "/login", data=data, timeout=10, allow_redirects=False).status_code == 302
    session.close()
