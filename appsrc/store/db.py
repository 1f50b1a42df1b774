"""The deferred database every model binds to, opened from a URL by the composition root."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

from appsrc.settings import SettingsError

database = DatabaseProxy()

# WAL lets the dashboard read while the worker writes; foreign keys are off by default in
# SQLite; the busy timeout turns writer contention into a short wait instead of an error.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
    "cache_size": -32_000,  # 32 MB page cache
    "temp_store": "memory",
    # Checkpoints (WAL -> database file, with an fsync) are a large share of the capture write
    # path when writers run them; the worker checkpoints every few seconds instead (`checkpoint`), and
    # this high threshold is only the safety net that bounds the WAL (~40 MB).
    "wal_autocheckpoint": 10_000,
}


# The capture store inserts with RETURNING (SQLite 3.35) and binds up to 30,000 values a
# statement (3.32); Debian bookworm, the image's base, has 3.40.
MIN_SQLITE = (3, 35)


class DatabaseURLError(SettingsError):
    """CRM_DATABASE_URL names no database this appliance can use; the message says why."""


def open_database(url: str) -> SqliteDatabase | PostgresqlDatabase:
    """Open `url` (sqlite:///path or postgresql://...) and bind the models to it."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise DatabaseURLError(
                f"CRM_DATABASE_URL: this Python's SQLite is {sqlite3.sqlite_version}; it needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer (or use PostgreSQL)"
            )
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseURLError(f"CRM_DATABASE_URL: expected sqlite:///path/to/file.sqlite3, got {url!r}")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # BEGIN IMMEDIATE: a transaction that reads then writes takes the write lock up front,
        # so concurrent writers wait on busy_timeout instead of failing to upgrade their lock.
        db = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    elif scheme in {"postgres", "postgresql"}:
        db = connect(url)
    else:
        raise DatabaseURLError(
            f"CRM_DATABASE_URL: unsupported database URL scheme {scheme!r} (use sqlite or postgresql)"
        )
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def placeholder() -> str:
    """The open database's parameter mark, for the few reads written as SQL text."""
    return "?" if is_sqlite() else "%s"


def checkpoint() -> None:
    """Copy the WAL into the database without blocking readers or writers (SQLite only)."""
    if is_sqlite():
        database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
