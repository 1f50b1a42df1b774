"""0017: emails know their conversation.

`email.thread_key` names the conversation an email belongs to, the same in every mailbox
(Gmail's thread ids differ per mailbox): the key of the thread's root message, taken from the
email's own References (first entry) or In-Reply-To, else the email's own key. A reply whose
References lack the root takes its parent's conversation when the parent is stored.

Existing emails are keyed here the way capture keys new ones (`store.capture`), in id chunks,
oldest first, so a reply finds its parent's key.
"""

from __future__ import annotations

import hashlib
import json

from peewee import PostgresqlDatabase

MAX_KEY = 200
CHUNK = 5_000


def _message_key(message_id: str) -> str:
    if len(message_id) + 4 <= MAX_KEY:
        return "mid:" + message_id
    return "mid#" + hashlib.sha256(message_id.encode()).hexdigest()


def _root(dedupe_key: str, in_reply_to: str | None, references: str | None) -> str:
    try:
        refs = json.loads(references) if references else []
    except ValueError:
        refs = []
    root = refs[0] if isinstance(refs, list) and refs and isinstance(refs[0], str) else in_reply_to
    return _message_key(root) if root else dedupe_key


def up(db):
    postgres = isinstance(db, PostgresqlDatabase)
    param = "%s" if postgres else "?"
    db.execute_sql("ALTER TABLE email ADD COLUMN thread_key VARCHAR(255) NOT NULL DEFAULT ''")
    last = 0
    while True:
        rows = db.execute_sql(
            f'SELECT id, dedupe_key, in_reply_to, "references" FROM email WHERE id > {param} ORDER BY id LIMIT {CHUNK}',
            (last,),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        roots = {row[1]: _root(row[1], row[2], row[3]) for row in rows}
        wanted = sorted({root for key, root in roots.items() if root != key})
        parents: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join([param] * len(chunk))
            parents.update(
                db.execute_sql(
                    f"SELECT dedupe_key, thread_key FROM email WHERE thread_key <> '' AND dedupe_key IN ({marks})",
                    chunk,
                ).fetchall()
            )
        keys: dict[str, str] = {}
        for _id, key, _reply, _refs in rows:
            keys[key] = keys.get(roots[key]) or parents.get(roots[key]) or roots[key]
        cursor = db.cursor()
        cursor.executemany(
            f"UPDATE email SET thread_key = {param} WHERE id = {param}", [(keys[row[1]], row[0]) for row in rows]
        )
    db.execute_sql("CREATE INDEX email_thread_key ON email (thread_key)")
