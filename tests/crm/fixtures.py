"""Fixtures shared by the CRM, store-query, web and dashboard tests (import them with
`from tests.crm.fixtures import *`): a real runtime on a SQLite file, a small CRM world with
named personas, the Flask app with the dashboard mounted, and signed-in test clients."""

from __future__ import annotations

import re

import pytest

from appsrc.runtime import build_runtime
from appsrc.store import queries
from appsrc.store.bare import write_capture_scope
from tests.crm.factories import World

__all__ = ["web_runtime", "world", "app", "anon", "admin_client", "member_client", "WebClient"]


@pytest.fixture
def web_runtime(settings, clock):
    """The appliance's runtime on a fresh, migrated SQLite file (no Gmail needed), frozen clock.
    Capture scope `all`: the personas' mail includes non-investor mail on purpose (search,
    charts); scope `investors` has its own tests."""
    runtime = build_runtime(settings.replace(own_domains=("fund.example",)), clock, allow_demo=False)
    write_capture_scope("all", clock.now())
    queries.clear_cache()
    yield runtime
    runtime.close()


@pytest.fixture
def world(web_runtime, clock):
    """Personas: `ada` (admin), `bob` (teammate, not an admin), each with a mailbox."""
    return World(clock.now())


@pytest.fixture
def app(web_runtime, world):
    from appsrc.web.app import create_app

    flask_app = create_app(web_runtime)
    flask_app.config["TESTING"] = True
    return flask_app


class WebClient:
    """A Flask test client that signs in through the login form and speaks Dash's callback JSON."""

    def __init__(self, flask_app) -> None:
        self.app = flask_app
        self.http = flask_app.test_client()

    def login(self, email: str, password: str = World.PASSWORD, next_: str = "/"):
        page = self.http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return self.http.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": next_})

    @property
    def csrf(self) -> str:
        cookie = self.http.get_cookie("_csrf_token")
        return cookie.value if cookie else ""

    def callback(
        self,
        output: str,
        inputs: list[tuple],
        state: list[tuple] = (),
        *,
        csrf: bool = True,
        triggered: list[str] | None = None,
    ):
        """POST one callback: `inputs`/`state` are (id, property, value), or a list of such dicts for
        a wildcard (ALL) dependency; `output` is Dash's key for the callback."""

        def spec(items):
            return [
                item if isinstance(item, list) else {"id": item[0], "property": item[1], "value": item[2]}
                for item in items
            ]

        outputs = (
            [
                {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
                for part in output.strip(".").split("...")
            ]
            if output.startswith("..")
            else {"id": output.rsplit(".", 1)[0], "property": output.rsplit(".", 1)[1]}
        )
        body = {
            "output": output,
            "outputs": outputs,
            "inputs": spec(inputs),
            "state": spec(state),
            "changedPropIds": triggered if triggered is not None else [f"{inputs[0][0]}.{inputs[0][1]}"],
        }
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.http.post("/_dash-update-component", json=body, headers=headers)


@pytest.fixture
def anon(app) -> WebClient:
    return WebClient(app)


@pytest.fixture
def admin_client(app, world) -> WebClient:
    client = WebClient(app)
    assert client.login(world.ada.email).status_code == 302
    return client


@pytest.fixture
def member_client(app, world) -> WebClient:
    client = WebClient(app)
    assert client.login(world.bob.email).status_code == 302
    return client
