"""Gmail usage limits: per-user and per-project units, Retry-after times, concurrency."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from appsrc.simulator import GmailSimulator
from appsrc.simulator.quota import retry_after_text

from .conftest import ALICE, BOB, plain_message

RETRY_AFTER = re.compile(r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")


@pytest.fixture
def message_id(sim):
    return sim.insert_message(ALICE, plain_message("quota"))


def retry_moment(text: str) -> float:
    stamp = RETRY_AFTER.search(text).group(1)
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def test_units_are_charged_per_method(sim, gmail, message_id):
    service = gmail()
    service.users().getProfile(userId="me").execute()
    service.users().labels().list(userId="me").execute()
    service.users().messages().list(userId="me").execute()
    service.users().messages().get(userId="me", id=message_id).execute()
    service.users().history().list(userId="me", startHistoryId=str(sim.history_id(ALICE))).execute()
    assert sim.units_used(ALICE) == 1 + 1 + 5 + 5 + 2
    assert sim.units_used(BOB) == 0
    assert sim.units_used() == 14
    assert sim.call_count(method="users.messages.get", status=200) == 1
    assert sim.call_count(status=200) == 6  # five Gmail calls and one token request
    sim.clear_calls()
    assert sim.units_used() == 0 and sim.calls() == [] and sim.call_count() == 0


def test_user_rate_limit_says_when_to_retry(sim, gmail, clock, message_id):
    sim.quota.update(user_burst=12, user_units_per_s=1.0)
    get = gmail().users().messages().get
    get(userId="me", id=message_id).execute()
    get(userId="me", id=message_id).execute()
    with pytest.raises(HttpError) as failure:
        get(userId="me", id=message_id).execute()
    error = failure.value
    assert error.resp.status == 429
    assert error.error_details[0]["reason"] == "userRateLimitExceeded"
    assert error.reason.startswith("User-rate limit exceeded.  Retry after ")
    assert error.reason.endswith(retry_after_text(clock.now + 3.0))
    assert retry_moment(error.reason) == pytest.approx(clock.now + 3.0, abs=0.002)
    clock.advance(3.0)
    assert get(userId="me", id=message_id).execute()["id"] == message_id
    assert sim.units_used(ALICE) == 15


def test_users_have_separate_buckets_but_share_the_project(sim, gmail):
    sim.add_mailbox("carol@fund.example")
    sim.quota.update(user_burst=5, user_units_per_s=0.001, project_burst=12, project_units_per_s=0.001)
    gmail(ALICE).users().messages().list(userId="me").execute()
    with pytest.raises(HttpError) as user_limited:
        gmail(ALICE).users().messages().list(userId="me").execute()
    assert user_limited.value.error_details[0]["reason"] == "userRateLimitExceeded"
    gmail(BOB).users().messages().list(userId="me").execute()
    with pytest.raises(HttpError) as project_limited:
        gmail("carol@fund.example").users().messages().list(userId="me").execute()
    assert project_limited.value.resp.status == 429
    assert project_limited.value.error_details[0]["reason"] == "rateLimitExceeded"
    assert project_limited.value.error_details[0]["domain"] == "usageLimits"


def test_quota_inside_a_batch_is_an_inner_429(sim, gmail, message_id):
    sim.quota.update(user_burst=12, user_units_per_s=0.001)
    get = gmail().users().messages().get
    results = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, exc), batch_uri=sim.url + "batch/gmail/v1"
    )
    for _ in range(4):
        batch.add(get(userId="me", id=message_id, format="minimal"))
    batch.execute()
    assert [results[k] is None for k in "1234"] == [True, True, False, False]
    assert results["3"].resp.status == 429 and "Retry after" in results["3"].reason
    assert sim.calls(method="batch")[-1].status == 200


def test_disabled_quota_never_limits_but_still_counts_units(sim, gmail, message_id):
    sim.quota.update(enabled=False, user_burst=1)
    for _ in range(5):
        gmail().users().messages().get(userId="me", id=message_id).execute()
    assert sim.units_used(ALICE) == 25


def test_concurrency_limit_counts_every_part_of_a_batch(sim, gmail, message_id):
    sim.quota.update(max_concurrent_per_user=3)
    results = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, exc), batch_uri=sim.url + "batch/gmail/v1"
    )
    for _ in range(5):
        batch.add(gmail().users().messages().get(userId="me", id=message_id, format="minimal"))
    batch.execute()
    failed = [k for k in "12345" if results[k] is not None]
    assert failed == ["4", "5"]
    assert results["4"].resp.status == 429
    assert results["4"].reason == "Too many concurrent requests for user."
    assert sim.units_used(ALICE) == 15
    assert gmail().users().getProfile(userId="me").execute()["emailAddress"] == ALICE


def test_reset_refills_buckets(sim, gmail, message_id):
    sim.quota.update(user_burst=5, user_units_per_s=0.001)
    service = gmail()
    service.users().messages().list(userId="me").execute()
    with pytest.raises(HttpError):
        service.users().messages().list(userId="me").execute()
    sim.quota.reset()
    service.users().messages().list(userId="me").execute()


def test_call_log_ring_is_bounded_but_counts_are_exact(clock):
    with GmailSimulator(clock=clock, call_log_size=3) as small:
        for n in range(5):
            requests.get(small.url + f"nothing/{n}", timeout=5)
        assert [r.params["path"] for r in small.calls()] == ["/nothing/2", "/nothing/3", "/nothing/4"]
        assert small.call_count(method="unknown", status=404) == 5
