"""Batches through googleapiclient's own BatchHttpRequest, pointed at the simulator."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from .conftest import ALICE, BOB, plain_message


def run_batch(sim, requests_, path="batch/gmail/v1"):
    """Execute and return {request_id: (response, exception)} in callback order."""
    results = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, (resp, exc)), batch_uri=sim.url + path
    )
    for request in requests_:
        batch.add(request)
    batch.execute()
    return results


def test_batch_answers_each_part_and_errors_reach_the_callback(sim, gmail):
    good = sim.insert_message(ALICE, plain_message("in a batch"))
    messages = gmail().users().messages()
    results = run_batch(
        sim,
        [
            messages.get(userId="me", id=good, format="minimal"),
            messages.get(userId="me", id="18ffffffffffffff", format="minimal"),
            gmail().users().getProfile(userId="me"),
        ],
    )
    assert list(results) == ["1", "2", "3"]
    assert results["1"][0]["id"] == good and results["1"][1] is None
    missing = results["2"][1]
    assert isinstance(missing, HttpError) and missing.resp.status == 404
    assert missing.error_details[0]["reason"] == "notFound"
    assert results["3"][0]["emailAddress"] == ALICE
    inner = [r for r in sim.calls() if r.in_batch]
    assert [(r.method, r.status, r.units) for r in inner] == [
        ("users.messages.get", 200, 5),
        ("users.messages.get", 404, 5),
        ("users.getProfile", 200, 1),
    ]
    assert sim.calls(method="batch")[-1].params == {"parts": 3}


def test_short_batch_path_works_too(sim, gmail):
    results = run_batch(sim, [gmail().users().getProfile(userId="me")], path="batch")
    assert results["1"][0]["emailAddress"] == ALICE


def test_parts_may_impersonate_different_users(sim, gmail):
    results = run_batch(sim, [gmail(ALICE).users().getProfile(userId="me"), gmail(BOB).users().getProfile(userId="me")])
    assert [results[k][0]["emailAddress"] for k in ("1", "2")] == [ALICE, BOB]


def test_fifty_parts_pass_fifty_one_are_rejected(sim, gmail):
    profile = gmail().users().getProfile
    assert len(run_batch(sim, [profile(userId="me") for _ in range(50)])) == 50
    with pytest.raises(HttpError) as failure:
        run_batch(sim, [profile(userId="me") for _ in range(51)])
    assert failure.value.resp.status == 400
    assert "Inner request count exceeds the limit" in failure.value.reason
    assert "Limit: 50" in failure.value.reason
    assert sim.calls(method="batch")[-1].status == 400


def test_limit_is_configurable_but_never_above_100(sim, gmail):
    sim.configure(batch_limit=1000)
    profile = gmail().users().getProfile
    assert len(run_batch(sim, [profile(userId="me") for _ in range(100)])) == 100
    with pytest.raises(HttpError) as failure:
        run_batch(sim, [profile(userId="me") for _ in range(101)])
    assert failure.value.resp.status == 400
    assert "at most 100" in failure.value.reason


def test_unauthenticated_parts_get_inner_401(sim):
    boundary = "xyz"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <a + 1>\r\n\r\n"
        "GET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    answer = requests.post(
        sim.url + "batch/gmail/v1",
        data=body,
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert "Content-ID: <response-a + 1>" in answer.text
    assert "HTTP/1.1 401 Unauthorized" in answer.text
    inner_json = answer.text.split("\r\n\r\n", 2)[2].rsplit("\r\n--", 1)[0]
    assert json.loads(inner_json)["error"]["status"] == "UNAUTHENTICATED"


def test_garbage_batch_body_is_a_400(sim):
    answer = requests.post(sim.url + "batch/gmail/v1", data=b"hello", headers={"Content-Type": "text/plain"}, timeout=5)
    assert answer.status_code == 400


def test_post_bodies_survive_the_batch_format(sim, gmail):
    raws = [f"To: jane@acmecapital.example\r\nSubject: draft {n}\r\n\r\nBody {n}\r\n".encode() for n in range(3)]
    drafts = gmail().users().drafts()
    results = run_batch(
        sim,
        [drafts.create(userId="me", body={"message": {"raw": base64.urlsafe_b64encode(raw).decode()}}) for raw in raws],
    )
    assert all(exception is None for _, exception in results.values())
    assert [draft.raw for draft in sim.drafts(ALICE)] == raws
