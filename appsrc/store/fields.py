"""Column types shared by the live models and the frozen models of migrations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from peewee import DateTimeField, TextField


class UTCDateTimeField(DateTimeField):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones).

    Values are written as text with microseconds always present, so SQLite's text comparison
    orders them exactly like the datetimes they stand for (PostgreSQL casts the same literal).
    """

    if TYPE_CHECKING:  # a model instance's attribute holds the value, not the field

        def __get__(self, instance: Any, owner: Any) -> Any: ...

        def __set__(self, instance: Any, value: datetime | None) -> None: ...

    def db_value(self, value):
        if isinstance(value, datetime):
            if value.tzinfo is not None and value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class JSONField(TextField):
    """JSON stored as compact text: portable between SQLite and PostgreSQL. Written with orjson
    (faster than json on the capture path), read back with json."""

    if TYPE_CHECKING:  # a model instance's attribute holds the value, not the field

        def __get__(self, instance: Any, owner: Any) -> Any: ...

        def __set__(self, instance: Any, value: Any) -> None: ...

    def db_value(self, value):
        if value is None:
            return None
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    def python_value(self, value):
        if value is None or value == "":
            return None
        return json.loads(value)
