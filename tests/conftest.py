"""Shared fixtures. Fakes at the network seam are real local servers (the Gmail simulator, an
SMTP server, an LLM stub); the database is a real SQLite file in a temporary directory."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appsrc.clock import FrozenClock
from appsrc.settings import load_settings
from appsrc.store.db import open_database
from appsrc.store.migrations import migrate

NOW = datetime(2026, 11, 2, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at a Monday afternoon (UTC) that tests advance by hand."""
    return FrozenClock(NOW)


@pytest.fixture
def settings(tmp_path):
    """Settings as the appliance would load them, with the data dir in a temporary folder and
    demo mode off."""
    return load_settings({"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_DEMO": "off"})


@pytest.fixture
def db(settings):
    """A migrated SQLite file in the temporary data dir, bound to the models."""
    database = open_database(settings.database_url)
    migrate(database)
    yield database
    database.close()
