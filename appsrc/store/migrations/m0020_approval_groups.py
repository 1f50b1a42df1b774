"""Placeholder: approvals in groups (filled in by the approvals work)."""

from __future__ import annotations


def up(db):
    pass
