"""users.history.list: record types, paging (including empty pages) and the 404 horizon."""

from __future__ import annotations

import pytest
from googleapiclient.errors import HttpError

from .conftest import ALICE, plain_message


def all_history(service, start: str, **params) -> tuple[list[dict], int]:
    """Follow nextPageToken to the end; returns the records and how many pages it took."""
    records, token, pages = [], None, 0
    while True:
        page = service.users().history().list(userId="me", startHistoryId=start, pageToken=token, **params).execute()
        pages += 1
        records += page.get("history", [])
        token = page.get("nextPageToken")
        if not token:
            return records, pages


def test_history_records_every_kind_of_change(sim, gmail):
    service = gmail()
    start = service.users().getProfile(userId="me").execute()["historyId"]
    first = sim.insert_message(ALICE, plain_message("one"))
    second = sim.insert_message(ALICE, plain_message("two"))
    sim.modify_labels(ALICE, first, add=("STARRED",), remove=("INBOX",))
    sim.trash(ALICE, second)
    sim.delete(ALICE, first)
    records, _ = all_history(service, start)
    kinds = [next(k for k in r if k not in ("id", "messages")) for r in records]
    assert kinds == ["messagesAdded", "messagesAdded", "labelsAdded", "labelsRemoved", "labelsAdded", "messagesDeleted"]
    assert records[0]["messagesAdded"][0]["message"] == {"id": first, "threadId": first, "labelIds": ["INBOX"]}
    assert records[2]["labelsAdded"][0]["labelIds"] == ["STARRED"]
    assert records[3]["labelsRemoved"][0]["labelIds"] == ["INBOX"]
    assert records[4]["labelsAdded"][0]["labelIds"] == ["TRASH"]
    assert records[5]["messagesDeleted"][0]["message"]["id"] == first
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids) and ids[-1] == sim.history_id(ALICE)


def test_history_pages_and_type_filter(sim, gmail):
    service = gmail()
    start = str(sim.history_id(ALICE))
    ids = [sim.insert_message(ALICE, plain_message(f"m{n}")) for n in range(7)]
    sim.modify_labels(ALICE, ids[0], add=("UNREAD",))
    records, pages = all_history(service, start, maxResults=3)
    assert len(records) == 8 and pages == 3
    added, _ = all_history(service, start, historyTypes=["messageAdded"])
    assert [r["messagesAdded"][0]["message"]["id"] for r in added] == ids


def test_filtered_pages_can_be_empty_but_carry_a_token(sim, gmail):
    service = gmail()
    start = str(sim.history_id(ALICE))
    ids = [sim.insert_message(ALICE, plain_message(f"m{n}")) for n in range(4)]
    sim.modify_labels(ALICE, ids[1], add=("STARRED",))
    first = (
        service.users()
        .history()
        .list(userId="me", startHistoryId=start, maxResults=2, historyTypes="labelAdded")
        .execute()
    )
    assert "history" not in first and "nextPageToken" in first
    records, _ = all_history(service, start, maxResults=2, historyTypes="labelAdded")
    assert [r["labelsAdded"][0]["message"]["id"] for r in records] == [ids[1]]


def test_label_id_filter(sim, gmail):
    start = str(sim.history_id(ALICE))
    sim.insert_message(ALICE, plain_message("inbox"))
    spam = sim.insert_message(ALICE, plain_message("spam"), label_ids=("SPAM",))
    records, _ = all_history(gmail(), start, labelId="SPAM")
    assert [r["messages"][0]["id"] for r in records] == [spam]


def test_injected_empty_pages_resume_at_the_same_place(sim, gmail):
    service = gmail()
    start = str(sim.history_id(ALICE))
    ids = [sim.insert_message(ALICE, plain_message(f"m{n}")) for n in range(3)]
    sim.faults.update(empty_history_page=1.0)
    empty = service.users().history().list(userId="me", startHistoryId=start).execute()
    assert empty.keys() == {"nextPageToken", "historyId"}
    sim.faults.update(empty_history_page=0.0)
    rest = service.users().history().list(userId="me", startHistoryId=start, pageToken=empty["nextPageToken"]).execute()
    assert [r["messagesAdded"][0]["message"]["id"] for r in rest["history"]] == ids


def test_expired_history_answers_404(sim, gmail):
    service = gmail()
    start = str(sim.history_id(ALICE))
    sim.insert_message(ALICE, plain_message("before expiry"))
    sim.expire_history(ALICE)
    with pytest.raises(HttpError) as failure:
        service.users().history().list(userId="me", startHistoryId=start).execute()
    assert failure.value.resp.status == 404
    fresh = service.users().getProfile(userId="me").execute()["historyId"]
    sim.insert_message(ALICE, plain_message("after expiry"))
    records, _ = all_history(service, fresh)
    assert len(records) == 1


def test_history_limit_moves_the_horizon(sim, gmail):
    service = gmail()
    sim.configure(history_limit=3)
    start = str(sim.history_id(ALICE))
    for n in range(5):
        sim.insert_message(ALICE, plain_message(f"m{n}"))
    with pytest.raises(HttpError) as failure:
        service.users().history().list(userId="me", startHistoryId=start).execute()
    assert failure.value.resp.status == 404
    recent = str(sim.history_id(ALICE) - 3)
    records, _ = all_history(service, recent)
    assert len(records) == 3


def test_history_max_age_uses_the_simulator_clock(sim, gmail, clock):
    service = gmail()
    sim.configure(history_max_age_s=3600)
    start = str(sim.history_id(ALICE))
    sim.insert_message(ALICE, plain_message("old"))
    assert len(all_history(service, start)[0]) == 1
    clock.advance(3601)
    with pytest.raises(HttpError) as failure:
        service.users().history().list(userId="me", startHistoryId=start).execute()
    assert failure.value.resp.status == 404


def test_start_history_id_is_required(gmail):
    with pytest.raises(HttpError) as failure:
        gmail().users().history().list(userId="me").execute()
    assert failure.value.resp.status == 400
