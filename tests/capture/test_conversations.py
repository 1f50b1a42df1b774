"""Emails know their conversation (`email.thread_key`): the same across mailboxes, from each
email's own References / In-Reply-To, so a reply lacking the root still joins its parent."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from appsrc.store.capture import message_key
from appsrc.store.db import open_database
from appsrc.store.migrations import discover
from appsrc.store.models import Email


def _raw(message_id: str, sender: str, to: str, subject: str, when: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {when}\r\n"
        f"Message-ID: {message_id}\r\n{headers}\r\nHello.\r\n"
    ).encode()


def test_every_dataset_thread_is_one_conversation_across_mailboxes(crm, team):
    crm.sync_all()
    by_thread: dict[str, set[str]] = defaultdict(set)
    for message in team.messages:
        if message.message_id and message.expected == "capture" and "duplicate_message_id" not in message.flags:
            email = Email.get_or_none(Email.message_id == message.message_id)
            if email is not None:
                by_thread[message.thread_key].add(email.thread_key)
    threads = list(by_thread.values())
    assert len(threads) > 10
    assert all(len(keys) == 1 and "" not in keys for keys in threads)
    # different dataset threads never share a conversation
    keys = [next(iter(k)) for k in threads]
    assert len(set(keys)) == len(keys)


def test_a_reply_whose_references_lack_the_root_joins_its_parents_conversation(crm, team, sim):
    """Some clients keep only the parent in References: the reply still lands in the root's
    conversation, because the parent is stored (in an earlier sync, or earlier in the batch)."""
    member, colleague = team.team[0].address, team.team[1].address
    lp = f"someone@{team.investors[0].domains[0]}"
    sim.insert_message(member, _raw("<root@lp>", lp, member, "Capital call", "Mon, 2 Nov 2026 09:00:00 +0000"))
    sim.insert_message(
        member,
        _raw(
            "<r1@fund>",
            member,
            lp,
            "Re: Capital call",
            "Mon, 2 Nov 2026 10:00:00 +0000",
            "In-Reply-To: <root@lp>\r\nReferences: <root@lp>\r\n",
        ),
        label_ids=["SENT"],
    )
    crm.sync_all()
    # Later, in another mailbox: a reply naming only its parent.
    sim.insert_message(
        colleague,
        _raw(
            "<r2@lp>",
            lp,
            f"{member}, {colleague}",
            "Re: Capital call",
            "Tue, 3 Nov 2026 09:00:00 +0000",
            "In-Reply-To: <r1@fund>\r\nReferences: <r1@fund>\r\n",
        ),
    )
    crm.sync_all()
    keys = {
        e.message_id: e.thread_key
        for e in Email.select().where(Email.message_id.in_(["<root@lp>", "<r1@fund>", "<r2@lp>"]))
    }
    assert keys == dict.fromkeys(["<root@lp>", "<r1@fund>", "<r2@lp>"], message_key("<root@lp>"))


def test_0017_keys_existing_emails_as_capture_would(settings):
    """An upgraded store: emails captured before 0017 get the key capture gives new ones."""
    db = open_database(settings.database_url)
    db.execute_sql(
        "CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, "
        "applied_at VARCHAR(64) NOT NULL)"
    )
    for migration in discover():
        if migration.version < 17:
            migration.module.up(db)
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
    rows = [
        # (dedupe_key, message_id, in_reply_to, references)
        ("mid:<a@x>", "<a@x>", None, "[]"),
        ("mid:<b@x>", "<b@x>", "<a@x>", '["<a@x>"]'),
        ("mid:<c@x>", "<c@x>", "<b@x>", '["<b@x>"]'),  # the root missing: joins b's conversation
        ("mid:<d@x>", "<d@x>", "<gone@x>", "[]"),  # its parent never captured
        ("fp:abc", None, None, "[]"),
        ("mid:<e@x>", "<e@x>", None, "not json"),
    ]
    for dedupe_key, message_id, in_reply_to, references in rows:
        db.execute_sql(
            'INSERT INTO email (dedupe_key, fingerprint, message_id, subject, from_email, from_name, reply_to, "to", '
            'cc, in_reply_to, "references", sent_at, snippet, body_text, body_truncated, has_attachments, attachments, '
            "size, is_bulk, captured_at) VALUES (?, '', ?, '', '', '', '[]', '[]', '[]', ?, ?, ?, '', '', 0, 0, "
            "'[]', 0, 0, ?)",
            (dedupe_key, message_id, in_reply_to, references, now, now),
        )
    discover()[16].module.up(db)
    keys = dict(db.execute_sql("SELECT dedupe_key, thread_key FROM email").fetchall())
    assert keys == {
        "mid:<a@x>": "mid:<a@x>",
        "mid:<b@x>": "mid:<a@x>",
        "mid:<c@x>": "mid:<a@x>",
        "mid:<d@x>": "mid:<gone@x>",
        "fp:abc": "fp:abc",
        "mid:<e@x>": "mid:<e@x>",
    }
    db.close()
