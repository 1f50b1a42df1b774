"""Investors and contacts: the CSV import (all-or-nothing) and editing, each running its rematch.

CSV columns: investor,domains,graveyard,contact_name,contact_email — one row per contact; a row
without a contact only defines the investor; domains separated by ";"; graveyard 0/1. Investors
are matched by name, contacts upserted by address. An empty cell changes nothing: an investor's
domains are replaced by those its rows list (all of its non-empty `domains` cells together) and
kept as they are when every cell is empty — a contacts-only file must not strip an investor of
its domains (and with them its mail matching); likewise an empty `graveyard` keeps the flag. The
preview lists each investor's domain additions and removals. Every problem is reported with its
line number and nothing is written.

Every change that alters matching (domains, contact addresses, the graveyard flag) reruns the
matcher over the captured mail it concerns before returning (`appsrc.crm.rematch`); each service
takes the directory loader for that and returns the rematch's figures.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from peewee import fn

from appsrc.crm import audit
from appsrc.crm.rematch import DirectoryLoader, RematchScope, empty_stats, rematch
from appsrc.crm.validation import ValidationError, clean_address, clean_domain
from appsrc.matching.matcher import is_free_mail
from appsrc.store.db import database
from appsrc.store.models import Contact, ContactEmail, Investor, InvestorDomain, User

COLUMNS = ("investor", "domains", "graveyard", "contact_name", "contact_email")
MAX_ROWS = 100_000


class ImportFailed(ValidationError):
    """The file has problems; `errors` lists them as (line number, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"line {line}: {message}" for line, message in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} problem(s), nothing imported: {shown}{more}", field="file")


@dataclass
class PlannedInvestor:
    name: str
    line: int
    domains: set[str] | None = None  # None: no row listed any, the investor's domains stay
    graveyard: bool | None = None
    contacts: dict[str, str] = field(default_factory=dict)  # address -> name


@dataclass
class ImportResult:
    investors_created: int = 0
    investors_updated: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    rows: int = 0
    changed_domains: set[str] = field(default_factory=set)
    changed_addresses: set[str] = field(default_factory=set)
    rematched: dict[str, int] = field(default_factory=empty_stats)  # the rematch's figures
    preview: list[dict] = field(default_factory=list)


def parse_investors_csv(text: str, own_domains: frozenset[str] = frozenset()) -> dict[str, PlannedInvestor]:
    """Validate the whole file; raise ImportFailed listing every bad line."""
    errors: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed([(1, "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportFailed([(1, f"not valid CSV: {exc}")]) from None
    header = [h.strip().lower() for h in header]
    if header != list(COLUMNS):
        raise ImportFailed([(1, f"the header must be {','.join(COLUMNS)} (found {','.join(header)})")])
    plans: dict[str, PlannedInvestor] = {}
    owner_of_domain: dict[str, str] = {}
    owner_of_address: dict[str, str] = {}
    try:
        for row in reader:
            line = reader.line_num
            if len(plans) > MAX_ROWS or line > MAX_ROWS + 1:
                errors.append((line, f"more than {MAX_ROWS} rows: split the file"))
                break
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(COLUMNS):
                errors.append((line, f"expected {len(COLUMNS)} columns, found {len(row)}"))
                continue
            name, domains, graveyard, contact_name, contact_email = (cell.strip() for cell in row)
            if not name:
                errors.append((line, "the investor name is empty"))
                continue
            if len(name) > 200:
                errors.append((line, "the investor name is longer than 200 characters"))
                continue
            plan = plans.setdefault(name.casefold(), PlannedInvestor(name, line))
            listed = [d for d in (d.strip() for d in domains.split(";")) if d]
            if listed and plan.domains is None:
                plan.domains = set()
            for raw in listed:
                assert plan.domains is not None  # set just above for any listed domain
                try:
                    domain = clean_domain(raw)
                except ValidationError as exc:
                    errors.append((line, str(exc)))
                    continue
                if is_free_mail(domain):
                    errors.append(
                        (
                            line,
                            f"{domain} is a free-mail domain and cannot identify an investor; "
                            "list the person's address as a contact instead",
                        )
                    )
                elif domain in own_domains:
                    errors.append((line, f"{domain} is one of the fund's own domains"))
                elif owner_of_domain.setdefault(domain, plan.name) != plan.name:
                    errors.append((line, f"{domain} is listed for both {owner_of_domain[domain]} and {plan.name}"))
                else:
                    plan.domains.add(domain)
            if graveyard not in {"", "0", "1"}:
                errors.append((line, f"graveyard must be 0 or 1, not {graveyard!r}"))
            elif graveyard:
                flag = graveyard == "1"
                if plan.graveyard is not None and plan.graveyard != flag:
                    errors.append((line, f"graveyard disagrees with an earlier row for {plan.name}"))
                plan.graveyard = flag
            if contact_email:
                try:
                    address = clean_address(contact_email)
                except ValidationError as exc:
                    errors.append((line, str(exc)))
                    continue
                if owner_of_address.setdefault(address, plan.name) != plan.name:
                    errors.append((line, f"{address} is listed for both {owner_of_address[address]} and {plan.name}"))
                    continue
                plan.contacts[address] = contact_name[:200]
            elif contact_name:
                errors.append((line, f"contact {contact_name!r} has no contact_email"))
    except csv.Error as exc:
        errors.append((reader.line_num, f"not valid CSV: {exc}"))
    if errors:
        raise ImportFailed(errors)
    return plans


def import_investors_csv(
    text: str,
    now: datetime,
    *,
    directory: DirectoryLoader,
    actor: User | None = None,
    actor_label: str = "",
    dry_run: bool = False,
) -> ImportResult:
    """Validate then upsert, all in one transaction, then rematch what changed; `dry_run`
    reports without writing."""
    plans = parse_investors_csv(text, directory().own_domains)
    result = ImportResult(rows=sum(max(1, len(p.contacts)) for p in plans.values()))
    errors: list[tuple[int, str]] = []
    with database.atomic() as transaction:
        for plan in plans.values():
            _apply_plan(plan, now, result, errors)
        if errors:
            transaction.rollback()
            raise ImportFailed(errors)
        if dry_run:
            transaction.rollback()
        else:
            audit.record(
                "investors.import",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="investor",
                detail={
                    "investors_created": result.investors_created,
                    "investors_updated": result.investors_updated,
                    "contacts_created": result.contacts_created,
                    "contacts_updated": result.contacts_updated,
                },
            )
    if not dry_run:
        result.rematched = rematch(directory, now, RematchScope(result.changed_domains, result.changed_addresses))
    return result


def _apply_plan(plan: PlannedInvestor, now: datetime, result: ImportResult, errors: list) -> None:
    investor = Investor.select().where(fn.LOWER(Investor.name) == plan.name.lower()).first()
    created = investor is None
    changed = False
    if created:
        investor = Investor.create(
            name=plan.name, created_at=now, updated_at=now, **_graveyard_columns(plan.graveyard, now)
        )
        result.investors_created += 1
    elif plan.graveyard is not None and investor.graveyard != plan.graveyard or investor.deleted_at is not None:
        if plan.graveyard is not None:
            set_graveyard(investor, plan.graveyard, now)
        investor.deleted_at = None
        investor.updated_at = now
        investor.save()
        # Everything of the investor's changes meaning, free-mail contacts included (their mail
        # is found by address, not by domain), as when the dashboard flips it.
        scope = scope_of_investor(investor)
        result.changed_domains.update(scope.domains)
        result.changed_addresses.update(scope.addresses)
        changed = True
    current = {d.domain: d for d in investor.domain_rows}
    wanted = set(current) if plan.domains is None else plan.domains
    added, removed = sorted(wanted - set(current)), sorted(set(current) - wanted)
    for domain in added:
        other = InvestorDomain.get_or_none(InvestorDomain.domain == domain)
        if other is not None:
            errors.append((plan.line, f"{domain} already belongs to {other.investor.name}"))
            continue
        InvestorDomain.create(investor=investor, domain=domain)
    for domain in removed:
        current[domain].delete_instance()
    if added or removed:
        result.changed_domains.update(added, removed)
        changed = True
    for address, name in plan.contacts.items():
        row = ContactEmail.get_or_none(ContactEmail.address == address)
        if row is None:
            contact = Contact.create(investor=investor, name=name or address, created_at=now, updated_at=now)
            ContactEmail.create(contact=contact, address=address)
            result.contacts_created += 1
            result.changed_addresses.add(address)
        else:
            contact = row.contact
            if contact.investor_id != investor.id and contact.deleted_at is None:
                errors.append((plan.line, f"{address} already belongs to a contact of {contact.investor.name}"))
                continue
            if (name and contact.name != name) or contact.deleted_at is not None or contact.investor_id != investor.id:
                contact.name = name or contact.name
                contact.investor = investor
                contact.deleted_at = None
                contact.updated_at = now
                contact.save()
                result.contacts_updated += 1
                result.changed_addresses.add(address)
                changed = True
    if changed and not created:
        result.investors_updated += 1
    result.preview.append(
        {
            "investor": plan.name,
            "domains": sorted(wanted),
            "domains_added": added,
            "domains_removed": removed,
            "graveyard": bool(investor.graveyard),
            "contacts": len(plan.contacts),
            "new": created,
        }
    )


# -- editing from the dashboard, the API and the CLI --------------------------------------------
def _clean_name(name: str, field_name: str = "name", limit: int = 200) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("the name is empty", field=field_name)
    if len(name) > limit:
        raise ValidationError(f"the name is longer than {limit} characters", field=field_name)
    return name


def _clean_domains(raw, investor_id: int | None, own_domains) -> set[str]:
    values = raw.replace(",", ";").replace("\n", ";").split(";") if isinstance(raw, str) else list(raw or [])
    domains = set()
    for value in filter(None, (str(v).strip() for v in values)):
        domain = clean_domain(value, field="domains")
        if is_free_mail(domain):
            raise ValidationError(f"{domain} is a free-mail domain and cannot identify an investor", field="domains")
        if domain in own_domains:
            raise ValidationError(f"{domain} is one of the fund's own domains", field="domains")
        other = InvestorDomain.get_or_none(InvestorDomain.domain == domain)
        if other is not None and other.investor_id != investor_id:
            raise ValidationError(f"{domain} already belongs to {other.investor.name}", field="domains")
        domains.add(domain)
    return domains


def _check_unique_name(name: str, investor_id: int | None) -> None:
    clash = Investor.select().where(fn.LOWER(Investor.name) == name.lower())
    if investor_id is not None:
        clash = clash.where(Investor.id != investor_id)
    if clash.exists():
        raise ValidationError(f"an investor named {name!r} already exists", field="name")


def _graveyard_columns(graveyard, now: datetime) -> dict:
    """A new investor's graveyard columns; `graveyard_since` only when set (NULL otherwise)."""
    return {"graveyard": True, "graveyard_since": now} if graveyard else {"graveyard": False}


def set_graveyard(investor: Investor, graveyard: bool, now: datetime) -> None:
    """Move an investor into or out of the graveyard (not saved). Mail they send after the move
    in is surfaced as their return (see `matcher.returning_proposals`)."""
    if bool(graveyard) != investor.graveyard:
        investor.graveyard = bool(graveyard)
        investor.graveyard_since = now if graveyard else None


def scope_of_investor(investor: Investor) -> RematchScope:
    return RematchScope(
        {d.domain for d in investor.domain_rows},
        {
            a
            for (a,) in ContactEmail.select(ContactEmail.address)
            .join(Contact)
            .where(Contact.investor == investor.id)
            .tuples()
        },
    )


def create_investor(
    name: str,
    domains,
    now: datetime,
    *,
    directory: DirectoryLoader,
    graveyard: bool = False,
    notes: str = "",
    actor: User | None = None,
    actor_label: str = "",
) -> tuple[Investor, dict[str, int]]:
    """The new investor, and the figures of the rematch of its domains' mail."""
    name = _clean_name(name)
    own_domains = directory().own_domains
    with database.atomic():
        _check_unique_name(name, None)
        cleaned = _clean_domains(domains, None, own_domains)
        investor = Investor.create(
            name=name, notes=(notes or "")[:5000], created_at=now, updated_at=now, **_graveyard_columns(graveyard, now)
        )
        for domain in sorted(cleaned):
            InvestorDomain.create(investor=investor, domain=domain)
        audit.record(
            "investor.create",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="investor",
            target_id=investor.id,
            detail={"name": name, "domains": sorted(cleaned), "graveyard": bool(graveyard)},
        )
    return investor, rematch(directory, now, RematchScope(cleaned, set()))


def update_investor(
    investor_id: int,
    now: datetime,
    *,
    directory: DirectoryLoader,
    name: str | None = None,
    domains=None,
    graveyard: bool | None = None,
    notes: str | None = None,
    actor: User | None = None,
    actor_label: str = "",
) -> dict[str, int]:
    """Change what is given, audited with the changes; returns the rematch's figures."""
    scope = RematchScope()
    own_domains = directory().own_domains if domains is not None else frozenset()
    changes: dict = {}
    with database.atomic():
        investor = Investor.get_or_none((Investor.id == investor_id) & Investor.deleted_at.is_null())
        if investor is None:
            raise ValidationError("no such investor", field="investor_id")
        if name is not None:
            name = _clean_name(name)
            if name != investor.name:
                _check_unique_name(name, investor.id)
                changes["name"] = [investor.name, name]
                investor.name = name
        if notes is not None and notes != investor.notes:
            investor.notes = notes[:5000]
            changes["notes"] = True
        if graveyard is not None and bool(graveyard) != investor.graveyard:
            changes["graveyard"] = [investor.graveyard, bool(graveyard)]
            set_graveyard(investor, graveyard, now)
            scope.update(scope_of_investor(investor))
        if domains is not None:
            wanted = _clean_domains(domains, investor.id, own_domains)
            current = {d.domain for d in investor.domain_rows}
            for domain in wanted - current:
                InvestorDomain.create(investor=investor, domain=domain)
            if current - wanted:
                InvestorDomain.delete().where(
                    (InvestorDomain.investor == investor.id) & InvestorDomain.domain.in_(sorted(current - wanted))
                ).execute()
            if wanted != current:
                changes["domains"] = {"added": sorted(wanted - current), "removed": sorted(current - wanted)}
                scope.domains |= wanted ^ current
        if changes:
            investor.updated_at = now
            investor.save()
            audit.record(
                "investor.update",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="investor",
                target_id=investor.id,
                detail=changes,
            )
    return rematch(directory, now, scope)


def _clean_addresses(raw, contact_id: int | None) -> set[str]:
    values = raw.replace(",", ";").replace("\n", ";").split(";") if isinstance(raw, str) else list(raw or [])
    addresses = set()
    for value in filter(None, (str(v).strip() for v in values)):
        address = clean_address(value, field="addresses")
        row = ContactEmail.get_or_none(ContactEmail.address == address)
        if row is not None and row.contact_id != contact_id and row.contact.deleted_at is None:
            raise ValidationError(
                f"{address} already belongs to {row.contact.name} ({row.contact.investor.name})", field="addresses"
            )
        addresses.add(address)
    return addresses


def add_contact(
    investor_id: int,
    name: str,
    addresses,
    now: datetime,
    *,
    directory: DirectoryLoader,
    actor: User | None = None,
    actor_label: str = "",
) -> tuple[Contact, dict[str, int]]:
    """The new contact, and the figures of the rematch of its addresses' mail."""
    name = _clean_name(name)
    with database.atomic():
        investor = Investor.get_or_none((Investor.id == investor_id) & Investor.deleted_at.is_null())
        if investor is None:
            raise ValidationError("no such investor", field="investor_id")
        cleaned = _clean_addresses(addresses, None)
        if not cleaned:
            raise ValidationError("a contact needs at least one address", field="addresses")
        contact = Contact.create(investor=investor, name=name, created_at=now, updated_at=now)
        for address in sorted(cleaned):
            # A removed contact's address is taken over by the new contact.
            ContactEmail.delete().where(ContactEmail.address == address).execute()
            ContactEmail.create(contact=contact, address=address)
        audit.record(
            "contact.create",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="contact",
            target_id=contact.id,
            detail={"investor_id": investor.id, "name": name, "addresses": sorted(cleaned)},
        )
    return contact, rematch(directory, now, RematchScope(set(), cleaned))


def update_contact(
    contact_id: int,
    now: datetime,
    *,
    directory: DirectoryLoader,
    name: str | None = None,
    addresses=None,
    actor: User | None = None,
    actor_label: str = "",
) -> dict[str, int]:
    scope = RematchScope()
    changes: dict = {}
    with database.atomic():
        contact = Contact.get_or_none((Contact.id == contact_id) & Contact.deleted_at.is_null())
        if contact is None:
            raise ValidationError("no such contact", field="contact_id")
        if name is not None:
            name = _clean_name(name)
            if name != contact.name:
                changes["name"] = [contact.name, name]
                contact.name = name
        if addresses is not None:
            wanted = _clean_addresses(addresses, contact.id)
            if not wanted:
                raise ValidationError("a contact needs at least one address", field="addresses")
            current = {a.address for a in contact.addresses}
            for address in sorted(wanted - current):
                ContactEmail.delete().where(ContactEmail.address == address).execute()
                ContactEmail.create(contact=contact, address=address)
            if current - wanted:
                ContactEmail.delete().where(
                    (ContactEmail.contact == contact.id) & ContactEmail.address.in_(sorted(current - wanted))
                ).execute()
            if wanted != current:
                changes["addresses"] = {"added": sorted(wanted - current), "removed": sorted(current - wanted)}
                scope.addresses |= wanted ^ current
        if changes:
            contact.updated_at = now
            contact.save()
            audit.record(
                "contact.update",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="contact",
                target_id=contact.id,
                detail=changes,
            )
    return rematch(directory, now, scope)


def remove_contact(
    contact_id: int, now: datetime, *, directory: DirectoryLoader, actor: User | None = None, actor_label: str = ""
) -> dict[str, int]:
    """Soft-delete: the contact's approved activities stay; its mail is rematched to the domain."""
    with database.atomic():
        contact = Contact.get_or_none((Contact.id == contact_id) & Contact.deleted_at.is_null())
        if contact is None:
            raise ValidationError("no such contact", field="contact_id")
        contact.deleted_at = now
        contact.updated_at = now
        contact.save()
        addresses = {a.address for a in contact.addresses}
        audit.record(
            "contact.remove",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="contact",
            target_id=contact.id,
            detail={"name": contact.name, "addresses": sorted(addresses)},
        )
    return rematch(directory, now, RematchScope(set(), addresses))
