"""Placeholder: awaiting reply (filled in by the awaiting-reply work)."""

from __future__ import annotations


def up(db):
    pass
