"""The conversation API: an email's thread in `GET /api/email/<id>`, the conversations of an
investor and of a contact, and an investor's documents: shapes, paging, 404 for unknown or
deleted records, 400 naming `limit` or `cursor`. Admin only (the route inventory checks that)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appsrc.crm.users import issue_token
from appsrc.store.queries import encode_cursor
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"
PDF = {"filename": "call-notice.pdf", "content_type": "application/pdf", "size": 48_213}
CONVERSATION_KEYS = {
    "thread_id",
    "subject",
    "messages",
    "first_at",
    "last_at",
    "last_email_id",
    "last_from",
    "last_from_name",
    "last_direction",
    "waiting",
    "gmail_url",
}


@pytest.fixture
def api(app, world, clock):
    token = issue_token(world.ada.email, clock.now(), label="test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def talk(world):
    w = world
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.call = w.email(
        "Capital call", "jane@acme.example", [ADA, BOB], sent_at=w.now - timedelta(days=3), attachments=[PDF]
    )
    w.reply = w.email(
        "Re: Capital call", ADA, ["jane@acme.example"], sent_at=w.now - timedelta(days=2), reply_to=w.call
    )
    w.memo = w.email("Memo", "sam@acme.example", [BOB], sent_at=w.now - timedelta(days=1))
    return w


def test_the_email_carries_its_thread(api, talk):
    detail = api.get(f"/api/email/{talk.call.id}").json
    assert detail["thread_id"] == talk.call.thread_key
    assert [(m["id"], m["current"], m["direction"], m["from"]) for m in detail["thread"]] == [
        (talk.call.id, True, "inbound", "jane@acme.example"),
        (talk.reply.id, False, "outbound", ADA),
    ]
    first = detail["thread"][0]
    assert set(first) == {
        "id",
        "sent_at",
        "direction",
        "from",
        "from_name",
        "subject",
        "snippet",
        "mailboxes",
        "gmail_links",
        "proposals",
        "current",
    }
    assert first["mailboxes"] == [ADA, BOB] == [m["address"] for m in first["gmail_links"]]
    assert all(m["gmail_url"].startswith("https://mail.google.com/mail/?authuser=") for m in first["gmail_links"])
    assert detail["attachments"] == [PDF]
    assert (detail["thread_count"], detail["thread_truncated"]) == (2, False)


def test_investor_conversations_page_and_answer_the_shapes(api, talk):
    body = api.get(f"/api/investors/{talk.acme.id}/conversations?limit=1").json
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"]
    assert set(body["items"][0]) == CONVERSATION_KEYS
    assert (body["items"][0]["subject"], body["items"][0]["waiting"]) == ("Memo", "us")
    rest = api.get(f"/api/investors/{talk.acme.id}/conversations", query_string={"cursor": body["next_cursor"]}).json
    assert [(c["subject"], c["messages"], c["waiting"]) for c in rest["items"]] == [("Capital call", 2, "them")]
    assert rest["next_cursor"] is None
    contact = api.get(f"/api/contacts/{talk.jane.id}/conversations").json
    assert [c["thread_id"] for c in contact["items"]] == [talk.call.thread_key]
    documents = api.get(f"/api/investors/{talk.acme.id}/documents").json
    assert documents["next_cursor"] is None
    assert documents["items"] == [
        {
            **PDF,
            "sent_at": rest["items"][0]["first_at"],
            "direction": "inbound",
            "email_id": talk.call.id,
            "subject": "Capital call",
            "from": "jane@acme.example",
            "from_name": "",
        }
    ]


@pytest.mark.parametrize(
    "path", ["/api/investors/{i}/conversations", "/api/investors/{i}/documents", "/api/contacts/{c}/conversations"]
)
def test_unknown_records_are_404_and_bad_paging_is_400_naming_the_field(api, talk, path):
    missing = api.get(path.format(i=999_999, c=999_999))
    assert missing.status_code == 404 and missing.json["field"] in {"investor_id", "contact_id"}
    known = path.format(i=talk.acme.id, c=talk.jane.id)
    for query, field in [
        ({"limit": "x"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": encode_cursor("not a time", 1, 0)}, "cursor"),
        ({"cursor": encode_cursor("2026-01-01T00:00:00+00:00", "x", 0)}, "cursor"),
    ]:
        response = api.get(known, query_string=query)
        assert response.status_code == 400, (query, response.status_code)
        assert response.json["field"] == field, query
    assert api.get(known, query_string={"limit": "200"}).status_code == 200


def test_a_deleted_investor_or_contact_has_no_conversations(api, talk, clock):
    from appsrc.store.models import Contact, Investor

    Contact.update(deleted_at=clock.now()).where(Contact.id == talk.jane.id).execute()
    assert api.get(f"/api/contacts/{talk.jane.id}/conversations").status_code == 404
    Investor.update(deleted_at=clock.now()).where(Investor.id == talk.acme.id).execute()
    assert api.get(f"/api/investors/{talk.acme.id}/conversations").status_code == 404
    assert api.get(f"/api/investors/{talk.acme.id}/documents").status_code == 404
