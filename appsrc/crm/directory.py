"""Build the matcher's `Directory` snapshot from the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from appsrc.gmail.credentials import CONSUMER_DOMAINS
from appsrc.matching.matcher import ContactRef, Directory, match_key
from appsrc.secret_files import load_own_domains_file
from appsrc.store.models import (
    Contact,
    ContactEmail,
    ContactMove,
    EmailAccount,
    Exclusion,
    Investor,
    InvestorDomain,
)


def own_domains(configured: Sequence[str], secrets_dir: Path) -> tuple[str, ...]:
    """CRM_OWN_DOMAINS, else the delegation action's list, else the team mailboxes' domains."""
    if configured:
        return tuple(configured)
    from_file = load_own_domains_file(secrets_dir)
    if from_file:
        return from_file
    domains = {a.rpartition("@")[2] for (a,) in EmailAccount.select(EmailAccount.address).tuples()}
    return tuple(sorted(domains - CONSUMER_DOMAINS))


def load_directory(configured_own_domains: Sequence[str], secrets_dir: Path) -> Directory:
    live_investors = Investor.deleted_at.is_null()
    contacts = {}
    query = (
        ContactEmail.select(ContactEmail.address, Contact.id, Contact.investor)
        .join(Contact)
        .join(Investor)
        .where(Contact.deleted_at.is_null() & live_investors)
        .tuples()
    )
    for address, contact_id, investor_id in query:
        contacts[match_key(address)] = ContactRef(contact_id, investor_id)
    investor_domains = dict(
        InvestorDomain.select(InvestorDomain.domain, InvestorDomain.investor)
        .join(Investor)
        .where(live_investors)
        .tuples()
    )
    graveyard_since = dict(Investor.select(Investor.id, Investor.graveyard_since).where(Investor.graveyard).tuples())
    moves: dict[str, list] = {}
    for address, contact_id, from_investor, since in (
        ContactMove.select(ContactEmail.address, ContactMove.contact, ContactMove.from_investor, ContactMove.since)
        .join(Contact, on=(ContactMove.contact == Contact.id))
        .join(ContactEmail, on=(ContactEmail.contact == Contact.id))
        .switch(ContactMove)
        .join(Investor, on=(ContactMove.from_investor == Investor.id))
        .where(Contact.deleted_at.is_null() & live_investors)
        .order_by(ContactMove.since)
        .tuples()
    ):
        moves.setdefault(match_key(address), []).append((since, ContactRef(contact_id, from_investor)))
    exclusions = list(Exclusion.select(Exclusion.kind, Exclusion.value).tuples())
    return Directory(
        own_domains=frozenset(own_domains(configured_own_domains, secrets_dir)),
        own_addresses=frozenset(a for (a,) in EmailAccount.select(EmailAccount.address).tuples()),
        contacts=contacts,
        investor_domains=investor_domains,
        graveyard=frozenset(graveyard_since),
        graveyard_since=graveyard_since,
        excluded_addresses=frozenset(match_key(v) for k, v in exclusions if k == "address"),
        excluded_domains=frozenset(v for k, v in exclusions if k == "domain"),
        contact_moves={key: tuple(entries) for key, entries in moves.items()},
    )
