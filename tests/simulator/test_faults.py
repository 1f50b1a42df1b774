"""Fault injection and latency, observed through the real client stack."""

from __future__ import annotations

import http.client
import time

import google_auth_httplib2
import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from .conftest import ALICE, credentials_for, plain_message


@pytest.fixture
def message_ids(sim):
    return [sim.insert_message(ALICE, plain_message(f"m{n}")) for n in range(6)]


def batch_statuses(sim, service, ids) -> list[int]:
    statuses = {}

    def callback(request_id, response, exception):
        statuses[request_id] = exception.resp.status if exception else 200

    batch = BatchHttpRequest(callback=callback, batch_uri=sim.url + "batch/gmail/v1")
    for gmail_id in ids:
        batch.add(service.users().messages().get(userId="me", id=gmail_id, format="minimal"))
    batch.execute()
    return [statuses[str(n)] for n in range(1, len(ids) + 1)]


def test_everything_is_off_by_default(sim, gmail, message_ids):
    assert batch_statuses(sim, gmail(), message_ids) == [200] * 6


def test_inner_429_fails_parts_without_charging(sim, gmail, message_ids):
    sim.faults.update(inner_429=1.0)
    assert batch_statuses(sim, gmail(), message_ids) == [429] * 6
    record = sim.calls(method="users.messages.get")[-1]
    assert record.in_batch and record.units == 0
    assert sim.calls(method="batch")[-1].status == 200


def test_inner_5xx_uses_googles_error_shape(sim, gmail, message_ids):
    sim.faults.update(inner_5xx=1.0)
    with pytest.raises(HttpError) as failure:
        gmail().users().messages().get(userId="me", id=message_ids[0]).execute()
    assert failure.value.resp.status in (500, 503)
    assert failure.value.error_details[0]["reason"] == "backendError"


def test_random_faults_are_reproducible_with_a_seed(sim, gmail, message_ids):
    service = gmail()
    sim.faults.update(seed=42, inner_5xx=0.5)
    first = batch_statuses(sim, service, message_ids * 3)
    sim.faults.update(seed=42)
    second = batch_statuses(sim, service, message_ids * 3)
    assert first == second
    assert 200 in first and any(status >= 500 for status in first)


def test_fail_next_forces_exact_failures(sim, gmail, message_ids):
    sim.faults.fail_next("users.messages.get", count=2, status=403, reason="userRateLimitExceeded")
    statuses = batch_statuses(sim, gmail(), message_ids[:3])
    assert statuses == [403, 403, 200]
    profile = gmail().users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == ALICE


def test_fail_next_error_details(sim, gmail):
    sim.faults.fail_next("users.getProfile", status=503)
    with pytest.raises(HttpError) as failure:
        gmail().users().getProfile(userId="me").execute()
    assert failure.value.resp.status == 503
    assert failure.value.reason == "The service is currently unavailable."


def test_message_deleted_between_list_and_get(sim, gmail, message_ids):
    service = gmail()
    start = str(sim.history_id(ALICE))
    listed = [m["id"] for m in service.users().messages().list(userId="me").execute()["messages"]]
    sim.faults.update(deleted_before_get=1.0)
    with pytest.raises(HttpError) as failure:
        service.users().messages().get(userId="me", id=listed[0]).execute()
    assert failure.value.resp.status == 404
    assert listed[0] not in sim.message_ids(ALICE)
    history = service.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    assert history[-1]["messagesDeleted"][0]["message"]["id"] == listed[0]


def _service_with_timeout(sim, key_file, timeout):
    http = google_auth_httplib2.AuthorizedHttp(credentials_for(key_file, ALICE), http=httplib2.Http(timeout=timeout))
    return build("gmail", "v1", http=http, static_discovery=True, client_options={"api_endpoint": sim.url})


def test_timeout_sleep_outlasts_the_client(sim, key_file):
    service = _service_with_timeout(sim, key_file, timeout=0.3)
    service.users().getProfile(userId="me").execute()
    sim.faults.update(timeout=1.0, timeout_sleep_s=2.0)
    # The client's socket timeout (0.3 s) fires while the simulator still sleeps (2 s): had the
    # answer come first, there would be no TimeoutError. No stopwatch needed.
    with pytest.raises(TimeoutError):
        service.users().getProfile(userId="me").execute()
    assert [c.params["path"] for c in sim.calls(method="connection.delayed")] == ["/gmail/v1/users/me/profile"]


def test_timeout_close_drops_the_connection(sim, key_file):
    service = _service_with_timeout(sim, key_file, timeout=5)
    service.users().getProfile(userId="me").execute()
    sim.faults.update(timeout=1.0, timeout_mode="close")
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        service.users().getProfile(userId="me").execute()
    # httplib2 silently retries a dropped connection once before giving up.
    assert len(sim.calls(method="connection.dropped")) == 2


def test_time_out_next_forces_exact_timeouts_then_stops(sim, key_file):
    service = _service_with_timeout(sim, key_file, timeout=5)
    sim.faults.update(timeout_sleep_s=0.01)
    sim.faults.time_out_next(1)  # probability 0, yet this request is delayed
    sim.faults.time_out_next(2, mode="close")
    service.users().getProfile(userId="me").execute()  # delayed, then answered
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        service.users().getProfile(userId="me").execute()  # dropped, and httplib2's own retry too
    service.users().getProfile(userId="me").execute()
    assert sim.call_count("connection.delayed") == 1
    assert sim.call_count("connection.dropped") == 2
    with pytest.raises(ValueError, match="mode must be one of"):
        sim.faults.time_out_next(1, mode="hang")


def test_latency_applies_once_per_http_request(sim, gmail, message_ids):
    """Real time is the point here (latency is a real delay). Lower bounds cannot flake; the one
    upper bound is generous: six parts charged once each would take 1.2 s, once per request 0.2."""
    service = gmail()
    service.users().getProfile(userId="me").execute()
    sim.configure(latency_s=0.2)
    started = time.monotonic()
    service.users().getProfile(userId="me").execute()
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    batch_statuses(sim, service, message_ids)
    elapsed = time.monotonic() - started
    assert len(message_ids) == 6 and 0.2 <= elapsed < 0.9


def test_reset_turns_everything_off(sim, gmail, message_ids):
    sim.faults.update(inner_429=1.0)
    sim.faults.fail_next("users.getProfile", count=3)
    sim.faults.reset()
    assert batch_statuses(sim, gmail(), message_ids[:2]) == [200, 200]
    assert gmail().users().getProfile(userId="me").execute()["emailAddress"] == ALICE


def test_invalid_settings_are_refused(sim):
    with pytest.raises(ValueError):
        sim.faults.update(inner_429=1.5)
    with pytest.raises(TypeError):
        sim.faults.update(no_such_fault=0.1)
