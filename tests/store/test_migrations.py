import os
import subprocess
import sys

import pytest

from appsrc.store.db import open_database, placeholder
from appsrc.store.migrations import discover, migrate, pending
from appsrc.store.migrations.m0022_postgres_time_ordered_search import UNMODELLED_COLUMNS
from appsrc.store.models import ALL_MODELS


def test_migrate_is_idempotent_and_records_versions(settings):
    db = open_database(settings.database_url)
    assert migrate(db) == [f"{m.version:04d}_{m.name}" for m in discover()]
    assert migrate(db) == [] and pending(db) == []
    versions = [row[0] for row in db.execute_sql("SELECT version FROM schema_migration ORDER BY version")]
    assert versions == list(range(1, len(discover()) + 1))


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(db):
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_live_models_match_the_migrated_schema(db):
    """The migrations own the schema; the live models must describe exactly what they built."""
    for model in ALL_MODELS:
        table = model._meta.table_name
        hidden = UNMODELLED_COLUMNS.get(table, set())  # PostgreSQL's stored search words
        columns = {c.name: c for c in db.get_columns(table) if c.name not in hidden}
        fields = {f.column_name: f for f in model._meta.sorted_fields}
        assert set(columns) == set(fields), table
        for name, field in fields.items():
            assert columns[name].null == field.null, f"{table}.{name} nullability"
        unique_sets = {tuple(i.columns) for i in db.get_indexes(table) if i.unique}
        for name, field in fields.items():
            if field.unique:
                assert (name,) in unique_sets, f"{table}.{name} should be unique"
        index_sets = {tuple(i.columns) for i in db.get_indexes(table)}
        for name, field in fields.items():
            if field.index or field.unique:
                assert (name,) in index_sets, f"{table}.{name} should be indexed"
        for fields_tuple, unique in model._meta.indexes:
            cols = tuple(model._meta.fields[f].column_name for f in fields_tuple)
            assert cols in index_sets, f"{table}{cols} should be indexed"
            if unique:
                cols = tuple(model._meta.fields[f].column_name for f in fields_tuple)
                assert cols in unique_sets, f"{table}{cols} should be unique"


def test_full_text_index_follows_inserts_updates_and_deletes(db):
    from appsrc.store.models import Email
    from tests.conftest import NOW

    email = Email.create(
        dedupe_key="mid:<a@x>",
        subject="Quarterly capital call",
        from_email="jane@acme.example",
        sent_at=NOW,
        captured_at=NOW,
    )

    def hits(term):
        return [
            r[0] % 2**31 for r in db.execute_sql("SELECT rowid FROM email_search WHERE email_search MATCH ?", (term,))
        ]

    assert hits("capital") == [email.id]
    Email.update(subject="Distribution notice").where(Email.id == email.id).execute()
    assert hits("capital") == [] and hits("distribution") == [email.id]
    email.delete_instance()
    assert hits("distribution") == []


def test_cli_migrate_twice(tmp_path):
    env = {"CRM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-m", "appsrc", "migrate"], capture_output=True, text=True, env=env)
    second = subprocess.run([sys.executable, "-m", "appsrc", "migrate"], capture_output=True, text=True, env=env)
    assert first.returncode == 0 and "applied: 0001_initial" in first.stdout
    assert second.returncode == 0 and "up to date" in second.stdout


def test_0005_fills_the_pending_queue_from_existing_proposals(settings):
    """A store that already has pending and decided proposals when 0005 arrives: the queue table
    and counts start out right, and the queue reads the same as before the upgrade."""
    from appsrc.crm import proposals
    from appsrc.store import queries
    from tests.conftest import NOW
    from tests.crm.factories import World
    from tests.store.test_queries import assert_queue_matches_the_proposals

    db = open_database(settings.database_url)
    db.execute_sql(
        "CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, "
        "applied_at VARCHAR(64) NOT NULL)"
    )
    # The store as 0004 left it, plus the later migrations that only add columns today's
    # factories write (0009 on): they are independent of 0005, so applying them first changes
    # nothing 0005 reads.
    for migration in discover():
        if migration.version <= 4 or migration.version >= 9:
            migration.module.up(db)
            db.execute_sql("INSERT INTO schema_migration VALUES (?, ?, ?)", (migration.version, migration.name, "x"))
    world = World(NOW)
    acme = world.investor("Acme Capital", "acme.example")
    beta = world.investor("Beta Partners", "beta.example")
    emails = [
        world.email(f"Note {i}", f"p{i}@{'acme' if i % 2 else 'beta'}.example", ["ada@fund.example"]) for i in range(7)
    ]
    proposals.approve(world.proposals_of(emails[0])[0].id, world.ada, NOW, directory=world.directory)
    before = [(p.id, p.investor_id) for e in emails for p in world.proposals_of(e) if p.status == "pending"]
    assert migrate(db)[0] == "0005_approvals_queue"
    queries.clear_cache()
    assert_queue_matches_the_proposals()
    assert {(p["id"], p["investor_id"]) for p in queries.proposal_queue(limit=200)["items"]} == set(before)
    assert {i["id"] for i in queries.proposal_investors()} == {acme.id, beta.id}
    db.close()


def test_an_sqlite_older_than_the_store_needs_is_refused_by_name(tmp_path, monkeypatch):
    """RETURNING needs SQLite 3.35: an older library gets a clear setting error, not a syntax
    error on the first captured email."""
    from appsrc.store import db as db_module

    monkeypatch.setattr(db_module.sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(db_module.sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(db_module.DatabaseURLError, match=r"CRM_DATABASE_URL: .*3\.34\.1.*3\.35 or newer"):
        open_database(f"sqlite:///{tmp_path / 'crm.sqlite3'}")


def test_cli_names_a_database_url_it_cannot_use(tmp_path):
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DEMO": "off", "CRM_DATABASE_URL": "mysql://nope/db"}
    proc = subprocess.run([sys.executable, "-m", "appsrc", "migrate"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: bad setting: CRM_DATABASE_URL: unsupported database URL scheme 'mysql' (use sqlite or postgresql)"
    )


def test_0010_dates_the_graveyard_from_each_investors_last_change(settings):
    db = open_database(settings.database_url)
    migrate_up_to(db, 9)
    for name, graveyard, updated in (
        ("Old FO", True, "2026-03-01 10:00:00.000000"),
        ("Acme", False, "2026-04-01 10:00:00.000000"),
    ):
        db.execute_sql(
            "INSERT INTO investor (name, graveyard, notes, created_at, updated_at) VALUES (?, ?, '', ?, ?)",
            (name, graveyard, updated, updated),
        )
    assert migrate(db)[0] == "0010_graveyard_since"  # and the later ones
    rows = db.execute_sql("SELECT name, graveyard_since FROM investor ORDER BY name").fetchall()
    assert rows == [("Acme", None), ("Old FO", "2026-03-01 10:00:00.000000")]
    db.close()


def test_0021_makes_a_snooze_cover_through_the_email_it_was_set_on(settings):
    """Before 0021 a snooze hid its conversation whatever came next; after it, the snooze covers
    the newest message there was (the email it was set on), so the investor writing again ends it."""
    from datetime import UTC, datetime

    from tests.conftest import NOW
    from tests.crm.factories import World

    db = migrated_up_to(settings, "0021", 20, users=0)
    world = World(NOW)
    world.investor("Acme Capital", "acme.example")
    sent = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)
    ask = world.email("Side letter", "jane@acme.example", ["ada@fund.example"], sent_at=sent)
    insert = (
        "INSERT INTO awaiting_mark (thread_key, state, email_id, handled_through, snoozed_until, created_at) "
        "VALUES (?, ?, ?, ?, ?, '2026-11-03 09:00:00.000000')"
    )
    db.execute_sql(insert, (ask.thread_key, "snoozed", ask.id, None, "2026-11-20 00:00:00.000000"))
    db.execute_sql(insert, ("mid:<other@test>", "handled", None, "2026-10-01 09:00:00.000000", None))
    # Its email deleted since: the snooze covers what was sent before it was set.
    db.execute_sql(insert, ("mid:<gone@test>", "snoozed", None, None, "2026-11-20 00:00:00.000000"))
    assert migrate(db)[0] == "0021_awaiting_mark_covers"
    rows = db.execute_sql("SELECT thread_key, covers_through FROM awaiting_mark ORDER BY id").fetchall()
    assert rows == [
        (ask.thread_key, "2026-10-30 17:00:00.000000"),
        ("mid:<other@test>", "2026-10-01 09:00:00.000000"),
        ("mid:<gone@test>", "2026-11-03 09:00:00.000000"),
    ]
    db.close()


def migrate_up_to(db, version: int) -> None:
    """Apply the migrations up to `version` to an empty database, recorded as `migrate` does, so
    a test can put data in as an older release would have and then upgrade it."""
    db.execute_sql(
        "CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, "
        "applied_at VARCHAR(64) NOT NULL)"
    )
    mark = placeholder()
    for migration in discover()[:version]:
        migration.module.up(db)
        db.execute_sql(
            f"INSERT INTO schema_migration VALUES ({mark}, {mark}, {mark})", (migration.version, migration.name, "x")
        )


def migrated_up_to(settings, name: str, version: int, *, users: int):
    """A store migrated to `version`, with `users` users: a new install (0) or an upgrade (1)."""
    db = open_database(settings.database_url.replace("crm.sqlite3", f"crm-{name}.sqlite3"))
    migrate_up_to(db, version)
    if users:
        db.execute_sql(
            'INSERT INTO "user" (email, name, is_admin, is_active, created_at, updated_at) '
            "VALUES ('ada@fund.example', 'Ada', 1, 1, 'x', 'x')"
        )
    return db


def test_0012_turns_the_admin_domain_rule_on_for_new_installs_only(settings):
    from appsrc.store.models import AppSetting

    for users, expected in ((0, "on"), (1, "off")):
        db = migrated_up_to(settings, f"rule-{users}", 11, users=users)
        assert migrate(db)[0] == "0012_admin_domain_rule"
        with db.bind_ctx([AppSetting]):
            assert AppSetting.get(AppSetting.key == "admins_in_own_domains").value == expected
        db.close()


def test_0013_keeps_only_investor_mail_on_new_installs_and_all_mail_on_upgrades(settings):
    """A new install starts private (scope `investors`); an upgrade keeps what it did (`all`)
    until an admin chooses."""
    from appsrc.store.models import AppSetting

    for users, expected in ((0, "investors"), (1, "all")):
        db = migrated_up_to(settings, f"scope-{users}", 12, users=users)
        assert migrate(db)[0] == "0013_capture_scope"
        with db.bind_ctx([AppSetting]):
            assert AppSetting.get(AppSetting.key == "capture_scope").value == expected
        db.close()
