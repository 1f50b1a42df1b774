"""The email-activity query: each semantic of the search, alone and combined, plus the
other named reads the dashboard and the API share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from appsrc.store import queries
from appsrc.store.models import EmailAccountMessage
from appsrc.store.queries import activity, cache
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def mail(world):
    """Acme (live contact Jane), Dead Co (graveyard) and mail that exercises every rule."""
    w = world
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.dead = w.investor("Dead Co", "dead.example", graveyard=True)
    w.inbound = w.email("Quarterly capital call", "jane@acme.example", [ADA, BOB], from_name="Jane Roe")
    w.outbound = w.email("Re: Quarterly capital call", ADA, ["jane@acme.example"])
    w.ghost = w.email("Deleted everywhere", "jane@acme.example", [ADA], seen_by={ADA: True})
    w.half = w.email("Deleted by Ada only", "jane@acme.example", [ADA, BOB], seen_by={ADA: True, BOB: False})
    w.graveyard = w.email("Old relationship memo", "ceo@dead.example", [BOB])
    w.other = w.email("Lunch?", "friend@elsewhere.example", [BOB])
    return w


def ids(result):
    return [item["email_id"] for item in result["items"]]


def test_lists_live_mail_newest_first_once_per_email(mail):
    result = queries.email_activity()
    assert ids(result) == [mail.inbound.id, mail.outbound.id, mail.half.id, mail.graveyard.id, mail.other.id]
    # The inbound email is in two mailboxes: one row, both mailboxes listed.
    first = result["items"][0]
    assert first["mailboxes"] == [ADA, BOB] and first["investors"] == [{"id": mail.acme.id, "name": "Acme Capital"}]
    assert set(first) >= {
        "email_id",
        "message_id",
        "subject",
        "snippet",
        "from_email",
        "sent_at",
        "direction",
        "investors",
        "mailboxes",
    }
    assert first["sent_at"].endswith("Z") and first["message_id"].startswith("<m")


def test_live_iff_a_sighting_is_not_deleted(mail):
    listed = ids(queries.email_activity())
    assert mail.ghost.id not in listed and mail.half.id in listed
    half = next(i for i in queries.email_activity()["items"] if i["email_id"] == mail.half.id)
    assert half["mailboxes"] == [BOB]
    # Reviving the sighting brings it back; deleting the last one hides it.
    EmailAccountMessage.update(deleted_at=None).where(EmailAccountMessage.email == mail.ghost.id).execute()
    assert mail.ghost.id in ids(queries.email_activity())
    EmailAccountMessage.update(deleted_at=mail.now).where(EmailAccountMessage.email == mail.half.id).execute()
    assert mail.half.id not in ids(queries.email_activity())


def test_mailbox_filter_means_live_in_that_mailbox(mail):
    ada = mail.mailbox(ADA).id
    bob = mail.mailbox(BOB).id
    assert ids(queries.email_activity(account_id=ada)) == [mail.inbound.id, mail.outbound.id]
    assert ids(queries.email_activity(account_id=bob)) == [
        mail.inbound.id,
        mail.half.id,
        mail.graveyard.id,
        mail.other.id,
    ]


def test_direction_is_decided_per_email_by_the_sender(mail):
    out = queries.email_activity(direction="outbound")
    assert ids(out) == [mail.outbound.id] and out["items"][0]["direction"] == "outbound"
    inbound = queries.email_activity(direction="inbound")
    assert mail.outbound.id not in ids(inbound) and mail.inbound.id in ids(inbound)
    assert {i["direction"] for i in inbound["items"]} == {"inbound"}
    # Ada's reply sits in her SENT folder and Jane's inbox alike: still outbound, whatever the mailbox.
    assert ids(queries.email_activity(direction="outbound", account_id=mail.mailbox(ADA).id)) == [mail.outbound.id]


def test_bad_direction_is_a_400_naming_the_field(mail):
    with pytest.raises(queries.QueryError) as caught:
        queries.email_activity(direction="sideways")
    assert caught.value.field == "direction"


def test_a_filter_the_search_does_not_know_is_a_programming_error_not_ignored(mail):
    for call in (queries.email_activity, queries.email_activity_count):
        with pytest.raises(TypeError, match="unknown search filter 'investor'"):
            call(investor=mail.acme.id)  # type: ignore[call-arg]


def test_graveyard_hidden_from_the_picker_only(mail):
    assert [i["name"] for i in queries.list_investors()] == ["Acme Capital"]
    assert [i["name"] for i in queries.list_investors(include_graveyard=True)] == ["Acme Capital", "Dead Co"]
    assert mail.graveyard.id in ids(queries.email_activity())
    assert ids(queries.email_activity(q="relationship")) == [mail.graveyard.id]
    assert ids(queries.email_activity(investor_id=mail.dead.id)) == [mail.graveyard.id]
    # and a graveyard investor's mail makes no proposal
    assert mail.proposals_of(mail.graveyard) == []


def test_free_text_covers_subject_snippet_and_sender_by_words_and_their_starts(mail):
    assert ids(queries.email_activity(q="capital")) == [mail.inbound.id, mail.outbound.id]
    assert ids(queries.email_activity(q="quart")) == [mail.inbound.id, mail.outbound.id]  # a word's start
    assert ids(queries.email_activity(q="qu")) == []  # under three letters: whole words only
    assert ids(queries.email_activity(q="Jane")) == [mail.inbound.id, mail.half.id]  # from_name / from_email
    assert ids(queries.email_activity(q="friend@elsewhere.example")) == [mail.other.id]
    assert ids(queries.email_activity(q="capital lunch")) == []  # words AND together
    assert ids(queries.email_activity(q="CAPITAL")) == [mail.inbound.id, mail.outbound.id]


def test_free_text_follows_edits(mail):
    from appsrc.store.models import Email

    Email.update(subject="Distribution notice", snippet="see attached").where(Email.id == mail.other.id).execute()
    assert ids(queries.email_activity(q="distribution")) == [mail.other.id]
    assert mail.other.id not in ids(queries.email_activity(q="lunch"))


@pytest.mark.parametrize(
    "q",
    [
        '" OR 1=1 --',
        "'; DROP TABLE email; --",
        "*",
        "NEAR(a b)",
        "capital AND",
        "-",
        '"unterminated',
        "^",
        "a:b",
        "(",
        "%",
        "_",
        "\x00",
        "é" * 300,
    ],
)
def test_hostile_free_text_is_just_text(mail, q):
    """Only words are looked for, every one of them whole: none of these matches an email."""
    before = ids(queries.email_activity())
    assert queries.email_activity(q=q)["items"] == []
    assert ids(queries.email_activity()) == before  # the table is still there, unchanged


def test_filters_combine(mail):
    bob = mail.mailbox(BOB).id
    assert ids(
        queries.email_activity(investor_id=mail.acme.id, account_id=bob, direction="inbound", q="quarterly")
    ) == [mail.inbound.id]
    assert ids(queries.email_activity(investor_id=mail.acme.id, direction="outbound")) == [mail.outbound.id]
    assert ids(queries.email_activity(investor_id=mail.acme.id, account_id=mail.mailbox(ADA).id, q="deleted")) == []
    assert ids(queries.email_activity(investor_id=mail.dead.id, direction="outbound")) == []


def test_keyset_pages_cover_everything_once(world):
    acme = world.investor("Acme Capital", "acme.example")
    same_time = world.now - timedelta(days=1)
    made = [
        world.email(f"Note {i}", "jane@acme.example", [ADA], sent_at=same_time if i % 3 == 0 else None)
        for i in range(23)
    ]
    seen, cursor, pages = [], None, 0
    while True:
        page = queries.email_activity(investor_id=acme.id, limit=5, cursor=cursor)
        seen += ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(e.id for e in made) and len(seen) == len(set(seen)) and pages == 5
    assert seen == ids(queries.email_activity(investor_id=acme.id, limit=200))


@given(limit=st.integers(min_value=1, max_value=9))
@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_page_size_walks_the_same_order(mail, limit):
    everything = ids(queries.email_activity(limit=200))
    walked, cursor = [], None
    while True:
        page = queries.email_activity(limit=limit, cursor=cursor)
        walked += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == everything


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwgMV0", "WyIyMDI2LTAxLTAxIiwgMV0"])
def test_forged_cursors_are_refused(mail, cursor):
    with pytest.raises(queries.QueryError) as caught:
        queries.email_activity(cursor=cursor)
    assert caught.value.field == "cursor"


def test_capped_count(mail):
    assert queries.email_activity_count() == {"count": 5, "capped": False}
    assert queries.email_activity_count(q="capital") == {"count": 2, "capped": False}
    assert queries.email_activity_count(q="!!!") == {"count": 0, "capped": False}


def test_email_detail_shows_every_sighting_and_link(mail):
    detail = queries.email_detail(mail.half.id)
    assert [(s["address"], s["live"]) for s in detail["sightings"]] == [(ADA, False), (BOB, True)]
    assert detail["mailboxes"] == [BOB] and detail["live"]
    assert detail["investors"][0]["contact_name"] == "Jane Roe"
    assert [p["status"] for p in detail["proposals"]] == ["pending"]
    assert queries.email_detail(mail.ghost.id)["live"] is False
    assert queries.email_detail(10**9) is None


def test_proposal_queue_has_the_email_in_view(mail):
    queue = queries.proposal_queue()
    by_email = {p["email_id"]: p for p in queue["items"]}
    p = by_email[mail.inbound.id]
    assert p["investor_name"] == "Acme Capital" and p["contact_name"] == "Jane Roe" and not p["new_contact"]
    assert p["mailboxes"] == [ADA, BOB] and p["subject"] == "Quarterly capital call"
    assert queries.pending_proposal_count() == len(queue["items"])


def test_weekly_volume_and_backlog(mail, clock):
    data = queries.weekly_volume("investor", clock.now(), "Europe/Paris", weeks=4)
    assert len(data["weeks"]) == 4
    totals = {s["name"]: sum(s["values"]) for s in data["series"]}
    assert totals == {"Acme Capital": 3, "Dead Co": 1}  # live mail only (the ghost is not counted)
    members = {s["name"]: sum(s["values"]) for s in queries.weekly_volume("member", clock.now(), "UTC", 4)["series"]}
    assert members == {ADA: 2, BOB: 4}
    direction = {
        s["name"]: sum(s["values"]) for s in queries.weekly_volume("direction", clock.now(), "UTC", 4)["series"]
    }
    assert direction == {"inbound": 4, "outbound": 1}
    backlog = queries.approvals_backlog(clock.now(), "UTC", 4)
    assert backlog["pending"][-1] == queries.pending_proposal_count() and sum(backlog["decided"]) == 0


def test_time_keyed_indexes_follow_links_edits_and_deletes(mail):
    """Migration 0002's search index and investor timeline are kept by triggers: a link removed by
    a rematch, a changed date or subject, and a deleted email are all reflected at once."""
    from appsrc.crm.investors import update_investor
    from appsrc.store.db import database
    from appsrc.store.models import Email

    def timeline(investor_id):
        return sorted(
            r[0]
            for r in database.execute_sql(
                "SELECT email_id FROM email_investor_timeline WHERE investor_id = ?", (investor_id,)
            )
        )

    acme_mail = sorted([mail.inbound.id, mail.outbound.id, mail.ghost.id, mail.half.id])
    assert timeline(mail.acme.id) == acme_mail
    update_investor(mail.acme.id, mail.now, directory=mail.directory, domains="")  # Jane stays a contact: links remain
    assert timeline(mail.acme.id) == acme_mail
    other = mail.email("Newsletter", "news@acme.example", [BOB])  # matched by domain only
    assert other.id not in timeline(mail.acme.id)  # the domain is gone: no link, no timeline row
    # A new date moves the email in time order; a new subject is searchable at once.
    Email.update(sent_at=mail.now + timedelta(days=1), subject="Moved ahead", snippet="see you").where(
        Email.id == mail.other.id
    ).execute()
    assert ids(queries.email_activity(q="moved")) == [mail.other.id]
    assert ids(queries.email_activity())[0] == mail.other.id
    assert ids(queries.email_activity(q="lunch")) == []
    Email.delete().where(Email.id == mail.inbound.id).execute()
    assert mail.inbound.id not in timeline(mail.acme.id)
    assert ids(queries.email_activity(q="quarterly")) == [mail.outbound.id]
    assert ids(queries.email_activity(investor_id=mail.acme.id)) == [mail.outbound.id, mail.half.id]


def test_keyed_and_plain_paths_agree(mail, world):
    """Free text and investor filters take the time-keyed path; the same rows must come back as
    the plain path would give (checked here against a filter-by-filter reading)."""
    for i in range(12):
        world.email(
            f"capital memo {i}",
            "jane@acme.example",
            [ADA, BOB] if i % 2 else [BOB],
            sent_at=world.now - timedelta(minutes=7 * i),
        )
    everything = queries.email_activity(limit=200)["items"]
    by_investor = [i["email_id"] for i in everything if any(inv["id"] == mail.acme.id for inv in i["investors"])]
    assert ids(queries.email_activity(investor_id=mail.acme.id, limit=200)) == by_investor
    with_q = [i["email_id"] for i in everything if "capital" in (i["subject"] + " " + i["snippet"]).lower().split()]
    assert ids(queries.email_activity(q="capital", limit=200)) == with_q
    bob = mail.mailbox(BOB).id
    both = [
        i for i in with_q if i in by_investor and BOB in next(x for x in everything if x["email_id"] == i)["mailboxes"]
    ]
    assert ids(queries.email_activity(q="capital", investor_id=mail.acme.id, account_id=bob, limit=200)) == both
    walked, cursor = [], None
    while True:
        page = queries.email_activity(q="capital", investor_id=mail.acme.id, limit=4, cursor=cursor)
        walked += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == [i for i in with_q if i in by_investor]


def test_the_picker_shows_a_graveyard_investor_already_chosen(mail):
    """Hidden from the picker, unless the filter in force is that investor (a "search its mail"
    link): then it is listed too, marked as graveyard."""
    picked = queries.list_investors(also=[mail.dead.id])
    assert [(i["name"], i["graveyard"]) for i in picked] == [("Acme Capital", False), ("Dead Co", True)]
    assert [i["name"] for i in queries.list_investors(also=[mail.acme.id, queries.MAX_ID + 1, 0])] == ["Acme Capital"]


def test_ids_the_database_cannot_hold_are_refused_or_not_found(mail):
    for bad in (10**23, queries.MAX_ID + 1, -1, 0, True, 1.5, "1"):
        for kwargs in ({"investor_id": bad}, {"account_id": bad}, {"investor_id": bad, "q": "capital"}):
            with pytest.raises(queries.QueryError) as caught:
                queries.email_activity(**kwargs)
            assert caught.value.field in kwargs
            with pytest.raises(queries.QueryError):
                queries.email_activity_count(**kwargs)
        with pytest.raises(queries.QueryError):
            queries.proposal_queue(investor_id=bad)
        assert queries.email_detail(bad) is None and queries.investor_detail(bad) is None
        assert queries.contact_detail(bad) is None and queries.proposal(bad) is None
    assert queries.email_activity(investor_id=queries.MAX_ID)["items"] == []


def test_chart_figures_are_cached_per_week_window_not_per_visit(mail, clock):
    """The charts page passes the clock's now (microseconds and all): two visits in the same
    week window must share one computation; a new week is computed afresh."""
    visit = clock.now().replace(microsecond=123456)
    first = queries.weekly_volume("investor", visit, "Europe/Paris", weeks=4)
    backlog = queries.approvals_backlog(visit, "Europe/Paris", weeks=4)
    mail.email("Another capital call", "jane@acme.example", [ADA])  # lands after the first visit
    later = visit + timedelta(minutes=17, microseconds=654321)
    assert queries.weekly_volume("investor", later, "Europe/Paris", weeks=4) is first
    assert queries.approvals_backlog(later, "Europe/Paris", weeks=4) is backlog
    next_week = visit + timedelta(weeks=1)
    fresh = queries.weekly_volume("investor", next_week, "Europe/Paris", weeks=4)
    assert fresh["weeks"][-1] != first["weeks"][-1]
    assert sum(next(s for s in fresh["series"] if s["name"] == "Acme Capital")["values"]) == 4
    # The window is the fund's local week: Sunday 23:30 in Paris is still that week.
    sunday_night = datetime(2026, 11, 8, 22, 30, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    assert queries.weekly_volume("investor", sunday_night, "Europe/Paris", 4)["weeks"][-1] == "2026-11-02"
    assert queries.weekly_volume("investor", monday_morning, "Europe/Paris", 4)["weeks"][-1] == "2026-11-09"


def test_chart_visits_do_not_flush_the_count_cache(mail, clock):
    """Counts and charts are cached in bounded caches: many visits must neither grow them nor
    evict the figures other pages are using."""
    count = queries.email_activity_count(q="capital")
    size_before = cache.entries()
    for second in range(2 * cache.MAX_ENTRIES):
        visit = clock.now() + timedelta(seconds=second, microseconds=second)
        queries.weekly_volume("member", visit, "UTC", weeks=12)
        queries.approvals_backlog(visit, "UTC", weeks=12)
    assert cache.entries() == size_before + 2  # one week window each: one figure per chart
    mail.email("Capital again", "jane@acme.example", [ADA])
    assert queries.email_activity_count(q="capital") == count  # still the cached figure


def test_a_full_cache_keeps_its_bound_and_the_figures_in_use(mail):
    """At its bound a cache drops the least recently used figure: never all of them, never the
    one every page keeps asking for."""
    queries.clear_cache()
    in_use = queries.email_activity_count(q="capital")
    for n in range(cache.MAX_ENTRIES + 50):
        queries.email_activity_count(q=f"word{n}")
        queries.email_activity_count(q="capital")
    assert len(activity._activity_count.cache) == cache.MAX_ENTRIES
    mail.email("Capital again", "jane@acme.example", [ADA])
    assert queries.email_activity_count(q="capital") == in_use  # kept, so not recounted


def test_cached_figures_expire_on_the_appliance_clock(mail, clock):
    """The cache is timed by the injected clock: a minute later (and not before) the count is
    read again."""
    count = queries.email_activity_count(q="capital")["count"]
    mail.email("Capital again", "jane@acme.example", [ADA])
    clock.advance(59)
    assert queries.email_activity_count(q="capital")["count"] == count
    clock.advance(2)
    assert queries.email_activity_count(q="capital")["count"] == count + 1


def _plain_pending():
    """The pending queue as the plain join reads it: (proposal id, investor id), newest email
    first; emails of the same second by proposal id (the order the SQLite path keeps)."""
    from appsrc.store.models import ActivityProposal, Email

    rows = (
        ActivityProposal.select(ActivityProposal.id, ActivityProposal.investor, Email.sent_at)
        .join(Email)
        .where(ActivityProposal.status == "pending")
        .tuples()
    )
    return [(i, inv) for i, inv, sent in sorted(rows, key=lambda r: (int(r[2].timestamp()), r[0]), reverse=True)]


def assert_queue_matches_the_proposals():
    expected = _plain_pending()
    walked, cursor = [], None
    while True:
        page = queries.proposal_queue(status="pending", limit=2, cursor=cursor)
        walked += [(p["id"], p["investor_id"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == expected
    assert queries.pending_proposal_count() == len(expected)
    counts = {}
    for _id, investor in expected:
        counts[investor] = counts.get(investor, 0) + 1
    assert {i["id"]: i["pending"] for i in queries.proposal_investors()} == counts
    for investor, count in counts.items():
        assert [p["investor_id"] for p in queries.proposal_queue(investor_id=investor, limit=200)["items"]] == [
            investor
        ] * count


def test_the_pending_queue_follows_every_change_to_proposals(mail, world):
    """Migration 0005's queue table and per-investor counts are kept by triggers: capture's
    proposals, decisions, rematches that withdraw proposals, deleted emails (cascades) and a
    changed date are all reflected at once, in the same order the plain join gives."""
    from appsrc.crm import proposals
    from appsrc.crm.exclusions import add_exclusion
    from appsrc.crm.investors import update_investor
    from appsrc.store.models import Email

    beta = world.investor("Beta Partners", "beta.example")
    made = [
        world.email(f"Note {i}", f"p{i % 3}@beta.example", [ADA], sent_at=world.now - timedelta(minutes=i))
        for i in range(6)
    ]
    same_second = [
        world.email(f"Tie {i}", "sam@acme.example", [BOB], sent_at=world.now.replace(microsecond=0)) for i in range(2)
    ]
    assert_queue_matches_the_proposals()
    first = world.proposals_of(made[0])[0]
    proposals.approve(first.id, world.ada, world.now, directory=world.directory)
    proposals.reject(world.proposals_of(made[1])[0].id, world.ada, world.now)
    assert_queue_matches_the_proposals()
    Email.update(sent_at=world.now - timedelta(days=30)).where(Email.id == made[2].id).execute()
    assert queries.proposal_queue(investor_id=beta.id, limit=200)["items"][-1]["email_id"] == made[2].id
    assert_queue_matches_the_proposals()
    add_exclusion("p0@beta.example", world.now)  # purges made[3]'s email: its proposal cascades away
    assert_queue_matches_the_proposals()
    update_investor(beta.id, world.now, directory=world.directory, domains="")  # Beta's unknown senders no longer match
    assert beta.id not in {i["id"] for i in queries.proposal_investors()}
    assert_queue_matches_the_proposals()
    assert {p["email_id"] for p in queries.proposal_queue(limit=200)["items"]} >= {e.id for e in same_second}


def test_contact_choices_are_the_live_contacts_of_live_investors_with_their_addresses(world):
    from appsrc.store.models import Contact, Investor

    acme = world.investor("Acme Capital", "acme.example")
    jane = world.contact(acme, "Jane Roe", "jane@acme.example", "j.roe@acme.example")
    kim = world.contact(acme, "Kim Lee", "kim@acme.example")
    old = world.investor("Old Partners", "old.example", graveyard=True)
    sam = world.contact(old, "Sam Old", "sam@old.example")
    gone = world.investor("Gone LP", "gone.example")
    world.contact(gone, "Pat Gone", "pat@gone.example")
    Investor.update(deleted_at=world.now).where(Investor.id == gone.id).execute()
    Contact.update(deleted_at=world.now).where(Contact.id == kim.id).execute()
    assert queries.contact_choices() == [
        {
            "id": jane.id,
            "name": "Jane Roe",
            "investor_id": acme.id,
            "investor_name": "Acme Capital",
            "addresses": ["j.roe@acme.example", "jane@acme.example"],
        },
        {
            "id": sam.id,
            "name": "Sam Old",
            "investor_id": old.id,
            "investor_name": "Old Partners",
            "addresses": ["sam@old.example"],
        },
    ]
    assert [c["id"] for c in queries.contact_choices(exclude=jane.id)] == [sam.id]
