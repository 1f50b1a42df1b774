"""Gmail REST reads through googleapiclient: profile, labels, list, get in every format."""

from __future__ import annotations

import base64
import json

import pytest
from googleapiclient.errors import HttpError

from appsrc.simulator import GMAIL_COMPOSE, GMAIL_METADATA

from .conftest import ALICE, BOB, plain_message

BASE_MS = 1_763_000_000_000


@pytest.fixture
def inbox(sim):
    """Ten INBOX messages (newest has the highest number) plus one each in SPAM, TRASH, CHAT, DRAFT."""
    ids = [sim.insert_message(ALICE, plain_message(f"msg {n}"), internal_date_ms=BASE_MS + n * 1000) for n in range(10)]
    special = {
        label: sim.insert_message(
            ALICE, plain_message(label.lower()), label_ids=(label,), internal_date_ms=BASE_MS + 100_000
        )
        for label in ("SPAM", "TRASH", "CHAT", "DRAFT")
    }
    return ids, special


def list_all(service, **params) -> list[str]:
    ids, token = [], None
    while True:
        page = service.users().messages().list(userId="me", pageToken=token, **params).execute()
        ids += [m["id"] for m in page.get("messages", [])]
        token = page.get("nextPageToken")
        if not token:
            return ids


def test_profile_counts_and_history_id(sim, gmail, inbox):
    profile = gmail().users().getProfile(userId="me").execute()
    assert profile == {
        "emailAddress": ALICE,
        "messagesTotal": 14,
        "threadsTotal": 14,
        "historyId": str(sim.history_id(ALICE)),
    }


def test_user_id_may_be_the_subject_address_but_not_someone_else(gmail):
    service = gmail(ALICE)
    assert service.users().getProfile(userId=ALICE).execute()["emailAddress"] == ALICE
    with pytest.raises(HttpError) as failure:
        service.users().getProfile(userId=BOB).execute()
    assert failure.value.resp.status == 403


def test_labels_are_gmails_system_labels(gmail):
    labels = {label["id"] for label in gmail().users().labels().list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "CHAT", "UNREAD", "CATEGORY_PROMOTIONS"} <= labels


def test_list_pages_newest_first_without_spam_trash_or_drafts(gmail, inbox):
    ids, special = inbox
    listed = list_all(gmail(), maxResults=3)
    assert listed == [special["CHAT"]] + ids[::-1]


def test_list_page_size_and_estimate(gmail, inbox):
    page = gmail().users().messages().list(userId="me", maxResults=4).execute()
    assert len(page["messages"]) == 4
    assert page["resultSizeEstimate"] == 11
    assert page["messages"][0].keys() == {"id", "threadId"}


def test_list_include_spam_trash_and_label_filters(gmail, inbox):
    ids, special = inbox
    service = gmail()
    everything = set(list_all(service, includeSpamTrash=True))
    assert everything == set(ids) | {special["SPAM"], special["TRASH"], special["CHAT"]}
    assert list_all(service, labelIds=["TRASH"]) == [special["TRASH"]]
    assert list_all(service, labelIds=["DRAFT"]) == [special["DRAFT"]]
    assert list_all(service, labelIds=["INBOX"]) == ids[::-1]


def test_list_query_terms(gmail, inbox):
    ids, special = inbox
    service = gmail()
    assert list_all(service, q="-in:chats") == ids[::-1]
    assert set(list_all(service, q="in:anywhere -in:chats")) == set(ids) | {special["SPAM"], special["TRASH"]}
    assert list_all(service, q=f"after:{(BASE_MS + 7000) // 1000}") == [special["CHAT"], ids[9], ids[8], ids[7]]


def test_list_by_size_as_gmail_does(sim, gmail, inbox):
    ids, _special = inbox
    big = sim.insert_message(ALICE, plain_message("big") + b"x" * 300_000, internal_date_ms=BASE_MS + 50_000)
    sizes = {i: len(sim.message(ALICE, i).raw) for i in ids}
    service = gmail()
    assert list_all(service, q="larger:200K -in:chats") == [big]
    assert list_all(service, q=f"size:{max(sizes.values())} -in:chats") == [big]  # size: is larger: too
    assert set(list_all(service, q="smaller:1M -in:chats")) == set(ids) | {big}
    smallest = min(sizes.values())
    assert set(list_all(service, q=f"smaller:{smallest + 1} -in:chats")) == {
        i for i, n in sizes.items() if n == smallest
    }
    with pytest.raises(HttpError) as failure:
        service.users().messages().list(userId="me", q="larger:ten").execute()
    assert failure.value.resp.status == 400


def test_unsupported_query_fails_loudly(gmail, inbox):
    with pytest.raises(HttpError) as failure:
        gmail().users().messages().list(userId="me", q="from:jane").execute()
    assert failure.value.resp.status == 400
    assert "from:jane" in failure.value.reason


def test_list_is_empty_like_gmail(sim, gmail):
    page = gmail(BOB).users().messages().list(userId="me").execute()
    assert page == {"resultSizeEstimate": 0}


def test_paging_is_stable_when_mail_arrives(sim, gmail, inbox):
    ids, _ = inbox
    service = gmail()
    first = service.users().messages().list(userId="me", maxResults=5, q="-in:chats").execute()
    sim.insert_message(ALICE, plain_message("late arrival"), internal_date_ms=BASE_MS + 999_999)
    second = (
        service.users()
        .messages()
        .list(userId="me", maxResults=5, q="-in:chats", pageToken=first["nextPageToken"])
        .execute()
    )
    assert [m["id"] for m in first["messages"] + second["messages"]] == ids[::-1]


def test_get_raw_round_trips_bytes(sim, gmail):
    raw = plain_message("Raw test", message_id="<raw@acme.example>", body="It's ready & done.")
    gmail_id = sim.insert_message(ALICE, raw, internal_date_ms=BASE_MS)
    message = gmail().users().messages().get(userId="me", id=gmail_id, format="raw").execute()
    assert base64.urlsafe_b64decode(message["raw"]) == raw
    assert message["internalDate"] == str(BASE_MS)
    assert message["sizeEstimate"] == len(raw)
    assert message["labelIds"] == ["INBOX"]
    assert message["snippet"] == "It&#39;s ready &amp; done."
    assert message["threadId"] == gmail_id
    assert int(message["historyId"]) <= sim.history_id(ALICE)


def test_get_minimal_has_no_payload(sim, gmail):
    gmail_id = sim.insert_message(ALICE, plain_message("Minimal"))
    message = gmail().users().messages().get(userId="me", id=gmail_id, format="minimal").execute()
    assert "payload" not in message and "raw" not in message
    assert message["id"] == gmail_id


def test_get_metadata_narrows_headers(sim, gmail):
    gmail_id = sim.insert_message(ALICE, plain_message("Meta", message_id="<meta@acme.example>"))
    message = (
        gmail()
        .users()
        .messages()
        .get(userId="me", id=gmail_id, format="metadata", metadataHeaders=["Subject", "message-id"])
        .execute()
    )
    assert message["payload"]["headers"] == [
        {"name": "Subject", "value": "Meta"},
        {"name": "Message-ID", "value": "<meta@acme.example>"},
    ]
    assert "data" not in json.dumps(message["payload"]["body"])


def test_get_full_parses_multipart_and_attachments(sim, gmail):
    attachment = bytes(range(256)) * 4
    raw = (
        "From: jane@acmecapital.example\r\nTo: alice@fund.example\r\nSubject: Deck\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        '--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n'
        '--inner\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nPlain body\r\n'
        '--inner\r\nContent-Type: text/html; charset="utf-8"\r\n\r\n<p>Html body</p>\r\n--inner--\r\n'
        '--outer\r\nContent-Type: application/pdf; name="deck.pdf"\r\n'
        'Content-Disposition: attachment; filename="deck.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(attachment).decode().replace("\n", "\r\n")
        + "--outer--\r\n"
    ).encode()
    gmail_id = sim.insert_message(ALICE, raw)
    service = gmail()
    payload = service.users().messages().get(userId="me", id=gmail_id, format="full").execute()["payload"]
    assert payload["partId"] == "" and payload["mimeType"] == "multipart/mixed"
    alternative, pdf = payload["parts"]
    assert [p["partId"] for p in alternative["parts"]] == ["0.0", "0.1"]
    plain = alternative["parts"][0]["body"]
    assert base64.urlsafe_b64decode(plain["data"]) == b"Plain body"
    assert pdf["filename"] == "deck.pdf" and pdf["body"]["size"] == len(attachment)
    fetched = (
        service.users()
        .messages()
        .attachments()
        .get(userId="me", messageId=gmail_id, id=pdf["body"]["attachmentId"])
        .execute()
    )
    assert base64.urlsafe_b64decode(fetched["data"]) == attachment


def test_unknown_message_is_googles_404(gmail):
    with pytest.raises(HttpError) as failure:
        gmail().users().messages().get(userId="me", id="18aaaaaaaaaaaaaa").execute()
    assert failure.value.resp.status == 404
    assert json.loads(failure.value.content) == {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
            "status": "NOT_FOUND",
        }
    }


def test_same_email_gets_different_ids_per_mailbox(sim):
    raw = plain_message("Both of you", message_id="<shared@acme.example>")
    first, second = sim.insert_message(ALICE, raw), sim.insert_message(BOB, raw)
    assert first != second
    assert len(first) == len(second) == 16 and int(first, 16) and int(second, 16)


def test_replies_thread_by_references_and_subject(sim):
    original = sim.insert_message(ALICE, plain_message("Term sheet", message_id="<a@acme.example>"))
    reply = sim.insert_message(
        ALICE,
        plain_message(
            "Re: Term sheet",
            message_id="<b@acme.example>",
            extra="In-Reply-To: <a@acme.example>\r\nReferences: <a@acme.example>\r\n",
        ),
    )
    other_subject = sim.insert_message(
        ALICE, plain_message("Something else", extra="In-Reply-To: <a@acme.example>\r\n")
    )
    assert sim.message(ALICE, reply).thread_id == original
    assert sim.message(ALICE, other_subject).thread_id == other_subject


def test_mail_disabled_user_gets_failed_precondition(sim, gmail):
    sim.add_mailbox("nomail@fund.example", status="mail_disabled")
    with pytest.raises(HttpError) as failure:
        gmail("nomail@fund.example").users().getProfile(userId="me").execute()
    assert failure.value.resp.status == 400
    assert failure.value.reason == "Mail service not enabled"
    assert failure.value.error_details[0]["reason"] == "failedPrecondition"


def test_metadata_scope_cannot_read_bodies(sim, key_file, gmail):
    gmail_id = sim.insert_message(ALICE, plain_message("Secret"))
    sim.set_grant(json.loads(key_file.read_text())["client_id"], [GMAIL_METADATA, GMAIL_COMPOSE])
    service = gmail(scopes=[GMAIL_METADATA])
    assert service.users().messages().get(userId="me", id=gmail_id, format="metadata").execute()["id"] == gmail_id
    with pytest.raises(HttpError) as failure:
        service.users().messages().get(userId="me", id=gmail_id, format="raw").execute()
    assert failure.value.resp.status == 403


def test_a_subject_with_an_undecodable_charset_is_stored_not_refused(sim):
    """Found by the pipeline fuzz: a charset name with non-ASCII bytes made insert crash."""
    raw = "Subject: =?\x80?q?x?=\r\nFrom: a@b.example\r\n\r\nbody\r\n".encode("latin-1")
    gmail_id = sim.insert_message(ALICE, raw)
    assert sim.message(ALICE, gmail_id).raw == raw


@pytest.mark.parametrize("charset", ["window\x00s-1252", "x-unknown-charset", "utf-8"])
def test_a_charset_no_codec_accepts_still_gets_a_snippet(sim, gmail, charset):
    """Found by the pipeline fuzzer: a charset name with a NUL in it made the simulator drop the
    connection, so capture kept retrying a message Gmail itself would serve."""
    raw = (
        "From: News <news@newsletter.example>\r\nTo: alice@fund.example\r\nSubject: Weekly\r\n"
        f"Content-Type: text/html; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("<p>Quoted caf\u00e9</p>".encode()).decode()
        + "\r\n"
    ).encode()
    gmail_id = sim.insert_message(ALICE, raw)
    service = gmail()
    message = service.users().messages().get(userId="me", id=gmail_id).execute()
    assert message["id"] == gmail_id and "Quoted caf" in message["snippet"]
    assert service.users().messages().get(userId="me", id=gmail_id, format="raw").execute()["raw"]
