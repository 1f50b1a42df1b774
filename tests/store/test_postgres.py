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


def test_0022_gives_mail_already_stored_its_words_and_timeline(postgres_url):
    """Upgrading a PostgreSQL store that already holds mail: every email gets its stored words
    (folded), every link its place in the investor timeline, and the search reads both."""
    from datetime import timedelta

    from appsrc.store import queries
    from appsrc.store.queries.activity import time_key
    from tests.conftest import NOW
    from tests.crm.factories import World
    from tests.store.test_migrations import migrate_up_to

    db = open_database(postgres_url)
    migrate_up_to(db, 21)
    world = World(NOW)
    acme = world.investor("Acme Capital", "acme.example")
    ada = ["ada@fund.example"]
    notes = [
        world.email(f"Note {n} from Müller", "jane@acme.example", ada, sent_at=NOW - timedelta(hours=n))
        for n in range(5)
    ]
    world.email("Lunch", "friend@elsewhere.example", ["ada@fund.example"])
    assert migrate(db) == ["0022_postgres_time_ordered_search"]
    timeline = {tuple(row) for row in db.execute_sql("SELECT investor_id, email_id, key FROM email_investor_timeline")}
    assert timeline == {(acme.id, e.id, time_key(e.sent_at, e.id)) for e in notes}
    queries.clear_cache()
    newest_first = [e.id for e in notes]
    assert [i["email_id"] for i in queries.email_activity(q="muller")["items"]] == newest_first
    assert [i["email_id"] for i in queries.email_activity(investor_id=acme.id, limit=2)["items"]] == newest_first[:2]
    db.close()
