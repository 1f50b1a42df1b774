"""The appliance as the digest and draft pages use it: the real runtime and Flask app aimed at a
running Gmail simulator (delegation, drafts.create, messages.send) and the LLM stub, with the CRM
personas (`ada` an admin with a password, `bob` a teammate; `ben` a second admin) and helpers to
post the new pages' callbacks. Import with `from tests.dashboard.desk import *`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appsrc.crm.users import add_user
from appsrc.simulator import LlmStub
from appsrc.store import queries
from tests.capture.conftest import make_runtime
from tests.crm.factories import World
from tests.crm.fixtures import WebClient

__all__ = [
    "ADA",
    "BOB",
    "BEN",
    "JANE",
    "JOE",
    "TZ",
    "Desk",
    "llm",
    "desk",
    "desk_admin",
    "desk_member",
    "callback_key",
    "find_components",
]

ADA, BOB, BEN = "ada@fund.example", "bob@fund.example", "ben@fund.example"
JANE, JOE = "jane@acme.example", "joe@acme.example"
TZ = "Asia/Singapore"  # UTC+8 all year: local times cannot pass for UTC


@dataclass
class Desk:
    runtime: object
    app: object
    world: World
    sim: object
    llm: LlmStub

    def key(self, contains: str) -> str:
        return callback_key(self.app, contains)


def callback_key(app, contains: str) -> str:
    """Dash's key of the one callback whose outputs include `contains` (e.g. "digest-poll.disabled")."""
    keys = [k for k in app.extensions["dash_app"].callback_map if contains in k]
    assert len(keys) == 1, keys
    return keys[0]


def find_components(tree, type_: str) -> list[dict]:
    """Every component of a Dash type (e.g. "Iframe", "A") in a callback answer."""
    found = []
    if isinstance(tree, dict):
        if tree.get("type") == type_ and "props" in tree:
            found.append(tree)
        for value in tree.values():
            found += find_components(value, type_)
    elif isinstance(tree, list):
        for value in tree:
            found += find_components(value, type_)
    return found


@pytest.fixture
def llm():
    stub = LlmStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def desk(sim, tmp_path, llm):
    for address in (ADA, BOB, BEN):
        sim.add_mailbox(address)
    runtime = make_runtime(
        sim, tmp_path, CRM_OWN_DOMAINS="fund.example", CRM_LLM_URL=llm.url, CRM_LLM_TIMEOUT_S="3", CRM_TIMEZONE=TZ
    )
    queries.clear_cache()
    world = World(runtime.clock.now())
    world.ben = add_user(BEN, "Ben Admin", runtime.clock.now(), is_admin=True)
    from appsrc.web.app import create_app

    app = create_app(runtime)
    app.config["TESTING"] = True
    yield Desk(runtime, app, world, sim, llm)
    jobs = app.extensions.get("digest_jobs")
    if jobs is not None:  # no job thread may outlive its database
        for thread in list(jobs._threads.values()):
            thread.join(20)
    runtime.close()


@pytest.fixture
def desk_admin(desk) -> WebClient:
    client = WebClient(desk.app)
    assert client.login(ADA).status_code == 302
    return client


@pytest.fixture
def desk_member(desk) -> WebClient:
    client = WebClient(desk.app)
    assert client.login(BOB).status_code == 302
    return client
