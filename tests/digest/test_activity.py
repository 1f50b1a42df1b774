"""The digest's two queries: per user and per investor, soft delete, inbound
dedup, email-level direction, name fallbacks, bulk mail and the window's edges."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from appsrc.digest.activity import LATE_CAPTURE, collect_investor_activity, collect_user_activity, load_window
from tests.conftest import NOW

SINCE, UNTIL = NOW - timedelta(hours=24), NOW
H = timedelta(hours=1)


def users_summary(data):
    return {a.user.email: (a.sent, a.received) for a in collect_user_activity(data)}


def investors_summary(data):
    return {a.name: (a.inbound, a.outbound) for a in collect_investor_activity(data)}


@pytest.fixture
def window(fund):
    """A day of mail covering every rule; returns a loader for the window (SINCE, UNTIL]."""
    f = fund
    # Inbound from Jane (Acme) to Ada and Tom: one email, two mailboxes.
    f.mail(
        subject="Q3 letter questions",
        sender="jane@acme.example",
        to=["ada@fund.example", "tom@fund.example"],
        sent_at=NOW - 5 * H,
        links=[("acme", "jane", "jane@acme.example")],
    )
    # Outbound from Ada to Jane.
    f.mail(
        subject="Re: Q3 letter questions",
        sender="ada@fund.example",
        to=["jane@acme.example"],
        sent_at=NOW - 4 * H,
        links=[("acme", "jane", "jane@acme.example")],
    )
    # Ben writes to Carl (Beta), copying Ada: outbound at the email level, received in Ada's mailbox.
    f.mail(
        subject="Capital call schedule",
        sender="ben@fund.example",
        to=["carl@beta.example", "ada@fund.example"],
        sent_at=NOW - 3 * H,
        links=[("beta", "carl", "carl@beta.example")],
    )
    # From a soft-deleted investor's contact: never named, the matched address instead.
    f.mail(
        subject="Redemption",
        sender="dan@gone.example",
        to=["tom@fund.example"],
        sent_at=NOW - 2 * H,
        links=[("gone", "dan", "dan@gone.example")],
    )
    # From Acme's soft-deleted contact: Acme is named, the contact falls back to the address.
    f.mail(
        subject="Old thread",
        sender="zed@acme.example",
        to=["ada@fund.example"],
        sent_at=NOW - 2 * H,
        links=[("acme", "zed", "zed@acme.example")],
    )
    # Soft-deleted in its only mailbox: gone from the digest.
    f.mail(
        subject="Deleted everywhere",
        sender="bob@acme.example",
        to=["ada@fund.example"],
        sent_at=NOW - 6 * H,
        links=[("acme", "bob", "bob@acme.example")],
        deleted_in=("ada@fund.example",),
    )
    # Deleted by Ada, still live for Tom: counts for Tom only.
    f.mail(
        subject="Deleted by one",
        sender="bob@acme.example",
        to=["ada@fund.example", "tom@fund.example"],
        sent_at=NOW - 7 * H,
        links=[("acme", "bob", "bob@acme.example")],
        deleted_in=("ada@fund.example",),
    )
    # Held only by a deactivated user's mailbox: not in the digest.
    f.mail(
        subject="Inactive only",
        sender="jane@acme.example",
        to=["ivy@fund.example"],
        sent_at=NOW - 1 * H,
        links=[("acme", "jane", "jane@acme.example")],
    )
    # Bulk mail: left out.
    f.mail(
        subject="Newsletter",
        sender="news@acme.example",
        to=["ada@fund.example"],
        sent_at=NOW - 1 * H,
        links=[("acme", None, "news@acme.example")],
        is_bulk=True,
    )
    # Graveyard investor: listed (history is never hidden), flagged.
    f.mail(
        subject="Still here",
        sender="tess@tomb.example",
        to=["ben@fund.example"],
        sent_at=NOW - 1 * H,
        links=[("tomb", "tess", "tess@tomb.example")],
    )
    # No investor: per user only.
    f.mail(subject="Lunch?", sender="friend@elsewhere.example", to=["ben@fund.example"], sent_at=NOW - 1 * H)
    return lambda since=SINCE, until=UNTIL: load_window(since, until)


def test_every_active_user_with_both_directions_from_their_own_mailbox(window):
    data = window()
    assert users_summary(data) == {
        "ada@fund.example": (1, 3),  # sent the reply; received Jane, Ben's cc, Zed
        "ben@fund.example": (1, 2),  # sent to Carl; received Tess and the unmatched lunch
        "tom@fund.example": (0, 3),  # Jane, Dan, and "Deleted by one" (live in his mailbox)
    }
    assert [a.user.label for a in collect_user_activity(data)] == ["Ada Admin", "Ben Admin", "Tom Teammate"]


def test_by_investor_is_deduped_per_email_with_direction_at_the_email_level(window):
    data = window()
    assert investors_summary(data) == {
        "Acme Capital": (3, 1),  # Jane (once, though two mailboxes hold it), Zed, Bob (Tom's copy); Ada's reply
        "Beta Partners": (0, 1),  # Ben's email is outbound although Ada received it
        "Tomb Fund": (1, 0),
        "dan@gone.example": (1, 0),
    }
    acme = next(a for a in collect_investor_activity(data) if a.name == "Acme Capital")
    jane = next(i for i in acme.items if i.subject == "Q3 letter questions")
    assert jane.team == ("Ada Admin", "Tom Teammate") and jane.direction == "inbound"
    assert [i.subject for i in acme.items] == [
        "Old thread",
        "Re: Q3 letter questions",
        "Q3 letter questions",
        "Deleted by one",
    ]  # newest first


def test_soft_deleted_names_fall_back_to_the_matched_address(window):
    investors = {a.name: a for a in collect_investor_activity(window())}
    assert "Gone LP" not in investors and investors["dan@gone.example"].key == "address:dan@gone.example"
    assert investors["dan@gone.example"].items[0].contacts == ("dan@gone.example",)
    old = next(i for i in investors["Acme Capital"].items if i.subject == "Old thread")
    assert old.contacts == ("zed@acme.example",)
    assert investors["Tomb Fund"].graveyard and not investors["Acme Capital"].graveyard
    assert next(i for i in investors["Acme Capital"].items if i.subject == "Re: Q3 letter questions").contacts == (
        "Jane Doe",
    )


def test_deleted_sightings_inactive_users_and_bulk_mail_are_left_out(window):
    subjects = {e.subject for e in window().emails.values()}
    assert {"Deleted everywhere", "Inactive only", "Newsletter"}.isdisjoint(subjects)
    assert "Deleted by one" in subjects
    tom = next(a for a in collect_user_activity(window()) if a.user.email == "tom@fund.example")
    ada = next(a for a in collect_user_activity(window()) if a.user.email == "ada@fund.example")
    assert "Deleted by one" in {i.subject for i in tom.items} and "Deleted by one" not in {i.subject for i in ada.items}


def test_user_items_name_the_counterpart_and_investors(window):
    ada = next(a for a in collect_user_activity(window()) if a.user.email == "ada@fund.example")
    reply = next(i for i in ada.items if i.direction == "sent")
    assert reply.counterpart == "jane@acme.example" and reply.investors == ("Acme Capital",)
    assert ada.investors == ["Acme Capital", "Beta Partners"]


def test_an_inactive_user_is_not_a_section_and_an_idle_user_is(fund):
    data = load_window(SINCE, UNTIL)
    assert [(a.user.email, a.total) for a in collect_user_activity(data)] == [
        ("ada@fund.example", 0),
        ("ben@fund.example", 0),
        ("tom@fund.example", 0),
    ]
    assert collect_investor_activity(data) == []


def test_window_is_open_at_since_and_closed_at_until(fund):
    fund.mail(subject="at since", sender="jane@acme.example", to=["ada@fund.example"], sent_at=SINCE, captured_at=SINCE)
    fund.mail(subject="at until", sender="jane@acme.example", to=["ada@fund.example"], sent_at=UNTIL)
    fund.mail(
        subject="after until", sender="jane@acme.example", to=["ada@fund.example"], sent_at=UNTIL + timedelta(seconds=1)
    )
    assert {e.subject for e in load_window(SINCE, UNTIL).emails.values()} == {"at until"}


def test_mail_captured_after_the_last_digest_is_not_lost(fund):
    """Sync lags a few minutes: mail sent just before `since` but captured after it belongs to
    this window; mail captured before `since` belonged to the previous one; backfilled old mail
    (older than LATE_CAPTURE) is not news."""
    late = fund.mail(
        subject="late capture",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=SINCE - timedelta(minutes=3),
        captured_at=SINCE + timedelta(minutes=2),
    )
    fund.mail(
        subject="previous window",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=SINCE - timedelta(minutes=3),
        captured_at=SINCE - timedelta(minutes=1),
    )
    fund.mail(
        subject="backfill",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=SINCE - LATE_CAPTURE - timedelta(minutes=1),
        captured_at=NOW - H,
    )
    assert {e.subject for e in load_window(SINCE, UNTIL).emails.values()} == {"late capture"}
    previous = load_window(SINCE - timedelta(hours=24), SINCE)
    assert {e.subject for e in previous.emails.values()} == {"previous window"}
    assert late.id not in previous.emails


def test_contiguous_windows_partition_the_mail(fund):
    """Whatever the capture lag, each email lands in exactly one of a run of contiguous windows."""
    import random

    rng = random.Random(4)
    start = NOW - timedelta(days=5)
    emails = []
    for n in range(120):
        sent = start + timedelta(minutes=rng.randrange(1, 5 * 24 * 60))
        captured = sent + timedelta(minutes=rng.choice([0, 1, 4, 30, 600]))
        if captured <= NOW:
            emails.append(
                fund.mail(
                    subject=f"m{n}",
                    sender="jane@acme.example",
                    to=["ada@fund.example"],
                    sent_at=sent,
                    captured_at=captured,
                ).id
            )
    cuts = [start] + sorted(start + timedelta(minutes=rng.randrange(1, 5 * 24 * 60)) for _ in range(6)) + [NOW]
    seen = []
    for since, until in itertools.pairwise(cuts):
        seen += list(load_window(since, until).emails)
    assert sorted(seen) == sorted(emails)
