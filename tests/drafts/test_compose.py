"""Reply-all recipients, composed (pure): who goes in To, who in Cc, and who not at all. The
captured addresses reach compose lower-cased by the parser, but compose must not rely on it."""

from __future__ import annotations

from appsrc.crm.compose import reply_recipients

ALICE = "alice@fund.example"


def recipients(*, from_=None, reply_to=(), to=(), cc=(), mailbox=ALICE, team=(ALICE,), own_domains=("fund.example",)):
    people = reply_recipients(
        from_=from_,
        reply_to=[{"email": a} for a in reply_to],
        to=[{"email": a} for a in to],
        cc=[{"email": a} for a in cc],
        mailbox=mailbox,
        team=team,
        own_domains=own_domains,
    )
    return [p.email for p in people.to], [p.email for p in people.cc]


def test_addresses_differing_only_in_case_appear_once_and_never_the_replying_mailbox():
    assert recipients(
        from_={"email": "Jane@Acme.example", "name": "Jane"},
        to=["ALICE@Fund.Example", "jane@ACME.example", "Joe@acme.example"],
        cc=["JOE@ACME.EXAMPLE", "alice@fund.example"],
        mailbox="Alice@FUND.example",
    ) == (["Jane@Acme.example", "Joe@acme.example"], [])


def test_reply_to_in_another_case_than_a_later_to():
    assert recipients(
        from_={"email": "jane@acme.example"},
        reply_to=["IR@Acme.Example"],
        to=[ALICE, "ir@acme.example"],
        cc=["ir@ACME.example"],
    ) == (["IR@Acme.Example"], [])


def test_every_own_domain_address_is_a_teammate_in_cc():
    """Groups, aliases and teammates without a mailbox here, at an own domain or a subdomain of one;
    a mailbox of ours at another domain is ours too (in any case)."""
    to, cc = recipients(
        from_={"email": "jane@acme.example"},
        to=["IR@fund.example", ALICE, "ops@mail.fund.example", "pat@partners.example"],
        cc=["dave@FUND.example", "joe@acme.example", "someone@notfund.example"],
        team=(ALICE, "Pat@Partners.example"),
    )
    assert to == ["jane@acme.example"]
    assert cc == [
        "IR@fund.example",
        "ops@mail.fund.example",
        "pat@partners.example",
        "dave@FUND.example",
        "joe@acme.example",
        "someone@notfund.example",
    ]


def test_replying_to_our_own_message_addresses_whoever_we_wrote_to():
    assert recipients(
        from_={"email": "ALICE@fund.example"}, to=["ir@fund.example", "jane@acme.example"], cc=["bob@fund.example"]
    ) == (["jane@acme.example"], ["ir@fund.example", "bob@fund.example"])


def test_when_only_teammates_are_left_the_first_leads():
    assert recipients(from_={"email": "bob@fund.example"}, to=[ALICE, "ir@fund.example"]) == (
        ["bob@fund.example"],
        ["ir@fund.example"],
    )


def test_replying_to_our_own_message_ignores_a_reply_to_we_set_ourselves():
    """Our own message is answered to whoever we wrote to, even when its Reply-To named us and
    someone else: the reply continues our conversation, it does not follow our own header."""
    assert recipients(from_={"email": ALICE}, reply_to=[ALICE, "desk@acme.example"], to=["jane@acme.example"]) == (
        ["jane@acme.example"],
        [],
    )


def test_when_everyone_left_is_in_cc_the_first_external_leads():
    """Not the first in Cc: a teammate before them stays in Cc, the investor is addressed."""
    assert recipients(from_={"email": "bob@fund.example"}, to=[ALICE], cc=["ir@fund.example", "jane@acme.example"]) == (
        ["jane@acme.example"],
        ["bob@fund.example", "ir@fund.example"],
    )
    assert recipients(from_={"email": ALICE}, cc=["ir@fund.example", "jane@acme.example"]) == (
        ["jane@acme.example"],
        ["ir@fund.example"],
    )


def test_a_team_mailbox_at_another_domain_never_leads_over_an_investor():
    assert recipients(
        from_={"email": ALICE}, cc=["Pat@Partners.example", "jane@acme.example"], team=(ALICE, "pat@partners.example")
    ) == (["jane@acme.example"], ["Pat@Partners.example"])


def test_names_travel_with_their_addresses_and_blank_rows_are_dropped():
    people = reply_recipients(
        from_={"email": " jane@acme.example ", "name": " Jane Roe "},
        reply_to=[],
        to=[
            {"email": ALICE, "name": "Alice"},
            {"name": "Undisclosed recipients"},
            {},
            {"email": "  "},
            {"email": "joe@acme.example", "name": None},
            {"email": "max@acme.example"},
        ],
        cc=[{"email": "ir@fund.example", "name": "IR desk"}],
        mailbox=ALICE,
        team=(ALICE,),
        own_domains=("fund.example",),
    )
    assert [(p.email, p.name) for p in people.to] == [
        ("jane@acme.example", "Jane Roe"),
        ("joe@acme.example", ""),
        ("max@acme.example", ""),
    ]
    assert [(p.email, p.name) for p in people.cc] == [("ir@fund.example", "IR desk")]


def test_a_reply_to_at_another_domain_is_named_for_a_warning():
    """ "Reply to my new address" is how payment fraud starts: a Reply-To outside the sender's
    domain (a subdomain of it is the same family) is flagged for the person drafting."""
    from appsrc.crm.compose import reply_to_elsewhere

    jane = {"email": "jane@acme.example"}
    assert reply_to_elsewhere(jane, [{"email": "jane.acme@gmail.com"}, {"email": "ir@acme.example"}]) == [
        "jane.acme@gmail.com"
    ]
    assert reply_to_elsewhere(jane, [{"email": "desk@lp.acme.example"}]) == []
    assert reply_to_elsewhere({"email": "jane@lp.acme.example"}, [{"email": "ir@acme.example"}]) == []
    assert reply_to_elsewhere(jane, []) == [] and reply_to_elsewhere(None, [{"email": "x@y.example"}]) == []
