"""Conversations on SQLite and PostgreSQL: one email's thread (in time order, per-mailbox Gmail
links, proposals, the current one marked, a huge thread capped), the conversation lists of an
investor and a contact (one conversation across mailboxes whose Gmail thread ids differ, who is
waiting, keyset paging) and the documents an investor exchanged."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from appsrc.store import queries
from appsrc.store.models import EmailAccount, EmailAccountMessage, Investor
from appsrc.store.queries import QueryError, conversations
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"
PDF = {"filename": "call-notice.pdf", "content_type": "application/pdf", "size": 48_213}
XLS = {"filename": "nav.xlsx", "content_type": "application/vnd.ms-excel", "size": 9_000}
DOC = {"filename": "side-letter.docx", "content_type": "application/msword", "size": 1_500_000}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    """Each test on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


def bobs_thread_id(email, thread_id: str) -> None:
    """Gmail numbers threads per mailbox: Bob's copy of the conversation has its own id."""
    bob = EmailAccount.get(EmailAccount.address == BOB)
    EmailAccountMessage.update(gmail_thread_id=thread_id).where(
        (EmailAccountMessage.email == email.id) & (EmailAccountMessage.account == bob.id)
    ).execute()


@pytest.fixture
def talk(world):
    """Acme: Jane's capital call (seen by Ada and Bob, Bob's Gmail thread id differs), Ada's reply
    and Jane's answer (waiting on us), plus a reply deleted everywhere; Kim's side letter thread
    where Ada wrote last (waiting on them). Beta's mail is elsewhere."""
    w = world
    t = w.now
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.kim = w.contact(w.acme, "Kim Park", "kim@acme.example")
    w.beta = w.investor("Beta Partners", "beta.example")
    w.call = w.email(
        "Capital call", "jane@acme.example", [ADA, BOB], sent_at=t - timedelta(days=3), attachments=[PDF, XLS]
    )
    w.reply = w.email(
        "Re: Capital call", ADA, ["jane@acme.example"], cc=[BOB], sent_at=t - timedelta(days=2), reply_to=w.call
    )
    w.gone = w.email(
        "Re: Capital call",
        "jane@acme.example",
        [ADA],
        sent_at=t - timedelta(hours=36),
        reply_to=w.call,
        seen_by={ADA: True},
    )
    w.answer = w.email(
        "Re: Capital call", "jane@acme.example", [ADA, BOB], sent_at=t - timedelta(days=1), reply_to=w.call
    )
    for email in (w.call, w.reply, w.answer):
        bobs_thread_id(email, "bob-thread-77")
    w.letter = w.email("Side letter", "kim@acme.example", [ADA], sent_at=t - timedelta(days=5))
    w.letter_reply = w.email(
        "Re: Side letter",
        ADA,
        ["kim@acme.example"],
        sent_at=t - timedelta(hours=30),
        reply_to=w.letter,
        attachments=[DOC],
    )
    w.other = w.email("Beta news", "lp@beta.example", [ADA], sent_at=t - timedelta(hours=1), attachments=[PDF])
    return w


def gmail(url: str) -> tuple[str, str]:
    """(authuser, Gmail thread id) of an "Open in Gmail" link."""
    parts = urlsplit(url)
    return parse_qs(parts.query)["authuser"][0], parts.fragment.removeprefix("all/")


def test_the_email_page_shows_its_whole_conversation_in_time_order(talk):
    detail = queries.email_detail(talk.reply.id)
    thread = detail["thread"]
    assert [m["id"] for m in thread] == [talk.call.id, talk.reply.id, talk.answer.id]  # not the deleted reply
    assert [m["current"] for m in thread] == [False, True, False]
    assert [m["direction"] for m in thread] == ["inbound", "outbound", "inbound"]
    assert [m["from"] for m in thread] == ["jane@acme.example", ADA, "jane@acme.example"]
    assert (detail["thread_count"], detail["thread_truncated"]) == (3, False)
    assert detail["thread_id"] == talk.call.thread_key and thread[0]["sent_at"].endswith("Z")
    # Each mailbox opens its own copy: its address as authuser and its own Gmail thread id.
    root_number = talk.call.thread_key.removeprefix("mid:<m").removesuffix("@test>")
    assert [(m["address"], gmail(m["gmail_url"])) for m in thread[0]["gmail_links"]] == [
        (ADA, (ADA, "t" + root_number)),
        (BOB, (BOB, "bob-thread-77")),
    ]
    # Proposals: Jane's inbound mail is proposed on Acme.
    assert [(p["status"], p["investor_name"]) for p in thread[0]["proposals"]] == [("pending", "Acme Capital")]
    # The email's own links, one per live mailbox; the first one is its `gmail_url`.
    assert [link["address"] for link in detail["gmail_links"]] == [ADA, BOB]
    assert detail["gmail_url"] == detail["gmail_links"][0]["gmail_url"]
    assert [gmail(s["gmail_url"]) for s in detail["sightings"]] == [(ADA, "t" + root_number), (BOB, "bob-thread-77")]


def test_an_email_deleted_everywhere_still_shows_itself_in_its_thread(talk):
    detail = queries.email_detail(talk.gone.id)
    assert [m["id"] for m in detail["thread"]] == [talk.call.id, talk.reply.id, talk.gone.id, talk.answer.id]
    gone = detail["thread"][2]
    assert gone["current"] and gone["mailboxes"] == [] == gone["gmail_links"]
    assert detail["gmail_url"] is None and detail["gmail_links"] == []
    assert detail["sightings"][0]["gmail_url"] is None  # the deleted copy opens nothing


def test_a_huge_thread_is_capped_around_the_email_shown(talk, monkeypatch):
    monkeypatch.setattr(conversations, "THREAD_CAP", 2)
    newest = queries.email_detail(talk.answer.id)
    assert [m["id"] for m in newest["thread"]] == [talk.reply.id, talk.answer.id]
    assert (newest["thread_count"], newest["thread_truncated"]) == (3, True)
    oldest = queries.email_detail(talk.call.id)
    assert [m["id"] for m in oldest["thread"]] == [talk.call.id, talk.reply.id]  # from the email on


def test_an_investors_conversations_are_threads_newest_first_with_who_is_waiting(talk):
    page = queries_conversations(talk.acme.id)
    assert [c["thread_id"] for c in page["items"]] == [talk.call.thread_key, talk.letter.thread_key]
    call, letter = page["items"]
    # One conversation, though Ada's and Bob's Gmail number it differently.
    assert call["messages"] == 3 and call["subject"] == "Capital call"
    assert (call["first_at"], call["last_at"]) == (
        queries.email_detail(talk.call.id)["sent_at"],
        queries.email_detail(talk.answer.id)["sent_at"],
    )
    assert (call["last_email_id"], call["last_from"], call["last_direction"], call["waiting"]) == (
        talk.answer.id,
        "jane@acme.example",
        "inbound",
        "us",
    )
    assert gmail(call["gmail_url"]) == (ADA, "t" + talk.call.thread_key.removeprefix("mid:<m").removesuffix("@test>"))
    assert (letter["messages"], letter["last_direction"], letter["waiting"]) == (2, "outbound", "them")
    assert letter["last_email_id"] == talk.letter_reply.id and page["next_cursor"] is None


def queries_conversations(investor_id, **kwargs):
    page = conversations.investor_conversations(investor_id, **kwargs)
    assert page is not None
    return page


def test_conversation_lists_page_by_keyset(talk):
    first = queries_conversations(talk.acme.id, limit=1)
    assert [c["thread_id"] for c in first["items"]] == [talk.call.thread_key] and first["next_cursor"]
    second = queries_conversations(talk.acme.id, limit=1, cursor=first["next_cursor"])
    assert [c["thread_id"] for c in second["items"]] == [talk.letter.thread_key] and second["next_cursor"] is None
    # Conversations whose newest emails share a second still come once each, in a stable order.
    same = talk.now - timedelta(days=4)
    twins = [talk.email(f"Twin {n}", "jane@acme.example", [ADA], sent_at=same) for n in range(3)]
    walked, cursor = [], None
    while True:
        step = queries_conversations(talk.acme.id, limit=1, cursor=cursor)
        walked += [c["thread_id"] for c in step["items"]]
        cursor = step["next_cursor"]
        if cursor is None:
            break
    assert walked == [talk.call.thread_key, talk.letter.thread_key] + [t.thread_key for t in reversed(twins)]
    jane, cursor = [], None
    while True:
        step = conversations.contact_conversations(talk.jane.id, limit=2, cursor=cursor)
        jane += [c["thread_id"] for c in step["items"]]
        cursor = step["next_cursor"]
        if cursor is None:
            break
    assert jane == [talk.call.thread_key] + [t.thread_key for t in reversed(twins)]
    for bad in ("nonsense", queries.encode_cursor("yesterday", "k"), queries.encode_cursor("2026-01-01T00:00:00", "k")):
        with pytest.raises(QueryError) as caught:
            conversations.investor_conversations(talk.acme.id, cursor=bad)
        assert caught.value.field == "cursor"
    for bad_limit in (0, 201, "5"):
        with pytest.raises(QueryError) as caught:
            conversations.investor_conversations(talk.acme.id, limit=bad_limit)
        assert caught.value.field == "limit"


def test_a_contacts_conversations_are_those_their_addresses_took_part_in(talk):
    kim = conversations.contact_conversations(talk.kim.id)
    assert [c["thread_id"] for c in kim["items"]] == [talk.letter.thread_key]
    jane = conversations.contact_conversations(talk.jane.id)
    assert [(c["thread_id"], c["messages"], c["waiting"]) for c in jane["items"]] == [(talk.call.thread_key, 3, "us")]


def test_documents_are_the_attachments_of_the_investors_mail_newest_first(talk):
    page = conversations.investor_documents(talk.acme.id)
    assert [(d["filename"], d["email_id"], d["direction"]) for d in page["items"]] == [
        ("side-letter.docx", talk.letter_reply.id, "outbound"),
        ("call-notice.pdf", talk.call.id, "inbound"),
        ("nav.xlsx", talk.call.id, "inbound"),
    ]
    first = page["items"][1]
    assert (first["content_type"], first["size"], first["subject"], first["from"]) == (
        "application/pdf",
        48_213,
        "Capital call",
        "jane@acme.example",
    )
    assert first["sent_at"] == queries.email_detail(talk.call.id)["sent_at"]
    # One at a time, the cursor stepping inside the email with two attachments.
    seen, cursor = [], None
    while True:
        step = conversations.investor_documents(talk.acme.id, limit=1, cursor=cursor)
        seen += [d["filename"] for d in step["items"]]
        cursor = step["next_cursor"]
        if cursor is None:
            break
    assert seen == ["side-letter.docx", "call-notice.pdf", "nav.xlsx"]
    with pytest.raises(QueryError) as caught:
        conversations.investor_documents(talk.acme.id, cursor=queries.encode_cursor("2026-01-01T00:00:00+00:00", 0, 0))
    assert caught.value.field == "cursor"


def test_unknown_or_deleted_records_have_no_conversations(talk):
    Investor.update(deleted_at=talk.now).where(Investor.id == talk.beta.id).execute()
    for missing in (talk.beta.id, 10**9, 0, True):
        assert conversations.investor_conversations(missing) is None
        assert conversations.investor_documents(missing) is None
    assert conversations.contact_conversations(10**9) is None
