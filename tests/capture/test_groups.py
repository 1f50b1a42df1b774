"""Investor mail that reaches the team through the fund's own groups and aliases (ir@fund.com).

Such mail carries every mailing-list header, yet it is person-to-person: an LP writing to the IR
address. Where the line between bulk and not-bulk runs is held by a table of header sets, read by
the real parser and decided by the matcher's one rule; then the whole path, through the Gmail
simulator, for the shapes Google Groups really produces.
"""

from __future__ import annotations

import pytest

from appsrc.capture.parser import parse_email
from appsrc.crm.investors import create_investor
from appsrc.crm.users import add_user
from appsrc.matching.matcher import Directory, bulk_reason
from appsrc.store.models import ActivityProposal, Email, EmailAccountMessage
from tests.capture.conftest import make_runtime

FUND = Directory(own_domains=frozenset({"fund.com", "fund-partners.com"}))

# What a Google Workspace group adds to each message it relays (group ir@fund.com).
OWN_GROUP = {
    "List-Id": "Investor Relations <ir.fund.com>",
    "List-Post": "<https://groups.google.com/a/fund.com/group/ir/post>, <mailto:ir@fund.com>",
    "List-Help": "<https://support.google.com/a/fund.com/bin/topic.py?topic=25838>, <mailto:ir+help@fund.com>",
    "List-Archive": "<https://groups.google.com/a/fund.com/group/ir/>",
    "List-Unsubscribe": "<mailto:googlegroups-manage+52671+unsubscribe@googlegroups.com>, "
    "<https://groups.google.com/a/fund.com/group/ir/subscribe>",
    "Mailing-list": "list ir@fund.com; contact ir+owners@fund.com",
    "Precedence": "list",
    "X-Google-Group-Id": "526718491234",
}
# ...and when the sender's domain forbids forwarding under its name (DMARC p=reject).
DMARC_REWRITE = {
    "From": "'Gil Moss' via Investor Relations <ir@fund.com>",
    "Reply-To": "Gil Moss <gil.moss@meridian-capital.com>",
    "X-Original-Sender": "gil.moss@meridian-capital.com",
    "X-Original-From": "Gil Moss <gil.moss@meridian-capital.com>",
}
PUBLIC_GOOGLE_GROUP = {
    "List-Id": "<lp-forum.googlegroups.com>",
    "List-Post": "<https://groups.google.com/group/lp-forum/post>, <mailto:lp-forum@googlegroups.com>",
    "Mailing-list": "list lp-forum@googlegroups.com; contact lp-forum+owners@googlegroups.com",
    "Precedence": "list",
    "X-Google-Group-Id": "9988776655",
    "List-Unsubscribe": "<mailto:lp-forum+unsubscribe@googlegroups.com>",
}
NEWSLETTER = {
    "List-Id": "PitchBook Daily <daily.news.pitchbook.com>",
    "List-Unsubscribe": "<https://news.pitchbook.com/u?id=8f2e>",
}
ESP_ONE_CLICK = {
    "List-Unsubscribe": "<https://fund.us21.list-manage.com/unsubscribe?u=ab12&id=cd34>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def message(headers: dict[str, str]) -> bytes:
    base = {
        "From": "Gil Moss <gil.moss@meridian-capital.com>",
        "To": "Investor Relations <ir@fund.com>",
        "Subject": "Capital call notice",
        "Message-ID": "<call-7@meridian-capital.com>",
        "Date": "Mon, 02 Nov 2026 09:00:00 +0000",
    }
    merged = {**base, **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in merged.items() if value is not None)
    return (head + "\r\nPlease confirm receipt.\r\n").encode()


@pytest.mark.parametrize(
    ("case", "headers", "expected_reason", "expected_from"),
    [
        ("person to person", {}, None, "gil.moss@meridian-capital.com"),
        ("our own group", OWN_GROUP, None, "gil.moss@meridian-capital.com"),
        ("our own group, DMARC-rewritten", {**OWN_GROUP, **DMARC_REWRITE}, None, "gil.moss@meridian-capital.com"),
        (
            "our own group on another of our domains",
            {"List-Id": "<lps.fund-partners.com>", "Precedence": "list"},
            None,
            "gil.moss@meridian-capital.com",
        ),
        (
            "our own alias, List-Unsubscribe only",
            {"List-Unsubscribe": "<mailto:ir+unsubscribe@fund.com>"},
            None,
            "gil.moss@meridian-capital.com",
        ),
        ("a Google Group at googlegroups.com", PUBLIC_GOOGLE_GROUP, "precedence:list", "gil.moss@meridian-capital.com"),
        ("a third-party newsletter", NEWSLETTER, "list-id", "gil.moss@meridian-capital.com"),
        (
            "Precedence: bulk, even through our group",
            {**OWN_GROUP, "Precedence": "bulk"},
            "precedence:bulk",
            "gil.moss@meridian-capital.com",
        ),
        ("an ESP's one-click unsubscribe", ESP_ONE_CLICK, "list-unsubscribe-post", "gil.moss@meridian-capital.com"),
        (
            "an ESP's one-click unsubscribe, through our group",
            {**OWN_GROUP, **ESP_ONE_CLICK},
            "list-unsubscribe-post",
            "gil.moss@meridian-capital.com",
        ),
        (
            "an auto-reply through our group",
            {**OWN_GROUP, "Auto-Submitted": "auto-replied"},
            "auto-submitted:auto-replied",
            "gil.moss@meridian-capital.com",
        ),
        (
            "a list whose id only ends like ours",
            {"List-Id": "<ir.fund.com.lists.example.net>", "Precedence": "list"},
            "precedence:list",
            "gil.moss@meridian-capital.com",
        ),
        (
            "a public group, DMARC-rewritten: still its author, still bulk",
            {
                **PUBLIC_GOOGLE_GROUP,
                "From": "'Gil Moss' via LP Forum <lp-forum@googlegroups.com>",
                "X-Original-Sender": "gil.moss@meridian-capital.com",
            },
            "precedence:list",
            "gil.moss@meridian-capital.com",
        ),
        (
            "X-Original-Sender without a list rewrite is not trusted",
            {"From": "Gil Moss <gil.moss@meridian-capital.com>", "X-Original-Sender": "someone@else.example"},
            None,
            "gil.moss@meridian-capital.com",
        ),
    ],
)
def test_bulk_or_person_to_person(case, headers, expected_reason, expected_from):
    parsed = parse_email(message(headers))
    assert bulk_reason(parsed.bulk_reason, parsed.list_domain, FUND) == expected_reason, case
    assert parsed.from_addr.email == expected_from, case


def test_a_dmarc_rewritten_sender_keeps_their_name():
    parsed = parse_email(message({**OWN_GROUP, **DMARC_REWRITE, "Reply-To": None}))
    assert (parsed.from_addr.email, parsed.from_addr.name) == ("gil.moss@meridian-capital.com", "Gil Moss")
    assert [a.email for a in parsed.to] == ["ir@fund.com"]  # the group stays where it was


def test_without_own_domains_a_group_is_a_list_like_any_other():
    parsed = parse_email(message(OWN_GROUP))
    assert parsed.list_domain == "ir.fund.com"
    assert bulk_reason(parsed.bulk_reason, parsed.list_domain, Directory()) == "precedence:list"


# --- the whole path ----------------------------------------------------------------------------

ALICE, BOB = "alice@fund.com", "bob@fund.com"


@pytest.fixture
def desk(sim, tmp_path):
    """Two teammates in the IR group, Meridian Capital an investor."""
    for address in (ALICE, BOB):
        sim.add_mailbox(address)
    runtime = make_runtime(sim, tmp_path, CRM_OWN_DOMAINS="fund.com")
    now = runtime.clock.now()
    add_user(ALICE, "Alice Martin", now, is_admin=True)
    add_user(BOB, "Bob Stone", now)
    create_investor("Meridian Capital", ["meridian-capital.com"], now, directory=runtime.directory)
    yield runtime
    runtime.close()


def email_ids(**filters) -> list[int]:
    """What the activity search (the dashboard's and the API's) lists."""
    from appsrc.store import queries

    return [item["email_id"] for item in queries.email_activity(**filters)["items"]]


def sync_all(runtime) -> None:
    from appsrc.store.models import EmailAccount

    for account_id in [account.id for account in EmailAccount.select()]:
        report = runtime.mailbox_sync.sync(account_id)
        assert report.ok, report.error


def test_an_lp_writing_to_the_group_is_one_inbound_email_proposed_once(desk, sim):
    raw = message({**OWN_GROUP, **DMARC_REWRITE})
    for address in (ALICE, BOB):  # the group delivers a copy to each member
        sim.insert_message(address, raw)
    sync_all(desk)

    (email,) = Email.select()
    assert (email.from_email, email.from_name, email.is_bulk) == ("gil.moss@meridian-capital.com", "Gil Moss", False)
    assert EmailAccountMessage.select().where(EmailAccountMessage.email == email).count() == 2
    (proposal,) = ActivityProposal.select()
    assert (proposal.email_id, proposal.address) == (email.id, "gil.moss@meridian-capital.com")
    assert proposal.investor.name == "Meridian Capital"
    assert email_ids(direction="inbound") == [email.id]


def test_a_teammate_writing_through_the_group_is_outbound(desk, sim):
    sent = message(
        {
            "From": "Alice Martin <alice@fund.com>",
            "To": "Gil Moss <gil.moss@meridian-capital.com>",
            "Cc": "Investor Relations <ir@fund.com>",
            "Message-ID": "<reply-8@fund.com>",
        }
    )
    relayed = message(
        {
            **OWN_GROUP,
            "From": "'Alice Martin' via Investor Relations <ir@fund.com>",
            "X-Original-Sender": "alice@fund.com",
            "To": "Gil Moss <gil.moss@meridian-capital.com>",
            "Cc": "Investor Relations <ir@fund.com>",
            "Message-ID": "<reply-8@fund.com>",
        }
    )
    sim.insert_message(ALICE, sent, label_ids=("SENT",))
    sim.insert_message(BOB, relayed)
    sync_all(desk)

    (email,) = Email.select()
    assert (email.from_email, email.is_bulk) == ("alice@fund.com", False)
    assert EmailAccountMessage.select().count() == 2
    assert ActivityProposal.select().count() == 1

    assert email_ids(direction="outbound") == [email.id]


def test_mail_through_our_group_reaches_the_digest_and_a_newsletter_does_not(desk, sim):
    """The digest leaves bulk out: mail through the fund's own group is not bulk, so it counts."""
    from datetime import timedelta
    from email.utils import format_datetime

    from appsrc.digest.builder import build_digest

    now = desk.clock.now()
    sent = format_datetime(now - timedelta(hours=2))
    for address in (ALICE, BOB):
        sim.insert_message(address, message({**OWN_GROUP, **DMARC_REWRITE, "Date": sent}))
    sim.insert_message(
        ALICE,
        message(
            {
                **NEWSLETTER,
                "Date": sent,
                "From": "PitchBook <news@meridian-capital.com>",
                "To": ALICE,
                "Message-ID": "<daily-1@pitchbook.com>",
            }
        ),
    )
    sync_all(desk)
    assert Email.select().where(Email.is_bulk).count() == 1  # the newsletter, stored as bulk

    digest = build_digest(desk.db, now - timedelta(days=1), desk.clock.now())
    assert (digest["email_count"], digest["investor_count"], digest["user_count"]) == (1, 1, 2)
    assert "Meridian Capital" in digest["body"] and "Capital call notice" in digest["body"]
    assert "PitchBook" not in digest["body"]
