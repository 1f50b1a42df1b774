"""The matcher is pure: every rule tested on plain values."""

import pytest

from appsrc.matching.matcher import MATCHES_LIMIT, ContactRef, Directory, match, match_key

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
