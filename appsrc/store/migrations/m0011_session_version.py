"""0011: a per-user session version.

A signed session cookie stays valid wherever it was copied until it expires. Each user now has a
version that every session names; signing out, a password reset or change, and deactivation
raise it, so every cookie issued before (on any device, or copied elsewhere) stops working.
"""

from __future__ import annotations


def up(db):
    db.execute_sql('ALTER TABLE "user" ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0')
