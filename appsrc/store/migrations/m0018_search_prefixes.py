"""Placeholder: search as people type (filled in by the search work)."""

from __future__ import annotations


def up(db):
    pass
