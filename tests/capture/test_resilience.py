"""One odd email must never stall a mailbox: a message that trips a bug anywhere in
parse → match → store preparation is recorded as skipped with its reason, the rest is stored, the
cursor moves on, and a later full listing gives it another chance."""

from __future__ import annotations

import dataclasses

from appsrc.capture.matcher import Directory
from appsrc.capture.sync import MailboxSync
from appsrc.crm.users import add_user
from appsrc.store.models import EmailAccount, EmailAccountMessage, SkippedMessage

ALICE = "alice@fund.example"


def message(sender: str, subject: str) -> bytes:
    return (f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\nbody\r\n").encode()


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
