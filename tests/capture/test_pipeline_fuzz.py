"""Malformed mail through the whole capture pipeline: Gmail simulator → real client → parser →
matcher → store. Whatever the bytes, every message is stored or skipped with a reason; the sync
never crashes and its counters add up. (bench/fuzz_pipeline.py runs 10,000+ cases.)"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appsrc.crm.users import add_user
from appsrc.store.models import EmailAccount, EmailAccountMessage, SkippedMessage
from tests.capture.test_parser_fuzz import mime_cases

_mailboxes = iter(range(1_000_000))


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(messages=st.lists(mime_cases(), min_size=20, max_size=60))
def test_every_malformed_message_is_stored_or_skipped_with_a_reason(runtime, sim, messages):
    address = f"fuzz{next(_mailboxes)}@fund.example"
    sim.add_mailbox(address)
    add_user(address, "Fuzz", runtime.clock.now())
    ids = {sim.insert_message(address, raw, label_ids=("INBOX",)) for raw in messages}
    account = EmailAccount.get(EmailAccount.address == address)
    report = runtime.mailbox_sync.sync(account.id)
    assert report.ok, report.error
    stored = {
        g
        for (g,) in EmailAccountMessage.select(EmailAccountMessage.gmail_id)
        .where(EmailAccountMessage.account == account.id)
        .tuples()
    }
    skipped = dict(
        SkippedMessage.select(SkippedMessage.gmail_id, SkippedMessage.reason)
        .where(SkippedMessage.account == account.id)
        .tuples()
    )
    assert stored | set(skipped) == ids and not stored & set(skipped)
    assert set(skipped.values()) <= {"unparseable", "internal"}
    account = EmailAccount.get_by_id(account.id)
    assert (account.stored_count, account.skipped_count, account.failed_count) == (len(stored), len(skipped), 0)
