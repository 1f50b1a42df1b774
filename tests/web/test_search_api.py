"""`GET /api/email/activity` and its CSV with the desk's filters, on SQLite and PostgreSQL: word
starts, a contact, days in the fund's time zone, attachments; each item's matched words, its
conversation and its Gmail link; every bad value a 400 naming its field, the same for the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from appsrc.store.queries import export
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"
PDF = [{"filename": "subscription.pdf", "content_type": "application/pdf", "size": 2048}]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    """Each test on both databases, for a fund in Paris (so days are not UTC days)."""
    settings = settings.replace(timezone="Europe/Paris")
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
def mail(world):
    w = world
    w.acme = w.investor("Blackstone Partners", "blackstone.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@blackstone.example")
    w.kim = w.contact(w.acme, "Kim Park", "kim@blackstone.example")
    # 23:30 UTC on 19 October is 01:30 on the 20th in Paris.
    w.late = w.email(
        "Zeichnungsschein", "jane@blackstone.example", [ADA], sent_at=datetime(2026, 10, 19, 23, 30, tzinfo=UTC)
    )
    w.deck = w.email(
        "Fund deck",
        "kim@blackstone.example",
        [ADA, BOB],
        sent_at=datetime(2026, 10, 25, 9, tzinfo=UTC),
        attachments=PDF,
    )
    w.reply = w.email("Re: Fund deck", ADA, ["kim@blackstone.example"], reply_to=w.deck)
    w.lunch = w.email("Lunch at Blackfriars?", "friend@elsewhere.example", [BOB])
    return w


def found(admin_client, query: str) -> list[int]:
    answer = admin_client.http.get(f"/api/email/activity?{query}")
    assert answer.status_code == 200, answer.get_json()
    return [item["email_id"] for item in answer.get_json()["items"]]


def csv_ids(admin_client, query: str) -> list[int]:
    answer = admin_client.http.get(f"/api/email/activity.csv?{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    table = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8")[1:])))
    assert table[0] == list(export.ACTIVITY_COLUMNS)
    return [int(row[-1]) for row in table[1:]]


def test_each_filter_narrows_the_search_and_the_csv_alike(admin_client, mail):
    cases = {
        "q=Blackst": [mail.deck.id, mail.late.id],  # the sender's address, from five letters on
        "q=Zeich": [mail.late.id],
        "q=blackf": [mail.lunch.id],
        "q=bla+fund": [mail.deck.id],
        "q=bl": [],  # two letters: a whole word only
        f"contact_id={mail.kim.id}": [mail.deck.id, mail.reply.id],  # from Kim, and to Kim
        f"contact_id={mail.jane.id}&q=zei": [mail.late.id],
        "since=2026-10-20&until=2026-10-20": [mail.late.id],  # the fund's day, not UTC's
        "since=2026-10-19&until=2026-10-19": [],
        "since=2026-10-21&until=2026-10-31": [mail.deck.id],
        "has_attachment=true": [mail.deck.id],
        "has_attachment=TRUE&q=deck": [mail.deck.id],
        "has_attachment=false&q=deck": [mail.reply.id],
        f"has_attachment=false&contact_id={mail.jane.id}&since=2026-10-01": [mail.late.id],
    }
    for query, expected in cases.items():
        assert sorted(found(admin_client, query)) == sorted(expected), query
        assert csv_ids(admin_client, query) == found(admin_client, query), query


def test_items_carry_matched_words_their_conversation_and_a_gmail_link(admin_client, mail):
    items = admin_client.http.get("/api/email/activity?q=deck+fun").get_json()["items"]
    by_id = {item["email_id"]: item for item in items}
    assert set(by_id) == {mail.deck.id, mail.reply.id}
    assert by_id[mail.deck.id]["matched"] == ["Fund", "deck"]
    assert by_id[mail.deck.id]["thread_id"] == by_id[mail.reply.id]["thread_id"] == mail.deck.thread_key
    # The first live mailbox by address, with that mailbox's Gmail thread id.
    assert by_id[mail.deck.id]["gmail_url"].startswith("https://mail.google.com/mail/?authuser=ada%40fund.example#all/")
    unsearched = admin_client.http.get("/api/email/activity").get_json()["items"]
    assert all(item["matched"] == [] for item in unsearched)
    answer = admin_client.http.get("/api/email/activity.csv?q=deck")
    table = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8")[1:])))
    row = dict(zip(table[0], table[1], strict=True))
    assert row["thread_id"] == mail.deck.thread_key and row["gmail_url"].startswith("https://mail.google.com/")


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)  # refused before any query
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-02-30", "since"),
        ("since=today", "since"),
        ("since=2026-10-1", "since"),
        ("until=2026-10-20T10:00", "until"),
        ("since=2026-10-21&until=2026-10-20", "until"),
        ("contact_id=0", "contact_id"),
        ("contact_id=abc", "contact_id"),
        ("contact_id=9223372036854775808", "contact_id"),
        ("contact_id=1.5", "contact_id"),
        ("has_attachment=yes", "has_attachment"),
        ("has_attachment=1", "has_attachment"),
    ],
)
def test_bad_values_answer_400_naming_the_field(admin_client, mail, query, field):
    for path in ("/api/email/activity", "/api/email/activity.csv"):
        answer = admin_client.http.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, query)
        assert answer.get_json()["field"] == field, (path, query)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_an_unknown_contact_finds_nothing_and_teammates_are_refused(admin_client, member_client, mail):
    assert found(admin_client, f"contact_id={mail.kim.id + 1000}") == []
    assert member_client.http.get("/api/email/activity?q=blackst").status_code == 403
    assert member_client.http.get("/api/email/activity.csv?since=2026-10-01").status_code == 403
