"""Capture fixtures: the real appliance runtime pointed at a running Gmail simulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appsrc.clock import SystemClock
from appsrc.crm.investors import import_investors_csv
from appsrc.crm.users import add_user
from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.simulator import generate_team
from appsrc.store.bare import write_capture_scope

DATASET_NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def team(sim):
    """A small deterministic team dataset (every hard case present) loaded into the simulator."""
    dataset = generate_team(3, team_size=3, investors=8, messages_per_mailbox=60, now=DATASET_NOW)
    dataset.gmail_ids = dataset.load_into(sim)
    return dataset


def make_runtime(sim, tmp_path, *, scope: str = "all", **env):
    """The runtime on a fresh store. `scope` is the capture scope it starts with: most capture
    tests check what happens to *every* external email, which is scope `all`; a new install's
    default (`investors`) has its own tests (tests/capture/test_scope.py)."""
    key = tmp_path / "secrets" / "dwd" / "service_account.json"
    key.parent.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        sim.make_service_account_key(str(key))
    settings = load_settings(
        {"CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_GMAIL_API_ENDPOINT": sim.url, **env}
    )
    runtime = build_runtime(settings, SystemClock(), allow_demo=False)
    with runtime.db.connection_context():
        write_capture_scope(scope, runtime.clock.now())
    return runtime


@pytest.fixture
def runtime(sim, tmp_path):
    """The appliance's runtime (real SQLite file, real delegation, real Gmail client) aimed at
    the simulator by configuration only."""
    rt = make_runtime(sim, tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def crm(runtime, team):
    """The team registered as users (the first an admin) and the investors imported."""
    now = runtime.clock.now()
    for i, member in enumerate(team.team):
        add_user(member.address, member.name, now, is_admin=i == 0)
    import_investors_csv(team.investors_csv(), now, directory=runtime.directory)
    return runtime
