"""drafts.create, messages.send and scope enforcement."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import googleapiclient
import pytest
from googleapiclient.errors import HttpError

from appsrc.simulator import GMAIL_COMPOSE, GMAIL_READONLY
from appsrc.simulator.server import METHOD_SCOPES

from .conftest import ALICE, BOB, plain_message


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.fixture
def original(sim):
    return sim.insert_message(ALICE, plain_message("Term sheet", message_id="<ts@acmecapital.example>"))


REPLY = (
    b"From: alice@fund.example\r\nTo: jane@acmecapital.example\r\nSubject: Re: Term sheet\r\n"
    b"In-Reply-To: <ts@acmecapital.example>\r\nReferences: <ts@acmecapital.example>\r\n\r\nThanks, Jane.\r\n"
)


def test_reply_draft_joins_the_thread_and_is_recorded(sim, gmail, original):
    thread_id = sim.message(ALICE, original).thread_id
    draft = (
        gmail()
        .users()
        .drafts()
        .create(userId="me", body={"message": {"raw": encode(REPLY), "threadId": thread_id}})
        .execute()
    )
    assert draft["id"].startswith("r")
    assert draft["message"]["threadId"] == thread_id
    assert draft["message"]["labelIds"] == ["DRAFT"]
    [stored] = sim.drafts(ALICE)
    assert (stored.draft_id, stored.raw, stored.thread_id) == (draft["id"], REPLY, thread_id)
    assert sim.message(ALICE, stored.gmail_id).label_ids == ("DRAFT",)
    assert sim.calls(method="users.drafts.create")[-1].units == 10


def test_draft_without_thread_id_or_references_starts_a_new_thread(sim, gmail, original):
    thread_id = sim.message(ALICE, original).thread_id
    drafts = gmail().users().drafts()
    no_thread_id = drafts.create(userId="me", body={"message": {"raw": encode(REPLY)}}).execute()
    no_headers = drafts.create(
        userId="me",
        body={
            "message": {
                "raw": encode(b"To: jane@acmecapital.example\r\nSubject: Re: Term sheet\r\n\r\nHi\r\n"),
                "threadId": thread_id,
            }
        },
    ).execute()
    assert no_thread_id["message"]["threadId"] != thread_id
    assert no_headers["message"]["threadId"] != thread_id
    assert sim.drafts(ALICE)[1].requested_thread_id == thread_id


def test_drafts_are_hidden_from_plain_listing(sim, gmail, original):
    service = gmail()
    service.users().drafts().create(userId="me", body={"message": {"raw": encode(REPLY)}}).execute()
    listed = service.users().messages().list(userId="me").execute()["messages"]
    assert [m["id"] for m in listed] == [original]


def test_send_records_envelope_and_delivers_without_bcc(sim, gmail):
    raw = (
        b"From: Alice <alice@fund.example>\r\nTo: bob@fund.example, jane@acmecapital.example\r\n"
        b"Cc: Carl <carl@acmecapital.example>\r\nBcc: boss@fund.example\r\nSubject: Daily digest\r\n\r\n"
        b"Digest body\r\n"
    )
    sim.add_mailbox("boss@fund.example")
    sent = gmail().users().messages().send(userId="me", body={"raw": encode(raw)}).execute()
    assert sent["labelIds"] == ["SENT"]
    [record] = sim.sent_messages()
    assert record.sender == ALICE
    assert record.recipients == (
        "bob@fund.example",
        "jane@acmecapital.example",
        "carl@acmecapital.example",
        "boss@fund.example",
    )
    assert b"Message-ID: <" in record.raw and record.raw.endswith(raw)
    assert b"Bcc: boss@fund.example" in sim.message(ALICE, sent["id"]).raw
    for teammate in (BOB, "boss@fund.example"):
        [delivered] = sim.message_ids(teammate)
        copy = sim.message(teammate, delivered)
        assert b"Bcc:" not in copy.raw and b"Digest body" in copy.raw
        assert copy.label_ids == ("INBOX", "UNREAD")
    assert sim.units_used(ALICE) == 100


def test_send_needs_a_recipient(gmail):
    with pytest.raises(HttpError) as failure:
        gmail().users().messages().send(userId="me", body={"raw": encode(b"Subject: nobody\r\n\r\nx")}).execute()
    assert failure.value.resp.status == 400
    assert failure.value.reason == "Recipient address required"


def test_readonly_token_cannot_create_drafts(sim, gmail):
    with pytest.raises(HttpError) as failure:
        gmail(scopes=[GMAIL_READONLY]).users().drafts().create(
            userId="me", body={"message": {"raw": encode(REPLY)}}
        ).execute()
    assert failure.value.resp.status == 403
    assert failure.value.reason == "Request had insufficient authentication scopes."
    assert failure.value.error_details[0]["reason"] == "insufficientPermissions"
    assert sim.drafts(ALICE) == []
    assert sim.calls(method="users.drafts.create")[-1].units == 0


def test_compose_token_writes_but_cannot_read_mail(gmail, original):
    """As in Gmail's discovery document: gmail.compose covers getProfile, not messages.get."""
    service = gmail(scopes=[GMAIL_COMPOSE])
    assert service.users().getProfile(userId="me").execute()["emailAddress"] == ALICE
    service.users().drafts().create(userId="me", body={"message": {"raw": encode(REPLY)}}).execute()
    with pytest.raises(HttpError) as failure:
        service.users().messages().get(userId="me", id=original).execute()
    assert failure.value.resp.status == 403


def test_drafts_send_is_refused_and_recorded(sim, gmail):
    with pytest.raises(HttpError) as failure:
        gmail().users().drafts().send(userId="me", body={"id": "r123"}).execute()
    assert failure.value.resp.status == 405
    assert [r.status for r in sim.calls(method="users.drafts.send")] == [405]
    assert sim.sent_messages() == []


def test_scope_table_matches_the_discovery_document():
    document = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
    resources = json.loads(document.read_text())["resources"]["users"]

    def method(name: str) -> dict:
        node = resources
        *path, leaf = name.split(".")[1:]
        for part in path:
            node = node["resources"][part]
        return node["methods"][leaf]

    for name, scopes in METHOD_SCOPES.items():
        documented = {s for s in method(name)["scopes"] if "gmail.addons." not in s}
        assert documented == scopes, name
