"""The matcher is pure: every rule tested on plain values."""

from datetime import UTC, datetime, timedelta

import pytest

from appsrc.matching.matcher import (
    MATCHES_LIMIT,
    RETURN_KIND,
    ContactRef,
    Directory,
    domain_of,
    is_free_mail,
    match,
    match_key,
    parent_domains,
    returning_proposals,
)

ACME, BETA, DEAD = 1, 2, 3

DIRECTORY = Directory(
    own_domains=frozenset({"fund.example"}),
    own_addresses=frozenset({"alice@fund.example", "bob@fund.example", "carol@partner-mail.example"}),
    contacts={
        match_key("jane@acme.example"): ContactRef(11, ACME),
        match_key("jane.doe@gmail.com"): ContactRef(12, ACME),  # a contact on free mail
        match_key("omar@beta.example"): ContactRef(21, BETA),
        match_key("zed@dead.example"): ContactRef(31, DEAD),
    },
    investor_domains={"acme.example": ACME, "beta.example": BETA, "dead.example": DEAD, "gmail.com": 99},
    graveyard=frozenset({DEAD}),
    excluded_addresses=frozenset({match_key("hr@fund-lawyers.example")}),
    excluded_domains=frozenset({"doctor.example"}),
)


def m(*pairs, bulk=False):
    return match(list(pairs), DIRECTORY, is_bulk=bulk)


def test_contact_by_exact_address_links_and_proposes():
    result = m(("from", "jane@acme.example"), ("to", "alice@fund.example"))
    assert result.verdict == "capture"
    assert [(link.investor_id, link.contact_id, link.address) for link in result.links] == [
        (ACME, 11, "jane@acme.example")
    ]
    assert [p.target_key for p in result.proposals] == ["contact:11"]


def test_free_mail_contact_found_by_address_gmail_dots_and_tags_ignored():
    result = m(("from", "janedoe+lp@gmail.com"), ("to", "bob@fund.example"))
    assert [(link.investor_id, link.contact_id) for link in result.links] == [(ACME, 12)]


def test_free_mail_domain_never_identifies_an_investor():
    result = m(("from", "stranger@gmail.com"), ("to", "bob@fund.example"))
    assert result.verdict == "capture" and result.links == () and result.proposals == ()


def test_unknown_sender_at_investor_domain_and_subdomain_proposes_the_address():
    result = m(("from", "new.person@mail.acme.example"), ("to", "alice@fund.example"))
    assert [(link.investor_id, link.contact_id) for link in result.links] == [(ACME, None)]
    assert [p.target_key for p in result.proposals] == ["address:new.person@mail.acme.example"]


def test_internal_only_mail_is_not_captured_including_team_mailboxes_on_other_domains():
    assert (
        m(("from", "alice@fund.example"), ("to", "bob@fund.example"), ("cc", "carol@partner-mail.example")).verdict
        == "internal"
    )
    assert m(("from", "alice@sub.fund.example"), ("to", "bob@fund.example")).verdict == "internal"


def test_excluded_address_or_domain_drops_the_whole_email():
    result = m(("from", "jane@acme.example"), ("cc", "HR+x@fund-lawyers.example"))
    assert result.verdict == "excluded" and result.links == ()
    assert m(("from", "x@clinic.doctor.example"), ("to", "alice@fund.example")).verdict == "excluded"


def test_bulk_mail_links_but_never_proposes():
    result = m(("from", "news@acme.example"), ("to", "alice@fund.example"), bulk=True)
    assert [link.investor_id for link in result.links] == [ACME] and result.proposals == ()


def test_graveyard_investor_is_linked_not_proposed():
    result = m(("from", "zed@dead.example"), ("to", "alice@fund.example"))
    assert [link.investor_id for link in result.links] == [DEAD] and result.proposals == ()


def test_one_proposal_per_contact_and_one_link_per_investor_preferring_a_contact():
    result = m(
        ("from", "alice@fund.example"),
        ("to", "someone@acme.example"),
        ("to", "jane@acme.example"),
        ("cc", "omar@beta.example"),
        ("cc", "JANE@acme.example"),
    )
    links = {link.investor_id: (link.contact_id, link.address) for link in result.links}
    assert links == {ACME: (11, "jane@acme.example"), BETA: (21, "omar@beta.example")}
    assert sorted(p.target_key for p in result.proposals) == [
        "address:someone@acme.example",
        "contact:11",
        "contact:21",
    ]


@pytest.mark.parametrize(
    "a, b",
    [
        ("Jane.Doe@GMail.com", "janedoe@googlemail.com"),
        ("jane+news@acme.example", "JANE@acme.example"),
    ],
)
def test_match_key_equivalences(a, b):
    assert match_key(a) == match_key(b)


def test_dots_matter_outside_gmail():
    assert match_key("jane.doe@acme.example") != match_key("janedoe@acme.example")


def test_memoized_matches_stay_bounded_and_right_beyond_the_bound():
    """A sync's directory memoizes whole participant sets: a mailbox writing to ever new people
    must not grow it without end, and answers past the bound are still computed."""
    directory = Directory(own_domains=frozenset({"fund.example"}), investor_domains={"acme.example": ACME})
    for n in range(MATCHES_LIMIT + 50):
        result = match((("from", f"p{n}@acme.example"), ("to", "alice@fund.example")), directory, is_bulk=False)
        assert [p.address for p in result.proposals] == [f"p{n}@acme.example"]
    assert len(directory._matches) == MATCHES_LIMIT


# The rules again, each on a directory of its own. A directory memoizes its answers, so a
# module-wide one answers later tests from what earlier ones (or an earlier run in the same
# process) computed; a fresh snapshot per test makes every rule decide for itself.

OLDFO, GONE = 4, 5
TEAM = "ada@fund.example"


def fund(**changes) -> Directory:
    """A fresh snapshot of who is who: Acme and Beta live, Old FO and Gone in the graveyard."""
    values = {
        "own_domains": frozenset({"fund.example"}),
        "own_addresses": frozenset({TEAM, "ir-desk@fund-ops.example"}),
        "contacts": {
            match_key("jane@acme.example"): ContactRef(11, ACME),
            match_key("john@acme.example"): ContactRef(13, ACME),
            match_key("jane.doe@gmail.com"): ContactRef(12, ACME),
            match_key("omar@beta.example"): ContactRef(21, BETA),
            match_key("lena@beta.example"): ContactRef(14, ACME),  # moved to Acme, kept her old address
            match_key("max@oldfo.example"): ContactRef(41, OLDFO),
        },
        "investor_domains": {"acme.example": ACME, "beta.example": BETA, "oldfo.example": OLDFO, "gone.example": GONE},
        "graveyard": frozenset({OLDFO, GONE}),
        "excluded_addresses": frozenset({match_key("hr@fund-lawyers.example")}),
        "excluded_domains": frozenset({"doctor.example"}),
    }
    values.update(changes)
    return Directory(**values)


def links_of(result):
    return [(link.investor_id, link.contact_id, link.address) for link in result.links]


def proposals_of(result):
    return [(p.investor_id, p.contact_id, p.address, p.kind) for p in result.proposals]


def test_rule_a_contact_is_found_by_address_on_free_mail_too_and_is_linked_and_proposed():
    """A contact's address is theirs wherever it lives: Gmail dots, +tags and case don't matter."""
    result = match((("from", "JaneDoe+lp@googlemail.com"), ("to", TEAM)), fund(), is_bulk=False)
    assert result.verdict == "capture"
    assert links_of(result) == [(ACME, 12, "JaneDoe+lp@googlemail.com")]
    assert proposals_of(result) == [(ACME, 12, "JaneDoe+lp@googlemail.com", "email")]
    assert [p.target_key for p in result.proposals] == ["contact:12"]


def test_rule_a_contact_belongs_to_their_investor_whatever_the_domain_says():
    """Lena moved from Beta to Acme and still writes from beta.example: her mail is Acme's."""
    result = match((("from", "lena@beta.example"), ("to", TEAM)), fund(), is_bulk=False)
    assert links_of(result) == [(ACME, 14, "lena@beta.example")]
    assert [p.target_key for p in result.proposals] == ["contact:14"]


def test_rule_an_unknown_address_is_found_by_its_domain_or_a_parent_domain_never_by_free_mail():
    result = match(
        (("from", "new.person@eu.mail.acme.example"), ("to", TEAM), ("cc", "someone@gmail.com")),
        fund(investor_domains={"acme.example": ACME, "gmail.com": 99}),
        is_bulk=False,
    )
    assert result.verdict == "capture"
    assert links_of(result) == [(ACME, None, "new.person@eu.mail.acme.example")]
    assert [p.target_key for p in result.proposals] == ["address:new.person@eu.mail.acme.example"]


def test_rule_strangers_on_the_mail_do_not_hide_the_investors_on_it():
    """Someone we don't know sending first does not stop the known people after them from matching."""
    result = match(
        (("from", "stranger@gmail.com"), ("to", "nobody@elsewhere.example"), ("cc", "jane@acme.example")),
        fund(),
        is_bulk=False,
    )
    assert result.verdict == "capture"
    assert links_of(result) == [(ACME, 11, "jane@acme.example")]
    assert [p.target_key for p in result.proposals] == ["contact:11"]


def test_rule_mail_among_our_own_domains_and_team_mailboxes_is_internal():
    """A team mailbox on another domain is one of ours too; one outsider makes the mail capturable."""
    directory = fund()
    internal = match(
        (("from", TEAM), ("to", "ir-desk@fund-ops.example"), ("cc", "x@eu.fund.example")), directory, is_bulk=False
    )
    assert internal.verdict == "internal"
    assert internal.links == () and internal.proposals == ()
    with_outsider = match(
        (("from", TEAM), ("to", "ir-desk@fund-ops.example"), ("cc", "max@acme.example")), directory, is_bulk=False
    )
    assert with_outsider.verdict == "capture"


@pytest.mark.parametrize(
    "excluded",
    ["hr@fund-lawyers.example", "hr+case7@fund-lawyers.example", "dr.who@clinic.doctor.example"],
)
def test_rule_mail_involving_an_excluded_address_or_domain_is_not_captured_and_says_why(excluded):
    """An exclusion wins over everything else on the mail, even a contact or our own people only."""
    for others in ((("from", "jane@acme.example"), ("to", TEAM)), (("from", TEAM),)):
        result = match((*others, ("bcc", excluded)), fund(), is_bulk=False)
        assert result.verdict == "excluded"
        assert result.excluded_by == excluded
        assert result.links == () and result.proposals == ()


@pytest.mark.parametrize(
    "earlier, later",
    [("from", "reply_to"), ("reply_to", "to"), ("to", "cc"), ("cc", "bcc"), ("from", "bcc")],
)
def test_rule_role_order_decides_which_address_a_link_keeps(earlier, later):
    """from, reply_to, to, cc, bcc: the link keeps the address in the earliest role, whatever the
    order the headers came in or the addresses' spelling."""
    participants = ((later, "aaron@acme.example"), (earlier, "zoe@acme.example"), ("to", TEAM))
    result = match(participants, fund(), is_bulk=False)
    assert links_of(result) == [(ACME, None, "zoe@acme.example")]


def test_rule_role_order_also_decides_between_two_contacts_of_one_investor():
    result = match((("cc", "jane@acme.example"), ("from", "john@acme.example"), ("to", TEAM)), fund(), is_bulk=False)
    assert links_of(result) == [(ACME, 13, "john@acme.example")]


def test_rule_a_contact_beats_a_domain_match_for_the_link():
    """Even when the unknown colleague comes first in role order, the link names the contact."""
    result = match(
        (("from", "assistant@acme.example"), ("cc", "jane@acme.example"), ("to", TEAM)), fund(), is_bulk=False
    )
    assert links_of(result) == [(ACME, 11, "jane@acme.example")]


def test_rule_one_link_per_investor_and_one_proposal_per_contact_or_address():
    """A contact seen under two spellings is proposed once; an address seen in two roles once;
    every distinct person is proposed."""
    result = match(
        (
            ("from", "jane+deals@acme.example"),
            ("to", "jane@acme.example"),
            ("to", "assistant@acme.example"),
            ("cc", "assistant@acme.example"),
            ("cc", "omar@beta.example"),
            ("bcc", TEAM),
        ),
        fund(),
        is_bulk=False,
    )
    assert links_of(result) == [(ACME, 11, "jane+deals@acme.example"), (BETA, 21, "omar@beta.example")]
    assert sorted((p.target_key, p.investor_id, p.contact_id) for p in result.proposals) == [
        ("address:assistant@acme.example", ACME, None),
        ("contact:11", ACME, 11),
        ("contact:21", BETA, 21),
    ]


def test_rule_bulk_mail_links_every_investor_on_it_but_proposes_none():
    result = match(
        (("from", "news@acme.example"), ("to", TEAM), ("cc", "omar@beta.example"), ("cc", "jane@acme.example")),
        fund(),
        is_bulk=True,
    )
    assert result.verdict == "capture"
    assert links_of(result) == [(ACME, 11, "jane@acme.example"), (BETA, 21, "omar@beta.example")]
    assert result.proposals == () and result.returning == ()


def test_rule_graveyard_investors_who_write_again_each_return_as_who_they_are():
    """Mail *from* graveyard investors is their return, one per sender and naming the contact;
    a graveyard investor merely copied is not back."""
    directory = fund(graveyard_since={OLDFO: datetime(2026, 1, 1, tzinfo=UTC), GONE: None})
    result = match(
        (("from", "max@oldfo.example"), ("from", "kim@gone.example"), ("to", TEAM), ("cc", "ex@gone.example")),
        directory,
        is_bulk=False,
    )
    assert result.proposals == ()
    back = returning_proposals(result, datetime(2026, 6, 1, tzinfo=UTC), directory)
    assert proposals_of(back) == [
        (GONE, None, "kim@gone.example", RETURN_KIND),
        (OLDFO, 41, "max@oldfo.example", RETURN_KIND),
    ]
    assert sorted(link.investor_id for link in back.links) == [OLDFO, GONE]


def test_rule_only_mail_sent_after_the_move_to_the_graveyard_is_a_return():
    """Mail stamped the very moment they were moved is still their old history."""
    moved = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    directory = fund(graveyard_since={OLDFO: moved})
    result = match((("from", "max@oldfo.example"), ("to", TEAM)), directory, is_bulk=False)
    assert returning_proposals(result, moved, directory).proposals == ()
    assert [p.kind for p in returning_proposals(result, moved + timedelta(seconds=1), directory).proposals] == [
        RETURN_KIND
    ]


def test_rule_remembered_answers_never_change_them():
    """The same mail asked again, or asked as bulk, or asked of a newer snapshot: the right answer each time."""
    participants = (("from", "pat@acme.example"), ("to", TEAM))
    before = fund()
    first = match(participants, before, is_bulk=False)
    assert match(participants, before, is_bulk=False) == first
    assert [p.target_key for p in first.proposals] == ["address:pat@acme.example"]
    assert match(participants, before, is_bulk=True).proposals == ()
    after = fund(contacts={match_key("pat@acme.example"): ContactRef(15, ACME)})
    assert [p.target_key for p in match(participants, after, is_bulk=False).proposals] == ["contact:15"]
    assert [p.target_key for p in match(participants, before, is_bulk=False).proposals] == ["address:pat@acme.example"]


def test_rule_a_domain_is_what_follows_the_last_at_in_lower_case():
    assert domain_of("Jane@Mail.ACME.example") == "mail.acme.example"
    assert domain_of('"jane@home"@acme.example') == "acme.example"


def test_rule_parent_domains_climb_to_the_registered_domain_never_the_top_level_label():
    """A fully qualified name (trailing dot) and any case are the same domain."""
    assert list(parent_domains("EU.Mail.Acme.example.")) == [
        "eu.mail.acme.example",
        "mail.acme.example",
        "acme.example",
    ]
    assert list(parent_domains("acme.example")) == ["acme.example"]
    assert list(parent_domains("localhost")) == []


def test_rule_free_mail_is_free_mail_in_any_case():
    assert is_free_mail("GMail.com") and is_free_mail("gmail.com") and is_free_mail("Outlook.FR")
    assert not is_free_mail("acme.example")
