"""Numbered schema migrations and their runner.

Each `mNNNN_name.py` module defines `up(db)`. A migration never imports the live models: it
carries frozen copies of what it creates, so its meaning cannot drift when the models change.
Applied versions are recorded in `schema_migration`; running again applies only what is missing.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType

from peewee import Database, PostgresqlDatabase

log = logging.getLogger(__name__)

_NAME = re.compile(r"^m(\d{4})_(\w+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType


def discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if match:
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(Migration(int(match.group(1)), match.group(2), module))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must run 1..N without gaps, found {versions}")
    return found


def applied_versions(db: Database) -> set[int]:
    if not db.table_exists("schema_migration"):
        return set()
    return {row[0] for row in db.execute_sql("SELECT version FROM schema_migration")}


def migrate(db: Database) -> list[str]:
    """Apply every missing migration, each in its own transaction; return what was applied.

    Safe when two processes start at once: the write lock (SQLite) or an advisory lock
    (PostgreSQL) serializes them and the loser finds nothing left to do.
    """
    applied = []
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migration ("
        "version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at VARCHAR(64) NOT NULL)"
    )
    for migration in discover():
        with db.atomic():
            _lock(db)
            if migration.version in applied_versions(db):
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            migration.module.up(db)
            db.execute_sql(
                "INSERT INTO schema_migration (version, name, applied_at) VALUES (%s, %s, %s)".replace("%s", db.param),
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
            applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


def pending(db: Database) -> list[str]:
    done = applied_versions(db)
    return [f"{m.version:04d}_{m.name}" for m in discover() if m.version not in done]


def _lock(db: Database) -> None:
    # SQLite needs nothing more: open_database begins transactions IMMEDIATE (the write lock).
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(724101)")
