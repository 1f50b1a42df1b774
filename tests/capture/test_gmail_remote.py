"""The Gmail remote against the simulator: batch limits, per-part retries, adaptive batch size,
"Retry after", and quota pacing — through the real google-api-python-client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appsrc.clock import FrozenClock, SystemClock
from appsrc.gmail.client import MAX_BATCH, MIN_BATCH, GmailRemotes, RateLimited, RetryPolicy
from appsrc.gmail.quota import TokenBucket

ALICE = "alice@fund.example"
FAST_RETRY = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05, max_block_s=5.0)


@pytest.fixture
def remote(runtime, sim):
    sim.add_mailbox(ALICE)
    runtime.remotes.retry = FAST_RETRY
    return runtime.remotes.remote(ALICE)


def insert(sim, n: int) -> list[str]:
    return [
        sim.insert_message(
            ALICE, f"From: lp{i}@acme.example\r\nTo: {ALICE}\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode()
        )
        for i in range(n)
    ]


def fetch_all(remote, ids):
    messages, gone, failed = {}, [], {}
    for batch in remote.fetch(ids):
        messages.update(batch.messages)
        gone += batch.gone
        failed.update(batch.failed)
    return messages, gone, failed


def test_batches_never_exceed_fifty_parts(remote, sim):
    ids = insert(sim, 130)
    messages, gone, failed = fetch_all(remote, ids)
    assert set(messages) == set(ids) and not gone and not failed
    parts = [c.params["parts"] for c in sim.calls(method="batch")]
    assert max(parts) <= MAX_BATCH and sum(parts) == 130


def test_only_failed_parts_are_retried_and_the_batch_shrinks_then_grows(remote, sim):
    ids = insert(sim, 120)
    sim.faults.fail_next("users.messages.get", 3, 429)
    sim.clear_calls()
    batches = []
    for batch in remote.fetch(ids):
        batches.append((len(batch.messages), remote.batch_size))
    gets = sim.calls(method="users.messages.get")
    assert len(gets) == 123  # 120 + the 3 failed parts, nothing else re-fetched
    assert batches[0] == (47, MAX_BATCH // 2)  # shrank after the throttled batch
    assert batches[-1][1] > MAX_BATCH // 2  # and grew back after clean ones
    assert remote.batch_size >= MIN_BATCH


def test_deleted_between_list_and_get_is_reported_gone(remote, sim):
    ids = insert(sim, 5)
    sim.delete(ALICE, ids[2])
    messages, gone, failed = fetch_all(remote, ids)
    assert gone == [ids[2]] and len(messages) == 4 and not failed


def test_persistent_5xx_becomes_failed_after_the_retry_budget(remote, sim):
    ids = insert(sim, 3)
    sim.faults.fail_next("users.messages.get", 50, 503)
    messages, gone, failed = fetch_all(remote, ids)
    assert not messages and set(failed) == set(ids)


class SleepLog(SystemClock):
    """The system clock, keeping a list of every wait the client asked it for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        super().sleep(seconds)


def test_retry_after_is_honoured_and_a_long_one_ends_the_cycle(sim, runtime):
    sim.add_mailbox(ALICE)
    clock = SleepLog()
    remote = GmailRemotes(runtime.credentials, sim.url, clock, retry=FAST_RETRY).remote(ALICE)
    ids = insert(sim, 10)
    sim.quota.update(enabled=True, user_burst=20, user_units_per_s=50)  # 10 gets need 50 units
    messages, _, failed = fetch_all(remote, ids)
    assert len(messages) == 10 and not failed
    throttled = [c for c in sim.calls(method="users.messages.get") if c.status == 429]
    assert throttled, "the simulator should have throttled the first batch"
    # Each "Retry after" named the moment enough units would be back; the client waited for it,
    # longer than its own backoff ever waits (at most 0.05 s), and 30 units short at 50 a second
    # add up to 0.6 s of waiting in all: it was paced by Gmail, not hammering it.
    assert max(clock.waits) > FAST_RETRY.max_delay_s
    assert sum(clock.waits) >= 0.5
    sim.quota.update(user_units_per_s=0.05, user_burst=1)  # Gmail wants us gone for minutes
    sim.quota.reset()
    with pytest.raises(RateLimited) as caught:
        fetch_all(remote, ids)
    assert caught.value.retry_after_s > FAST_RETRY.max_block_s


def test_rate_limited_mailbox_is_paused_until_gmail_allows(runtime, sim):
    from appsrc.crm.users import add_user
    from appsrc.store.models import EmailAccount

    sim.add_mailbox(ALICE)
    insert(sim, 5)
    add_user(ALICE, "Alice", runtime.clock.now())
    runtime.remotes.retry = FAST_RETRY
    sim.quota.update(enabled=True, user_units_per_s=0.05, user_burst=12)
    report = runtime.mailbox_sync.sync(EmailAccount.get(EmailAccount.address == ALICE).id)
    account = EmailAccount.get(EmailAccount.address == ALICE)
    assert report.error_kind == "transient" and "retry after" in report.error.lower()
    assert account.paused_until > runtime.clock.now()
    assert account.backfill_state == "running"  # resumes later, nothing lost


def test_token_bucket_paces_to_its_rate():
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    bucket = TokenBucket(250, 250, clock)
    assert bucket.acquire(250) == 0  # the burst
    waited = sum(bucket.acquire(250) for _ in range(4))
    assert waited == pytest.approx(4.0)  # then exactly 250 units per second
    bucket.drain()
    assert bucket.acquire(25) == pytest.approx(0.1)
