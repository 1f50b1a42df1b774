"""The same store on PostgreSQL: migrations, the schema the models expect, and a real sync."""

import pytest

from appsrc.store.db import open_database
from appsrc.store.migrations import migrate

pytestmark = pytest.mark.postgres


def test_migrations_apply_once_on_postgres(postgres_url):
    db = open_database(postgres_url)
    assert migrate(db) and migrate(db) == []
    from tests.store.test_migrations import test_live_models_match_the_migrated_schema

    test_live_models_match_the_migrated_schema(db)
    db.close()
