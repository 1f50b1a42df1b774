"""The activity search gives the same answers on SQLite (FTS5, the time-keyed path) and on
PostgreSQL (tsvector, the plain path): free text over subject, snippet, sender name and every
part of the sender's address (words of three letters or more as prefixes), alone and with the
filters (investor, mailbox, contact, direction, days in the fund's time zone, attachments),
checked against a reading of the data itself. PostgreSQL runs in a throwaway cluster."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.store import queries
from appsrc.store.bare import write_capture_scope
from appsrc.store.db import open_database
from appsrc.store.migrations import migrate
from appsrc.store.models import EmailAccount, EmailAccountMessage, EmailInvestorLink
from appsrc.store.queries import activity as activity_queries
from tests.conftest import NOW
from tests.crm.factories import World

ADA, BOB = "ada@fund.example", "bob@fund.example"
QUERIES = [
    "capital",
    "Quarterly capital",
    "countersign",
    "side letter",  # subject and snippet words
    "Roe",
    "Jane Roe",
    "Priya",  # sender names
    "treasury",
    "desk",
    "treasury.desk",
    "treasury.desk@acme.example",
    "TREASURY.DESK@ACME.EXAMPLE",  # local part
    "acme",
    "acme.example",
    "elsewhere",
    "example",
    "fund",
    "ada@fund.example",  # domains and whole addresses
    "jane@acme.example",
    "o'brien",
    "obrien",
    "wire-transfer",
    "transfer",
    "q3",
    "2026",
    "capital lunch",
    "nothing-like-this",
    "@",
    "ca",  # AND of words; no match; no word; two letters match whole words only
    "capi",
    "Quart",
    "treas",
    "acm",
    "countersig",
    "Pri",
    "obri",
    "elsewh",
    "exam",
    "Zeich",
    "Blackst",
    "blackstone",
    "Blackstones",
    "Quar capi",
    "wir tra",
    "re",
    "q3",
    "202",  # prefixes of 3, 4, 5 and more letters, alone and together
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, settings):
    """A migrated store on each database, bound to the models, capture scope `all` (the mail
    below includes non-investor mail on purpose)."""
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    migrate(db)
    write_capture_scope("all", NOW)
    queries.clear_cache()
    yield request.param
    db.close()


@pytest.fixture
def mail(store):
    w = World(NOW)
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.dead = w.investor("Dead Co", "dead.example", graveyard=True)
    w.email("Quarterly capital call", "jane@acme.example", [ADA, BOB], from_name="Jane Roe")
    w.email("Re: Quarterly capital call", ADA, ["jane@acme.example"], from_name="Ada Admin")
    w.email("Deleted everywhere", "jane@acme.example", [ADA], seen_by={ADA: True})
    w.email("Deleted by Ada only", "jane@acme.example", [ADA, BOB], seen_by={ADA: True, BOB: False})
    w.email("Documents", "jane@acme.example", [BOB], snippet="please countersign the side letter")
    w.email("Wire confirmation", "treasury.desk@acme.example", [ADA], snippet="wire-transfer received for Q3 2026")
    w.email("Hello from Priya", "p.obrien@acme.example", [BOB], from_name="Priya O'Brien")
    w.email("Old relationship memo", "ceo@dead.example", [BOB])
    w.email("Lunch?", "friend@elsewhere.example", [BOB], sent_at=NOW - timedelta(days=3))
    w.email(
        "Zeichnungsschein Blackstone",
        "jane@acme.example",
        [ADA],
        sent_at=NOW - timedelta(days=10),
        attachments=[{"filename": "zeichnung.pdf", "content_type": "application/pdf", "size": 10}],
    )
    w.email("Paris at midnight", "friend@elsewhere.example", [ADA], sent_at=datetime(2026, 10, 20, 22, 30, tzinfo=UTC))
    return w


def reference(
    q=None,
    investor_id=None,
    account_id=None,
    direction=None,
    contact_id=None,
    since=None,
    until=None,
    has_attachment=None,
    tz_name="UTC",
) -> list[int]:
    """The search's semantics read straight off the rows: live mail, newest first, every word of
    `q` the start of a word (three letters or more) or a whole word (fewer) of the subject,
    snippet, sender name or sender address; days in `tz_name`."""
    from appsrc.store.models import Email

    own = {a for (a,) in EmailAccount.select(EmailAccount.address).tuples()}
    words = set(re.findall(r"[^\W_]+", plain(q or "")))
    zone = ZoneInfo(tz_name)
    found = []
    for email in Email.select().order_by(Email.sent_at.desc(), Email.id.desc()):
        live = EmailAccountMessage.select().where(
            (EmailAccountMessage.email == email.id) & EmailAccountMessage.deleted_at.is_null()
        )
        if account_id is not None:
            live = live.where(EmailAccountMessage.account == account_id)
        if not live.exists():
            continue
        if (
            investor_id is not None
            and not EmailInvestorLink.select()
            .where((EmailInvestorLink.email == email.id) & (EmailInvestorLink.investor == investor_id))
            .exists()
        ):
            continue
        if direction and (email.from_email in own) != (direction == "outbound"):
            continue
        if (
            contact_id is not None
            and not EmailInvestorLink.select()
            .where((EmailInvestorLink.email == email.id) & (EmailInvestorLink.contact == contact_id))
            .exists()
        ):
            continue
        day = email.sent_at.astimezone(zone).date()
        if (since and day < date.fromisoformat(since)) or (until and day > date.fromisoformat(until)):
            continue
        if has_attachment is not None and email.has_attachments != has_attachment:
            continue
        text = " ".join((email.subject or "", email.snippet or "", email.from_name or "", email.from_email or ""))
        present = set(re.findall(r"[^\W_]+", plain(text)))
        if q is not None and (not words or not all(_found(w, present) for w in words)):
            continue
        found.append(email.id)
    return found


def plain(text: str) -> str:
    """Lower case without diacritics: "Müller" and "Muller" are the same word to the search."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not "\u0300" <= c <= "\u036f")).lower()


def _found(word: str, present: set[str]) -> bool:
    return any(p.startswith(word) for p in present) if len(word) >= 3 else word in present


def ids(**filters) -> list[int]:
    return [item["email_id"] for item in queries.email_activity(limit=200, **filters)["items"]]


def test_free_text_finds_words_and_word_starts_of_subject_snippet_and_sender(mail):
    misses = {q: (ids(q=q), reference(q=q)) for q in QUERIES if ids(q=q) != reference(q=q)}
    assert not misses  # q: (found, expected)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # a plan only SQLite has
def test_long_words_checked_row_by_row_give_the_same_answers(mail, monkeypatch):
    """On a big store a long word is looked up by its first letters and each row checked here
    (SQLite); the answers and counts are the reference's all the same."""
    monkeypatch.setattr(activity_queries, "EXACT_LIMIT", 0)
    monkeypatch.setattr(activity_queries, "COUNT_BATCH", 3)
    for q in [q for q in QUERIES if any(len(w) > activity_queries.PREFIX_INDEXED for w in re.findall(r"\w+", q))]:
        assert ids(q=q) == reference(q=q), q
        assert queries.email_activity_count(q=q)["count"] == len(reference(q=q)), q
        assert ids(q=q, investor_id=mail.acme.id) == reference(q=q, investor_id=mail.acme.id), q


def test_words_in_any_script_are_found_whatever_the_database_locale(mail):
    """The throwaway cluster runs in the C locale here, where PostgreSQL's [:alnum:] is ASCII only:
    accented and Cyrillic words must still be whole words of the search (migration 0007). Latin
    diacritics fold on both databases (FTS5's `remove_diacritics`, 0022's stored words): an
    admin typing "Muller" finds Müller, and "Société" finds "Societe"."""
    mail.email("grüße aus Zürich — привет", "k.mueller@acme.example", [ADA], from_name="Karl Müller")
    mail.email("Societe Generale side letter", "desk@sg.example", [ADA], from_name="Crédit Agricole")
    mail.email("Mu\u0308ller memo", "desk@sg.example", [ADA])  # the umlaut as a combining mark
    for q in (
        *("Müller", "grüße", "Zürich", "привет", "Karl Müller", "aus Zürich", "Mül", "Züri", "прив", "grü"),
        *("Muller", "MULLER", "Zurich", "Mul", "zuri", "Société", "Soc", "credit agricole", "CRÉD", "Générale"),
    ):
        found = ids(q=q)
        assert found and found == reference(q=q), q
    assert ids(q="grusse") == [] == reference(q="grusse")  # ß is a letter of its own, not "ss"


def test_every_part_of_a_sender_address_is_searchable(mail):
    wire = reference(q="confirmation")
    assert len(wire) == 1
    for q in ("treasury", "desk", "acme", "treasury.desk@acme.example"):
        assert wire[0] in ids(q=q), q
    assert reference(q="elsewhere") == ids(q="elsewhere") != []


def test_free_text_with_every_filter(mail):
    bob = mail.mailbox(BOB).id
    ada = mail.mailbox(ADA).id
    cases = [
        {},
        {"investor_id": mail.acme.id},
        {"investor_id": mail.dead.id},
        {"account_id": bob},
        {"account_id": ada},
        {"direction": "inbound"},
        {"direction": "outbound"},
        {"investor_id": mail.acme.id, "account_id": bob, "direction": "inbound"},
    ]
    for filters in cases:
        assert ids(**filters) == reference(**filters), filters
        for q in ("capital", "jane", "acme", "treasury.desk", "relationship"):
            assert ids(q=q, **filters) == reference(q=q, **filters), (q, filters)
    assert queries.email_activity_count(q="acme", investor_id=mail.acme.id)["count"] == len(
        reference(q="acme", investor_id=mail.acme.id)
    )


def test_pages_of_a_free_text_search_cover_it_once(mail):
    walked, cursor = [], None
    while True:
        page = queries.email_activity(q="acme", limit=2, cursor=cursor)
        walked += [i["email_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == reference(q="acme") and len(walked) > 2


@pytest.mark.parametrize("store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_answers_free_text_from_the_word_index(mail, store):
    """The query must read the stored words migration 0022 indexes, or PostgreSQL rebuilds every
    email's words instead (with this little data the planner may still prefer another path, so
    only the free-text condition is planned here, sequential scans off)."""
    from appsrc.store.db import database

    newest = activity_queries._activity_query(activity_queries.Filters(terms=("treasury", "de")))
    assert newest is not None
    sql, params = newest.query.sql()
    assert '"search_tsv" @@ to_tsquery' in sql and "'treasury':* & 'de'" in params
    with database.atomic():
        database.execute_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in database.execute_sql(
                "EXPLAIN SELECT id FROM email WHERE search_tsv @@ to_tsquery('simple', 'treas:*')"
            ).fetchall()
        )
    assert "Bitmap Index Scan on email_search_tsv" in plan, plan


def test_the_investor_timeline_follows_links_times_and_deletions(mail):
    """The time-keyed timeline the investor filter and conversation lists read (triggers: 0002 on
    SQLite, 0022 on PostgreSQL) is exactly the links with their emails' time keys, whatever
    changes: a new link, a moved one, a deleted one, a corrected time, a deleted email."""
    from appsrc.store.db import database
    from appsrc.store.models import Email

    def kept() -> set[tuple[int, int, int]]:
        rows = database.execute_sql("SELECT investor_id, email_id, key FROM email_investor_timeline").fetchall()
        return {(investor_id, email_id, int(key)) for investor_id, email_id, key in rows}

    def links() -> set[tuple[int, int, int]]:
        query = EmailInvestorLink.select(EmailInvestorLink.investor, Email.id, Email.sent_at).join(Email)
        return {(inv, email_id, activity_queries.time_key(at, email_id)) for inv, email_id, at in query.tuples()}

    assert kept() == links() and len(links()) > 5
    memo = mail.email("Board memo", "jane@acme.example", [ADA])  # a new link
    assert kept() == links()
    Email.update(sent_at=NOW - timedelta(days=40)).where(Email.id == memo.id).execute()  # a corrected time
    assert kept() == links()
    link = EmailInvestorLink.get(EmailInvestorLink.email == memo.id)
    EmailInvestorLink.update(investor=mail.dead.id).where(EmailInvestorLink.id == link.id).execute()  # moved
    assert kept() == links()
    assert ids(investor_id=mail.dead.id) == reference(investor_id=mail.dead.id) and memo.id in ids(
        investor_id=mail.dead.id
    )
    EmailInvestorLink.delete().where(EmailInvestorLink.id == link.id).execute()
    assert kept() == links()
    gone = EmailInvestorLink.select(EmailInvestorLink.email).where(EmailInvestorLink.investor == mail.acme.id).first()
    Email.delete().where(Email.id == gone.email_id).execute()  # its links go with it
    assert kept() == links()
    assert ids(investor_id=mail.acme.id) == reference(investor_id=mail.acme.id)


def test_the_new_filters_alone_and_with_free_text(mail):
    """Contact, days in the fund's time zone (both ends included), attachments: alone, together,
    and with the older filters and free text, on both databases."""
    paris = {"tz_name": "Europe/Paris"}
    cases = [
        {"contact_id": mail.jane.id},
        {"has_attachment": True},
        {"has_attachment": False},
        {"since": "2026-10-30"},
        {"until": "2026-10-30"},
        {"since": "2026-10-23", "until": "2026-10-30"},
        {"since": "2026-10-20", "until": "2026-10-20"},
        {"since": "2026-10-20", "until": "2026-10-20", **paris},  # 22:30 UTC is the next day in Paris
        {"since": "2026-10-21", "until": "2026-10-21", **paris},
        {"contact_id": mail.jane.id, "has_attachment": True},
        {"contact_id": mail.jane.id, "investor_id": mail.acme.id, "since": "2026-10-01", "direction": "inbound"},
        {"contact_id": mail.jane.id, "account_id": mail.mailbox(BOB).id},
    ]
    for filters in cases:
        expected = reference(**filters)
        assert ids(**filters) == expected, filters
        assert queries.email_activity_count(**filters)["count"] == len(expected), filters
        for q in ("acme", "Zeich", "capital", "blackstone", "midn"):
            assert ids(q=q, **filters) == reference(q=q, **filters), (q, filters)
    assert reference(since="2026-10-20", until="2026-10-20") != reference(
        since="2026-10-20", until="2026-10-20", **paris
    )
    assert reference(contact_id=mail.jane.id) and reference(has_attachment=True)


def test_items_say_which_words_matched_and_where_the_thread_is(mail):
    item = queries.email_activity(q="zeich BLACK jan")["items"][0]
    assert item["matched"] == ["Zeichnungsschein", "Blackstone", "jane"]
    (capital,) = [i for i in queries.email_activity(q="quart capi")["items"] if i["from_email"] == "jane@acme.example"]
    assert capital["matched"] == ["Quarterly", "capital"]
    assert queries.email_activity(q="acme ac")["items"] == []  # two letters: a whole word only
    assert queries.email_activity()["items"][0]["matched"] == []
    for item in queries.email_activity(limit=200)["items"]:
        from appsrc.store.models import Email

        email = Email.get_by_id(item["email_id"])
        assert item["thread_id"] == email.thread_key
        first = item["mailboxes"][0]
        assert item["gmail_url"].startswith("https://mail.google.com/mail/?authuser=" + first.replace("@", "%40"))


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # a plan only SQLite has
def test_a_long_word_rare_among_its_first_letters_is_still_found_in_order(mail, monkeypatch):
    """Long words are looked up by their first letters and checked row by row; when the checks
    go on too long the exact query takes over. Both give the same pages as the reference."""
    for n in range(7):
        mail.email(f"Blackrock note {n}", "jane@acme.example", [ADA], sent_at=NOW - timedelta(minutes=n))
    monkeypatch.setattr(activity_queries, "EXACT_LIMIT", 0)  # as on a big store: checked here
    monkeypatch.setattr(activity_queries, "SCAN_BATCH", 2)
    monkeypatch.setattr(activity_queries, "SCAN_LIMIT", 4)
    monkeypatch.setattr(activity_queries, "COUNT_BATCH", 2)
    for q in ("blackstone", "Blackrock", "blackst acme"):
        walked, cursor = [], None
        while True:
            page = queries.email_activity(q=q, limit=2, cursor=cursor)
            walked += [i["email_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert walked == reference(q=q) != [], q
        assert queries.email_activity_count(q=q)["count"] == len(walked)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-1-1"}, "until"),
        ({"until": "20261101"}, "until"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "until"),
        ({"contact_id": 0}, "contact_id"),
        ({"contact_id": 2**63}, "contact_id"),
        ({"has_attachment": "yes"}, "has_attachment"),
        ({"since": "0001-01-01", "tz_name": "Asia/Tokyo"}, "since"),  # before the first UTC day
        ({"tz_name": "Mars/Olympus"}, "tz_name"),
    ],
)
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # checked before any query
def test_bad_filters_name_their_field(mail, filters, field):
    for read in (queries.email_activity, queries.email_activity_count):
        with pytest.raises(queries.QueryError) as caught:
            read(**filters)
        assert caught.value.field == field


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # a plan only SQLite has
def test_a_busy_contacts_mail_is_walked_newest_first(mail, monkeypatch):
    """A contact with many emails is not read whole and sorted (SQLite walks `sent_at` and
    checks each email); pages and counts stay those of the reference."""
    monkeypatch.setattr(activity_queries, "DRIVE_LIMIT", 0)
    for filters in ({}, {"has_attachment": False}, {"since": "2026-10-25"}, {"direction": "inbound"}):
        expected = reference(contact_id=mail.jane.id, **filters)
        assert ids(contact_id=mail.jane.id, **filters) == expected, filters
        assert queries.email_activity_count(contact_id=mail.jane.id, **filters)["count"] == len(expected)
        page = queries.email_activity(contact_id=mail.jane.id, limit=2, **filters)
        if page["next_cursor"]:
            rest = queries.email_activity(contact_id=mail.jane.id, cursor=page["next_cursor"], **filters)
            assert [i["email_id"] for i in page["items"] + rest["items"]] == expected


def test_pages_of_a_date_range_cover_it_once(mail):
    """Also an investor's mail, which PostgreSQL reads from the investor timeline by time key,
    with emails sent in the same second (paged by id within it)."""
    same_second = NOW - timedelta(days=2)
    for n in range(3):
        mail.email(f"Same second {n}", "jane@acme.example", [ADA], sent_at=same_second)
    for filters in (
        {"since": "2026-10-01"},
        {"until": "2026-10-31"},
        {"since": "2026-10-01", "has_attachment": False},
        {"investor_id": mail.acme.id},
        {"investor_id": mail.acme.id, "since": "2026-10-01", "until": NOW.date().isoformat()},
    ):
        walked, cursor = [], None
        while True:
            page = queries.email_activity(limit=2, cursor=cursor, **filters)
            walked += [i["email_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert walked == reference(**filters) and len(walked) > 2, filters
