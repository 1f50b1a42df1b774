import subprocess
import sys

from appsrc.store.db import open_database
from appsrc.store.migrations import discover, migrate, pending
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
        columns = {c.name: c for c in db.get_columns(table)}
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

    email = Email.create(dedupe_key="mid:<a@x>", subject="Quarterly capital call", from_email="jane@acme.example",
                         sent_at=NOW, captured_at=NOW)
    def hits(term):
        return [r[0] % 2**31 for r in db.execute_sql("SELECT rowid FROM email_search WHERE email_search MATCH ?", (term,))]

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
