"""0012: the rule that admins have an address at the fund's own domains.

Admins receive the daily digest, so an admin outside the fund's domains is a way for its mail to
leave it. New installs (no users yet) start with the rule on; an existing install keeps its
current behaviour (off) until an admin turns it on (`python -m appsrc users admin-domains on`).
"""

from __future__ import annotations

from datetime import UTC, datetime


def up(db):
    users = db.execute_sql('SELECT count(*) FROM "user"').fetchone()[0]
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    db.execute_sql(
        f"INSERT INTO app_setting (key, value, updated_at) VALUES ({db.param}, {db.param}, {db.param})",
        ("admins_in_own_domains", '"off"' if users else '"on"', now),
    )
