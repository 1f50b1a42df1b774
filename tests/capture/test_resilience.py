"""One odd email must never stall a mailbox: a message that trips a bug anywhere in
parse → match → store preparation is recorded as skipped with its reason, the rest is stored, the
cursor moves on, and a later full listing gives it another chance."""

from __future__ import annotations

import dataclasses

from appsrc.capture.sync import MailboxSync
from appsrc.crm.users import add_user
from appsrc.matching.matcher import Directory
from appsrc.store.models import EmailAccount, EmailAccountMessage, SkippedMessage
from tests.capture.conftest import make_runtime

ALICE = "alice@fund.example"


def message(sender: str, subject: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\nbody\r\n"
    ).encode()


class TrapDirectory(Directory):
    """The real directory, except that looking up one address raises (standing for a bug)."""

    def classify(self, address):
        if address == "trap@lp.example":
            raise RuntimeError("a bug in matching")
        return super().classify(address)


def test_a_message_that_trips_a_bug_is_skipped_with_a_reason_and_the_cursor_moves(runtime, sim):
    sim.add_mailbox(ALICE)
    add_user(ALICE, "Alice", runtime.clock.now())
    for i, sender in enumerate(["a@lp.example", "trap@lp.example", "b@lp.example"]):
        sim.insert_message(ALICE, message(sender, f"m{i}"))

    def directory():
        real = runtime.directory()
        return TrapDirectory(**{f.name: getattr(real, f.name) for f in dataclasses.fields(real) if f.name != "_memo"})

    sync = MailboxSync(runtime.remotes, runtime.clock, directory)
    report = sync.sync(EmailAccount.get(EmailAccount.address == ALICE).id)
    assert report.ok and (report.stored, report.skipped) == (2, 1)
    [(reason, detail)] = SkippedMessage.select(SkippedMessage.reason, SkippedMessage.detail).tuples()
    assert reason == "error" and "RuntimeError" in detail
    assert EmailAccount.get(EmailAccount.address == ALICE).history_id  # the cursor was taken

    # After the fix (here: the real directory), a full listing reconsiders it and stores it.
    report = runtime.mailbox_sync.sync(EmailAccount.get(EmailAccount.address == ALICE).id, full=True)
    assert report.ok and EmailAccountMessage.select().count() == 3 and SkippedMessage.select().count() == 0


def test_a_stopped_backfill_resumes_at_the_saved_page_token(sim, tmp_path):
    """1,200 messages (three list pages): stopped once page 1 is stored, the next sync lists from
    page 2's token — it does not start over — and every message is stored exactly once."""
    runtime = make_runtime(sim, tmp_path, CRM_SYNC_QUOTA_FRACTION="20")  # the simulator's quota is off
    sim.add_mailbox(ALICE)
    add_user(ALICE, "Alice", runtime.clock.now())
    for i in range(1200):
        sim.insert_message(ALICE, message(f"lp{i % 7}@lp.example", f"m{i}"))
    account_id = EmailAccount.get(EmailAccount.address == ALICE).id
    sync = runtime.mailbox_sync

    def listings():  # the mailbox's pages, not the size searches that class its messages
        return [c for c in sim.calls("users.messages.list") if "larger:" not in c.params.get("q", "")]

    def stop_before_page_two():
        return len(listings()) == 1 and EmailAccountMessage.select().count() == 500

    sync.should_stop = stop_before_page_two
    first = sync.sync(account_id)
    assert first.error == "interrupted by shutdown"
    saved = EmailAccount.get_by_id(account_id)
    assert (saved.backfill_state, saved.backfill_listed) == ("running", 500) and saved.backfill_page_token
    assert EmailAccountMessage.select().count() == 500

    sync.should_stop = lambda: False
    assert sync.sync(account_id).ok
    lists = [c.params.get("pageToken") for c in listings()]
    assert lists[0] is None and lists[1] == saved.backfill_page_token and len(lists) == 3
    assert (
        EmailAccountMessage.select().count() == 1200
        and len({g for (g,) in EmailAccountMessage.select(EmailAccountMessage.gmail_id).tuples()}) == 1200
    )
    assert EmailAccount.get_by_id(account_id).backfill_state == "done"
    runtime.close()
