"""0020: the approvals queue in groups (by conversation, by investor) and known vs new people.

After a backfill the queue holds thousands of proposals; admins decide them a conversation or an
investor at a time, and look at proposals from known contacts apart from new people. On SQLite
(like 0005, raw DDL kept by triggers, invisible to the models) 0005's tables are rebuilt:
- `pending_proposal` also carries the email's conversation (`thread_key`) and whether the
  sender is a new person (`new_person`: the proposal has no contact yet), so the flat queue
  filtered to known or new people is still an index walk newest first;
- `pending_group`: one row per pending group (`grouping` 'thread' or 'investor', `group_key`
  the thread key or the investor id as text) with its counts of known and new people and the
  time key of its newest proposal, overall and per kind; a page of groups newest activity
  first is an index walk that stops after the page. When a group's newest proposal leaves, the
  newest of the rest is looked up by index.
Every change to `pending_proposal` is a delete then an insert, so the group triggers see all.
On PostgreSQL nothing is kept: the grouped reads are plain GROUP BY queries.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

KEY_SCALE = 2**31  # as in 0005


def key_sql(sent_at: str, proposal_id: str) -> str:
    """0005's time key of a proposal (frozen copy)."""
    return f"(MIN(MAX(CAST(strftime('%s', {sent_at}) AS INTEGER), 0), 4294967295) * {KEY_SCALE} + {proposal_id})"


GROUPINGS = (
    ("thread", "{row}.thread_key", "thread_key = {row}.thread_key"),
    ("investor", "CAST({row}.investor_id AS TEXT)", "investor_id = {row}.investor_id"),
)


def _group_add(grouping: str, key: str) -> str:
    key = key.format(row="new")
    return (
        f"INSERT INTO pending_group (grouping, group_key, known, new, latest_known, latest_new, latest) "
        f"VALUES ('{grouping}', {key}, 1 - new.new_person, new.new_person, "
        f"CASE WHEN new.new_person = 0 THEN new.key END, CASE WHEN new.new_person = 1 THEN new.key END, new.key) "
        f"ON CONFLICT (grouping, group_key) DO UPDATE SET known = known + excluded.known, "
        f"new = new + excluded.new, "
        f"latest_known = CASE WHEN excluded.latest_known IS NULL THEN latest_known "
        f"WHEN latest_known IS NULL THEN excluded.latest_known ELSE max(latest_known, excluded.latest_known) END, "
        f"latest_new = CASE WHEN excluded.latest_new IS NULL THEN latest_new "
        f"WHEN latest_new IS NULL THEN excluded.latest_new ELSE max(latest_new, excluded.latest_new) END, "
        f"latest = max(latest, excluded.latest); "
    )


def _group_remove(grouping: str, key: str, member: str) -> str:
    key, member = key.format(row="old"), member.format(row="old")
    where = f"WHERE grouping = '{grouping}' AND group_key = {key}"
    newest = "(SELECT max(key) FROM pending_proposal WHERE {member} AND new_person = {flag})"
    return (
        f"UPDATE pending_group SET known = known - (1 - old.new_person), new = new - old.new_person, "
        f"latest_known = CASE WHEN old.new_person = 0 AND latest_known = old.key "
        f"THEN {newest.format(member=member, flag=0)} ELSE latest_known END, "
        f"latest_new = CASE WHEN old.new_person = 1 AND latest_new = old.key "
        f"THEN {newest.format(member=member, flag=1)} ELSE latest_new END {where}; "
        f"UPDATE pending_group SET latest = max(coalesce(latest_known, 0), coalesce(latest_new, 0)) "
        f"{where} AND latest = old.key; "
        f"DELETE FROM pending_group {where} AND known + new <= 0; "
    )


def _refresh_email(row: str) -> str:
    """Re-file the pending proposals of one email (its date or conversation changed)."""
    return (
        f"DELETE FROM pending_proposal WHERE proposal_id IN "
        f"(SELECT id FROM activity_proposal WHERE email_id = {row}.id); "
        f"INSERT INTO pending_proposal (proposal_id, investor_id, key, thread_key, new_person) "
        f"SELECT p.id, p.investor_id, {key_sql(f'{row}.sent_at', 'p.id')}, {row}.thread_key, p.contact_id IS NULL "
        f"FROM activity_proposal p WHERE p.email_id = {row}.id AND p.status = 'pending'; "
    )


DROP = (
    "DROP TRIGGER IF EXISTS pending_proposal_insert",
    "DROP TRIGGER IF EXISTS pending_proposal_update",
    "DROP TRIGGER IF EXISTS pending_proposal_delete",
    "DROP TRIGGER IF EXISTS pending_proposal_email_time",
    "DROP TABLE IF EXISTS pending_proposal",  # its own triggers and indexes go with it
    "DROP TABLE IF EXISTS pending_proposal_count",
)

SQLITE = (
    "CREATE TABLE pending_proposal (proposal_id INTEGER PRIMARY KEY, investor_id INTEGER NOT NULL, "
    "key INTEGER NOT NULL, thread_key TEXT NOT NULL, new_person INTEGER NOT NULL)",
    "CREATE INDEX pending_proposal_order ON pending_proposal (key)",
    "CREATE INDEX pending_proposal_investor_order ON pending_proposal (investor_id, key)",
    "CREATE INDEX pending_proposal_people_order ON pending_proposal (new_person, key)",
    "CREATE INDEX pending_proposal_investor_people ON pending_proposal (investor_id, new_person, key)",
    "CREATE INDEX pending_proposal_thread_people ON pending_proposal (thread_key, new_person, key)",
    "CREATE TABLE pending_proposal_count (investor_id INTEGER PRIMARY KEY, pending INTEGER NOT NULL)",
    "CREATE TABLE pending_group (grouping TEXT NOT NULL, group_key TEXT NOT NULL, known INTEGER NOT NULL, "
    "new INTEGER NOT NULL, latest_known INTEGER, latest_new INTEGER, latest INTEGER NOT NULL, "
    "PRIMARY KEY (grouping, group_key))",
    "CREATE INDEX pending_group_order ON pending_group (grouping, latest)",
    "CREATE INDEX pending_group_known_order ON pending_group (grouping, latest_known)",
    "CREATE INDEX pending_group_new_order ON pending_group (grouping, latest_new)",
    "CREATE TRIGGER pending_proposal_add AFTER INSERT ON pending_proposal BEGIN "
    "INSERT INTO pending_proposal_count (investor_id, pending) VALUES (new.investor_id, 1) "
    "ON CONFLICT (investor_id) DO UPDATE SET pending = pending + 1; "
    + "".join(_group_add(grouping, key) for grouping, key, _member in GROUPINGS)
    + "END",
    "CREATE TRIGGER pending_proposal_remove AFTER DELETE ON pending_proposal BEGIN "
    "UPDATE pending_proposal_count SET pending = pending - 1 WHERE investor_id = old.investor_id; "
    + "".join(_group_remove(grouping, key, member) for grouping, key, member in GROUPINGS)
    + "END",
    # Plain DELETE then INSERT, never INSERT OR REPLACE or UPDATE: the counts' triggers see both.
    "CREATE TRIGGER pending_proposal_insert AFTER INSERT ON activity_proposal WHEN new.status = 'pending' BEGIN "
    "DELETE FROM pending_proposal WHERE proposal_id = new.id; "
    "INSERT INTO pending_proposal (proposal_id, investor_id, key, thread_key, new_person) "
    f"SELECT new.id, new.investor_id, {key_sql('e.sent_at', 'new.id')}, e.thread_key, new.contact_id IS NULL "
    "FROM email e WHERE e.id = new.email_id; END",
    "CREATE TRIGGER pending_proposal_update AFTER UPDATE OF status, investor_id, email_id, contact_id "
    "ON activity_proposal BEGIN DELETE FROM pending_proposal WHERE proposal_id = old.id; "
    "INSERT INTO pending_proposal (proposal_id, investor_id, key, thread_key, new_person) "
    f"SELECT new.id, new.investor_id, {key_sql('e.sent_at', 'new.id')}, e.thread_key, new.contact_id IS NULL "
    "FROM email e WHERE e.id = new.email_id AND new.status = 'pending'; END",
    "CREATE TRIGGER pending_proposal_delete AFTER DELETE ON activity_proposal BEGIN "
    "DELETE FROM pending_proposal WHERE proposal_id = old.id; END",
    "CREATE TRIGGER pending_proposal_email_refile AFTER UPDATE OF sent_at, thread_key ON email "
    "WHEN old.sent_at IS NOT new.sent_at OR old.thread_key IS NOT new.thread_key BEGIN "
    + _refresh_email("new")
    + "END",
    "INSERT INTO pending_proposal (proposal_id, investor_id, key, thread_key, new_person) "
    f"SELECT p.id, p.investor_id, {key_sql('e.sent_at', 'p.id')}, e.thread_key, p.contact_id IS NULL "
    "FROM activity_proposal p JOIN email e ON e.id = p.email_id WHERE p.status = 'pending'",
)


def up(db):
    if isinstance(db, PostgresqlDatabase):
        return
    if not db.table_exists("pending_proposal"):
        return  # 0005 is replayed after later migrations (its own upgrade test): nothing to rebuild
    for statement in DROP + SQLITE:
        db.execute_sql(statement)
