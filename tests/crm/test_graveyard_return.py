"""An investor in the graveyard who writes to the team again is news, not noise: their new mail
becomes a proposal marked as their return and a line in the digest, while their old history stays
quiet and the pickers still hide them."""

from __future__ import annotations

from datetime import timedelta

from appsrc.crm.investors import import_investors_csv, update_investor
from appsrc.crm.rematch import rematch
from appsrc.digest.builder import build_digest
from appsrc.matching.matcher import RETURN_KIND, Directory, match, returning_proposals
from appsrc.store import queries
from appsrc.store.db import database
from appsrc.store.models import Investor
from tests.crm.fixtures import *

ADA = "ada@fund.example"


def test_the_rule_a_graveyard_investor_is_back_when_they_send_after_the_move(clock):
    now = clock.now()
    directory = Directory(
        own_domains=frozenset({"fund.example"}),
        investor_domains={"oldfo.example": 7},
        graveyard=frozenset({7}),
        graveyard_since={7: now},
    )
    inbound = match((("from", "max@oldfo.example"), ("to", ADA)), directory, is_bulk=False)
    assert inbound.proposals == ()
    assert [(p.address, p.kind) for p in inbound.returning] == [("max@oldfo.example", RETURN_KIND)]
    after = returning_proposals(inbound, now + timedelta(minutes=1), directory)
    assert [(p.investor_id, p.kind) for p in after.proposals] == [(7, RETURN_KIND)]
    assert returning_proposals(inbound, now - timedelta(days=90), directory).proposals == ()
    outbound = match((("from", ADA), ("to", "max@oldfo.example")), directory, is_bulk=False)
    assert outbound.returning == ()  # the team writing to them is not their return
    newsletter = match((("from", "max@oldfo.example"), ("to", ADA)), directory, is_bulk=True)
    assert newsletter.returning == ()


def test_their_new_mail_is_proposed_and_marked_their_old_mail_is_not(world):
    oldfo = world.investor("Old Family Office", "oldfo.example", graveyard=True)
    old = world.email("Back in 2024", "max@oldfo.example", [ADA], sent_at=world.now - timedelta(days=400))
    new = world.email("We would like to re-up", "max@oldfo.example", [ADA], sent_at=world.now + timedelta(days=2))
    assert world.proposals_of(old) == []
    (proposal,) = world.proposals_of(new)
    assert (proposal.investor_id, proposal.kind, proposal.status) == (oldfo.id, RETURN_KIND, "pending")
    row = queries.proposal(proposal.id)
    assert row["kind"] == RETURN_KIND
    assert [p["id"] for p in queries.proposal_queue()["items"]] == [proposal.id]

    # A rematch keeps it; the pickers still hide the investor.
    rematch(world.directory, world.now, everything=True)
    assert [p.kind for p in world.proposals_of(new)] == [RETURN_KIND]
    assert oldfo.id not in [i["id"] for i in queries.list_investors(include_graveyard=False)]


def test_the_move_into_the_graveyard_starts_the_clock(world):
    acme = world.investor("Acme Capital", "acme.example")
    before = world.email("Before the move", "jane@acme.example", [ADA], sent_at=world.now - timedelta(days=1))
    later = world.now + timedelta(days=30)
    update_investor(acme.id, later, directory=world.directory, graveyard=True, actor=world.ada)
    assert [p for p in world.proposals_of(before) if p.status == "pending"] == []
    assert Investor.get_by_id(acme.id).graveyard_since == later
    after = world.email("After the move", "jane@acme.example", [ADA], sent_at=later + timedelta(hours=1))
    assert [p.kind for p in world.proposals_of(after)] == [RETURN_KIND]
    update_investor(acme.id, later, directory=world.directory, graveyard=False, actor=world.ada)
    assert Investor.get_by_id(acme.id).graveyard_since is None


def test_out_of_the_graveyard_a_return_proposal_becomes_an_ordinary_one(world):
    oldfo = world.investor("Old Family Office", "oldfo.example", graveyard=True)
    new = world.email("We would like to re-up", "max@oldfo.example", [ADA], sent_at=world.now + timedelta(days=2))
    assert [p.kind for p in world.proposals_of(new)] == [RETURN_KIND]
    update_investor(oldfo.id, world.now, directory=world.directory, graveyard=False, actor=world.ada)
    assert [(p.kind, p.status) for p in world.proposals_of(new)] == [("email", "pending")]


def test_an_import_into_the_graveyard_starts_the_clock_too(world):
    import_investors_csv(
        "investor,domains,graveyard,contact_name,contact_email\nOld Family Office,oldfo.example,1,,\n",
        world.now,
        directory=world.directory,
    )
    assert Investor.get(Investor.name == "Old Family Office").graveyard_since == world.now


def test_the_digest_says_a_graveyard_investor_is_back(world):
    world.investor("Old Family Office", "oldfo.example", graveyard=True)
    world.investor("Acme Capital", "acme.example")
    world.email("We would like to re-up", "max@oldfo.example", [ADA], sent_at=world.now + timedelta(minutes=5))
    world.email("Quarterly letter", "jane@acme.example", [ADA], sent_at=world.now + timedelta(minutes=6))
    digest = build_digest(database.obj, world.now, world.now + timedelta(hours=1))
    assert (
        "Graveyard investor is back: Old Family Office wrote 1 email to the team (below, under By investor)."
    ) in digest["body"]
    assert digest["body"].count("Graveyard investor is back") == 1  # Acme is not in the graveyard
    assert "Graveyard investor is back: Old Family Office" in digest["html"]


def test_the_digest_line_needs_the_investor_themselves_to_have_written(world):
    """Another LP copying a graveyard investor links the mail to them, but is not their return."""
    world.investor("Old Family Office", "oldfo.example", graveyard=True)
    world.investor("Acme Capital", "acme.example")
    world.email(
        "Co-investment", "jane@acme.example", [ADA], cc=["max@oldfo.example"], sent_at=world.now + timedelta(minutes=5)
    )
    digest = build_digest(database.obj, world.now, world.now + timedelta(hours=1))
    assert "Old Family Office" in digest["body"]  # listed under By investor, as linked mail
    assert "Graveyard investor is back" not in digest["body"]
