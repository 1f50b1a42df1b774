"""The one direction rule, stated: outbound exactly when the sender is a team mailbox."""

from __future__ import annotations

from appsrc.matching.direction import DIRECTIONS, INBOUND, OUTBOUND, direction_of, is_direction

TEAM = frozenset({"ada@fund.example", "bob@fund.example"})


def test_the_sender_decides():
    assert direction_of("ada@fund.example", TEAM) == OUTBOUND == "outbound"
    assert direction_of("jane@acme.example", TEAM) == INBOUND == "inbound"


def test_not_a_mailbox_of_the_team_is_inbound_even_at_the_funds_domain():
    """An alias or a colleague without a mailbox here is not one of the team's mailboxes."""
    assert direction_of("ir@fund.example", TEAM) == INBOUND


def test_no_sender_is_inbound():
    assert direction_of(None, TEAM) == INBOUND
    assert direction_of("", TEAM) == INBOUND
    assert direction_of("ada@fund.example", frozenset()) == INBOUND


def test_the_two_directions_and_nothing_else():
    assert DIRECTIONS == ("inbound", "outbound")
    assert all(is_direction(d) for d in DIRECTIONS)
    assert not any(is_direction(d) for d in ("", None, "sent", "Outbound", "in"))
