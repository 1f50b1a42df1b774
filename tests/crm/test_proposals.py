"""Propose → approve: only an approval writes an Activity; decisions are audited and atomic."""

from __future__ import annotations

import pytest

from appsrc.crm import proposals
from appsrc.store.models import Activity, ActivityProposal, AuditEvent, Contact, ContactEmail, EmailInvestorLink
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def acme(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    return world


def test_capture_proposes_and_nothing_reaches_the_record_until_approved(acme):
    email = acme.email("Capital call", "jane@acme.example", [ADA, BOB])
    (proposal,) = acme.proposals_of(email)
    assert proposal.status == "pending" and proposal.contact_id == acme.jane.id
    assert Activity.select().count() == 0


def test_approve_writes_one_activity_on_the_contact(acme):
    email = acme.email("Capital call", "jane@acme.example", [ADA, BOB])
    (proposal,) = acme.proposals_of(email)
    decision = proposals.approve(proposal.id, acme.ada, acme.now, directory=acme.directory)
    activity = Activity.get()
    assert decision.approved == [proposal.id] and decision.activities == [activity.id]
    assert (activity.contact_id, activity.investor_id, activity.email_id, activity.direction) == (
        acme.jane.id,
        acme.acme.id,
        email.id,
        "inbound",
    )
    assert activity.summary == "Capital call" and activity.occurred_at == email.sent_at
    assert activity.created_by_id == acme.ada.id
    proposal = ActivityProposal.get_by_id(proposal.id)
    assert proposal.status == "approved" and proposal.decided_by_id == acme.ada.id
    event = AuditEvent.get(AuditEvent.action == "proposal.approve")
    assert event.actor_id == acme.ada.id and event.detail["activity_id"] == activity.id


def test_outbound_direction_comes_from_the_sender(acme):
    email = acme.email("Re: Capital call", ADA, ["jane@acme.example"])
    proposals.approve(acme.proposals_of(email)[0].id, acme.ada, acme.now, directory=acme.directory)
    assert Activity.get().direction == "outbound"


def test_reject_writes_nothing_but_the_decision(acme):
    email = acme.email("Capital call", "jane@acme.example", [ADA])
    (proposal,) = acme.proposals_of(email)
    proposals.reject(proposal.id, acme.ada, acme.now)
    assert Activity.select().count() == 0
    assert ActivityProposal.get_by_id(proposal.id).status == "rejected"
    assert AuditEvent.select().where(AuditEvent.action == "proposal.reject").count() == 1


def test_a_decided_proposal_cannot_be_decided_again(acme):
    email = acme.email("Capital call", "jane@acme.example", [ADA])
    (proposal,) = acme.proposals_of(email)
    proposals.reject(proposal.id, acme.ada, acme.now)
    with pytest.raises(proposals.ProposalConflict):
        proposals.approve(proposal.id, acme.ada, acme.now, directory=acme.directory)
    with pytest.raises(proposals.ProposalNotFound):
        proposals.reject(10**6, acme.ada, acme.now)


def test_bulk_is_all_or_nothing(acme):
    emails = [acme.email(f"Note {i}", "jane@acme.example", [ADA]) for i in range(3)]
    ids = [acme.proposals_of(e)[0].id for e in emails]
    proposals.reject(ids[2], acme.ada, acme.now)
    with pytest.raises(proposals.ProposalConflict):
        proposals.approve(ids, acme.ada, acme.now, directory=acme.directory)
    assert Activity.select().count() == 0
    assert [ActivityProposal.get_by_id(i).status for i in ids] == ["pending", "pending", "rejected"]
    decision = proposals.approve(ids[:2], acme.ada, acme.now, directory=acme.directory)
    assert decision.approved == ids[:2] and Activity.select().count() == 2


def test_approve_and_create_contact_for_an_unknown_sender_at_an_investor_domain(acme):
    first = acme.email("Hello from the new analyst", "sam@acme.example", [ADA], from_name="Sam Analyst")
    second = acme.email("Follow-up", "sam@acme.example", [BOB])
    (p1,) = acme.proposals_of(first)
    assert p1.contact_id is None and p1.target_key == "address:sam@acme.example"
    decision = proposals.approve(p1.id, acme.ada, acme.now, directory=acme.directory)
    contact = Contact.get(Contact.name == "Sam Analyst")
    assert decision.contacts_created == [contact.id] and contact.investor_id == acme.acme.id
    assert ContactEmail.get(ContactEmail.address == "sam@acme.example").contact_id == contact.id
    assert Activity.get().contact_id == contact.id
    approved = ActivityProposal.get_by_id(p1.id)
    assert approved.target_key == f"contact:{contact.id}" and approved.status == "approved"
    # Its rematch moved the other pending proposal for that address onto the new contact, and
    # did not propose the approved email again.
    assert decision.rematched["emails"] == 2
    assert [(p.target_key, p.status) for p in acme.proposals_of(second)] == [(f"contact:{contact.id}", "pending")]
    assert [(p.target_key, p.status) for p in acme.proposals_of(first)] == [(f"contact:{contact.id}", "approved")]
    link = EmailInvestorLink.get(EmailInvestorLink.email == first.id)
    assert link.contact_id == contact.id


def test_create_contact_uses_the_name_given(acme):
    email = acme.email("Hello", "sam@acme.example", [ADA])
    (p,) = acme.proposals_of(email)
    proposals.approve([p.id], acme.ada, acme.now, directory=acme.directory, contact_names={p.id: "Samuel Okafor"})
    assert Contact.get(Contact.id == Activity.get().contact_id).name == "Samuel Okafor"


def test_bulk_approve_of_two_mails_from_one_unknown_address_makes_one_contact(acme):
    emails = [acme.email(f"Hi {i}", "sam@acme.example", [ADA]) for i in range(2)]
    ids = [acme.proposals_of(e)[0].id for e in emails]
    decision = proposals.approve(ids, acme.ada, acme.now, directory=acme.directory)
    assert len(decision.contacts_created) == 1 and Activity.select().count() == 2
    assert Contact.select().where(Contact.investor == acme.acme.id).count() == 2  # Jane + Sam


def test_bulk_input_is_validated(acme):
    with pytest.raises(proposals.ValidationError) as caught:
        proposals.approve(["x"], acme.ada, acme.now, directory=acme.directory)
    assert caught.value.field == "ids"
    with pytest.raises(proposals.ValidationError):
        proposals.reject([], acme.ada, acme.now)
