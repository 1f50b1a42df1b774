"""Digest fixtures: a small fund (personas, investors, contacts) in a migrated database, a factory
for captured email with its sightings and investor links, the real servers (Gmail simulator, SMTP
with STARTTLS+AUTH, LLM stub) and the recipient audit every test ends with."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from appsrc.crm.users import add_user
from appsrc.simulator import LlmStub
from appsrc.store.models import (
    Contact,
    ContactEmail,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
    User,
)
from tests.conftest import NOW

TZ = "America/New_York"


@pytest.fixture(autouse=True)
def _database(db):
    """Every test here works in a migrated SQLite file (the recipient audit reads its admins)."""
    yield


@pytest.fixture
def llm():
    """The OpenAI-compatible LLM stub (fast; tests switch it to slow, down or garbage)."""
    stub = LlmStub(slow_delay_s=1.0).start()
    yield stub
    stub.stop()


@dataclass
class Fund:
    """Personas: Ada and Ben (active admins), Tom (teammate), Ivy (deactivated admin); investors
    Acme Capital (contacts Jane, Bob), Beta Partners (Carl), Gone LP (soft-deleted, contact Dan),
    Tomb Fund (graveyard, contact Tess), and Acme's former contact Zed (soft-deleted)."""

    users: dict[str, User]
    investors: dict[str, Investor]
    contacts: dict[str, Contact]
    counter: itertools.count

    def mail(
        self,
        *,
        subject: str,
        sender: str,
        to: list[str],
        sent_at: datetime,
        holders: dict[str, bool] | None = None,
        links: list[tuple[str, str | None, str]] = (),
        captured_at: datetime | None = None,
        is_bulk: bool = False,
        deleted_in: tuple[str, ...] = (),
        snippet: str = "",
    ) -> Email:
        """One captured email. `holders`: mailbox address -> is_sent (default: our addresses among
        sender and recipients); `links`: (investor key, contact key or None, matched address)."""
        n = next(self.counter)
        email = Email.create(
            dedupe_key=f"mid#{n}",
            message_id=f"<m{n}@test>",
            subject=subject,
            from_email=sender,
            from_name="",
            to=[{"email": a, "name": ""} for a in to],
            sent_at=sent_at,
            snippet=snippet or f"snippet {n}",
            captured_at=captured_at or sent_at,
            is_bulk=is_bulk,
        )
        if holders is None:
            own = {a for (a,) in EmailAccount.select(EmailAccount.address).tuples()}
            holders = {a: a == sender for a in [sender, *to] if a in own}
        for address, is_sent in holders.items():
            account = EmailAccount.get(EmailAccount.address == address)
            EmailAccountMessage.create(
                account=account,
                email=email,
                gmail_id=f"g{n}-{account.id}",
                is_sent=is_sent,
                created_at=captured_at or sent_at,
                deleted_at=sent_at if address in deleted_in else None,
            )
        for investor, contact, matched in links:
            EmailInvestorLink.create(
                email=email,
                investor=self.investors[investor],
                contact=self.contacts[contact] if contact else None,
                matched_address=matched,
            )
        return email


def make_fund(now: datetime) -> Fund:
    users = {
        "ada": add_user("ada@fund.example", "Ada Admin", now, is_admin=True),
        "ben": add_user("ben@fund.example", "Ben Admin", now, is_admin=True),
        "tom": add_user("tom@fund.example", "Tom Teammate", now),
        "ivy": add_user("ivy@fund.example", "Ivy Inactive", now, is_admin=True),
    }
    User.update(is_active=False).where(User.id == users["ivy"].id).execute()
    investors, contacts = {}, {}
    for key, name, domain, extra in [
        ("acme", "Acme Capital", "acme.example", {}),
        ("beta", "Beta Partners", "beta.example", {}),
        ("gone", "Gone LP", "gone.example", {"deleted_at": now}),
        ("tomb", "Tomb Fund", "tomb.example", {"graveyard": True}),
    ]:
        investors[key] = Investor.create(name=name, created_at=now, updated_at=now, **extra)
        InvestorDomain.create(investor=investors[key], domain=domain)
    for key, investor, name, address, extra in [
        ("jane", "acme", "Jane Doe", "jane@acme.example", {}),
        ("bob", "acme", "Bob Roe", "bob@acme.example", {}),
        ("zed", "acme", "Zed Former", "zed@acme.example", {"deleted_at": now}),
        ("carl", "beta", "Carl Beta", "carl@beta.example", {}),
        ("dan", "gone", "Dan Gone", "dan@gone.example", {}),
        ("tess", "tomb", "Tess Tomb", "tess@tomb.example", {}),
    ]:
        contacts[key] = Contact.create(investor=investors[investor], name=name, created_at=now, updated_at=now, **extra)
        ContactEmail.create(contact=contacts[key], address=address)
    return Fund(users, investors, contacts, itertools.count(1))


@pytest.fixture
def fund(db, clock):
    """The personas and investors (see `Fund`) in the migrated test database."""
    return make_fund(clock.now() - timedelta(days=30))


__all__ = ["NOW", "TZ", "Fund", "make_fund"]
