"""Editing investors, contacts, exclusions and users: validation, audit, and the rematch of
captured mail each change triggers."""

from __future__ import annotations

import pytest

from appsrc.crm import exclusions, proposals
from appsrc.crm.investors import add_contact, remove_contact, update_contact, update_investor
from appsrc.crm.users import LastAdmin, issue_token, reset_password, update_user, user_for_token, verify_password
from appsrc.crm.validation import ValidationError
from appsrc.store import queries
from appsrc.store.models import (
    Activity,
    AuditEvent,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    SkippedMessage,
    User,
)
from tests.crm.factories import former_admin_token
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def acme(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    return world


def pending_targets(world, email):
    return sorted(p.target_key for p in world.proposals_of(email) if p.status == "pending")


def test_graveyard_toggle_drops_and_restores_pending_proposals(acme):
    email = acme.email("Capital call", "jane@acme.example", [ADA])
    update_investor(acme.acme.id, acme.now, directory=acme.directory, graveyard=True, actor=acme.ada)
    assert pending_targets(acme, email) == []
    assert email.id in [i["email_id"] for i in queries.email_activity(q="capital")["items"]]  # history stays
    update_investor(acme.acme.id, acme.now, directory=acme.directory, graveyard=False, actor=acme.ada)
    assert pending_targets(acme, email) == [f"contact:{acme.jane.id}"]
    assert AuditEvent.select().where(AuditEvent.action == "investor.update").count() == 2


def test_a_new_domain_links_mail_already_captured(acme):
    email = acme.email("Hello", "max@acmecap.example", [ADA])
    assert EmailInvestorLink.select().where(EmailInvestorLink.email == email.id).count() == 0
    stats = update_investor(
        acme.acme.id, acme.now, directory=acme.directory, domains="acme.example; acmecap.example", actor=acme.ada
    )
    assert (stats["emails"], stats["links_added"], stats["proposals_added"]) == (1, 1, 1)  # that email only
    assert pending_targets(acme, email) == ["address:max@acmecap.example"]


@pytest.mark.parametrize(
    "domains, words",
    [("gmail.com", "free-mail"), ("fund.example", "fund's own"), ("not a domain", "not a valid domain")],
)
def test_bad_domains_are_refused(acme, domains, words):
    other = acme.investor("Other", "other.example")
    with pytest.raises(ValidationError, match=words):
        update_investor(other.id, acme.now, directory=acme.directory, domains=domains)


def test_a_domain_belongs_to_one_investor_and_names_are_unique(acme):
    other = acme.investor("Other", "other.example")
    with pytest.raises(ValidationError, match="already belongs to Acme"):
        update_investor(other.id, acme.now, directory=acme.directory, domains="acme.example")
    with pytest.raises(ValidationError, match="already exists"):
        update_investor(other.id, acme.now, directory=acme.directory, name="acme capital")


def test_contact_changes_rematch_their_addresses(acme):
    email = acme.email("From her personal address", "jane.roe@gmail.com", [ADA])
    assert pending_targets(acme, email) == []  # free mail: no investor by domain
    update_contact(
        acme.jane.id,
        acme.now,
        directory=acme.directory,
        addresses="jane@acme.example; Jane.Roe@gmail.com",
        actor=acme.ada,
    )
    assert pending_targets(acme, email) == [f"contact:{acme.jane.id}"]
    remove_contact(acme.jane.id, acme.now, directory=acme.directory, actor=acme.ada)
    assert pending_targets(acme, email) == []


def test_an_address_belongs_to_one_live_contact(acme):
    with pytest.raises(ValidationError, match="already belongs to Jane Roe"):
        add_contact(acme.acme.id, "Impostor", "jane@acme.example", acme.now, directory=acme.directory)
    with pytest.raises(ValidationError, match="at least one address"):
        add_contact(acme.acme.id, "Nobody", "", acme.now, directory=acme.directory)


def test_exclusion_purges_captured_mail_and_keeps_counters_honest(acme):
    private = acme.email("Test results", "doctor@clinic.example", [BOB], seen_by={BOB: False})
    investor_mail = acme.email("Capital call", "jane@acme.example", [BOB], cc=["doctor@clinic.example"])
    kept = acme.email("Other", "jane@acme.example", [BOB])
    approved = acme.proposals_of(investor_mail)[0]
    proposals.approve(approved.id, acme.ada, acme.now, directory=acme.directory)
    bob = EmailAccount.get(EmailAccount.address == BOB)
    EmailAccount.update(stored_count=3).where(EmailAccount.id == bob.id).execute()
    exclusion, purged = exclusions.add_exclusion("Doctor@Clinic.example", acme.now, reason="private", actor=acme.ada)
    assert (exclusion.kind, exclusion.value, purged) == ("address", "doctor@clinic.example", 2)
    assert not Email.select().where(Email.id.in_([private.id, investor_mail.id])).exists()
    assert Email.select().where(Email.id == kept.id).exists()
    assert queries.email_activity(q="results")["items"] == []  # gone from search (FTS follows)
    activity = Activity.get()
    assert activity.email_id is None and activity.summary == "Capital call"  # the approved record stays
    bob = EmailAccount.get_by_id(bob.id)
    assert (bob.stored_count, bob.skipped_count) == (1, 2)
    assert SkippedMessage.select().where(SkippedMessage.reason == "excluded").count() == 2
    with pytest.raises(ValidationError, match="already excluded"):
        exclusions.add_exclusion("doctor@clinic.example", acme.now)
    exclusions.remove_exclusion(exclusion.id, acme.now, actor=acme.ada)
    assert SkippedMessage.select().count() == 0  # a full resync may fetch them again
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("exclusion."))]
    assert actions == ["exclusion.add", "exclusion.remove"]


def test_domain_exclusion_covers_subdomains_and_refuses_our_own(acme):
    mail = acme.email("Hi", "x@mail.family.example", [ADA])
    _, purged = exclusions.add_exclusion("family.example", acme.now)
    assert purged == 1 and not EmailAccountMessage.select().where(EmailAccountMessage.email == mail.id).exists()
    with pytest.raises(ValidationError, match="own domains"):
        exclusions.add_exclusion("fund.example", acme.now, own_domains={"fund.example"})
    with pytest.raises(ValidationError):
        exclusions.add_exclusion("not valid!", acme.now)


def test_user_administration_is_audited_and_keeps_an_admin(world):
    with pytest.raises(LastAdmin):
        update_user(world.ada.id, world.now, is_admin=False, actor=world.ada)
    with pytest.raises(LastAdmin):
        update_user(world.ada.id, world.now, is_active=False, actor=world.ada)
    update_user(world.bob.id, world.now, is_admin=True, actor=world.ada)
    update_user(world.ada.id, world.now, is_admin=False, actor=world.bob)
    assert not User.get_by_id(world.ada.id).is_admin
    user, password = reset_password(world.bob.id, world.now, actor=world.bob)
    assert verify_password(user, password) and len(password) >= 10
    token = issue_token(world.bob.email, world.now)  # another user's changes leave it alone
    update_user(world.ada.id, world.now, is_active=False, actor=world.bob)
    update_user(world.ada.id, world.now, is_active=True, actor=world.bob)
    assert user_for_token(token, world.now).id == world.bob.id
    actions = [
        e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("user.")).order_by(AuditEvent.id)
    ]
    assert actions[-4:] == ["user.update", "user.reset_password", "user.update", "user.update"]


def test_deactivating_revokes_tokens(world):
    token = former_admin_token(world.bob.email, world.now)
    update_user(world.bob.id, world.now, is_active=False, actor=world.ada)
    update_user(world.bob.id, world.now, is_active=True, actor=world.ada)
    assert user_for_token(token, world.now) is None
