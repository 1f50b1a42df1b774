"""One person outside the fund: what the appliance holds about their address, a copy of it, and
its erasure when they ask for it.

"About them" is every email they took part in (sender, recipient, copy, blind copy or reply-to,
compared by match key like the matcher, so a +tag or Gmail's dots hide nothing), that mail's
proposals and approved activities, the contact records holding the address, and the bare
sightings (who and when, never what) they appear on. A teammate is not such a person: an address
at one of the fund's own domains, or a team mailbox, is refused (erasing it would empty a
mailbox).

Erasure deletes that mail and its approved activities too (an activity's summary is written from
the mail). Each deleted sighting, full or bare, becomes a skipped message with reason `erased`,
so a later sync does not fetch it again and the mailbox counters still add up; the skip records
name no address. The address leaves the contact records (a contact left without any address is
soft-deleted and its name cleared), and the rematch relinks what remains. The audit log keeps a
stub with the figures alone: no address, no hash of one. Earlier audit entries keep what
happened but not who: every spelling of the address the store held (as the mail and the contacts
wrote it) becomes `[erased]` in their details, a draft's recipients and a contact's addresses
included, and so does the name of a contact the erasure emptied, in the entries about that
contact. Entries about the exclusion list are left whole: an exclusion keeps the address by
design, so capture goes on refusing it, and its entries say who asked for that.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import IO, Any

from peewee import Case, chunked

from appsrc.crm import audit
from appsrc.crm.rematch import DirectoryLoader, RematchScope, rematch
from appsrc.crm.validation import ValidationError, clean_address
from appsrc.matching.direction import direction_of
from appsrc.matching.matcher import match_key, parent_domains
from appsrc.store import queries
from appsrc.store.capture import uncount_sightings
from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    BareParticipant,
    BareSighting,
    Contact,
    ContactEmail,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailParticipant,
    Investor,
    SkippedMessage,
    User,
)

LIST_LIMIT = 500  # rows per list in the JSON answer; the counts are always exact
ERASED_REASON = "erased"
ERASED_DETAIL = "erased on request"
EXPORT_FILENAME = "person-export.zip"
SPOOL_BYTES = 16 * 1024 * 1024  # an export larger than this goes to a temporary file, not memory
# Gmail delivers both domains to one mailbox; `match_key` writes them as gmail.com.
GMAIL_DOMAINS = {"gmail.com": ("gmail.com", "googlemail.com")}


# -- the address ----------------------------------------------------------------------------------
def person_address(raw: str, own_domains: Iterable[str]) -> str:
    """The address as typed, cleaned; refused when it is not one of a person outside the fund."""
    address = clean_address(raw, field="address")
    own = {d.lower() for d in own_domains}
    domain = address.rpartition("@")[2]
    if any(d in own for d in parent_domains(domain)):
        raise ValidationError(
            f"{domain} is one of the fund's own domains: this is for people outside it", field="address"
        )
    key = match_key(address)
    team = [a for (a,) in EmailAccount.select(EmailAccount.address).tuples()]
    team += [a for (a,) in User.select(User.email).tuples()]
    if any(match_key(a) == key for a in team):
        raise ValidationError(
            f"{address} is a team member's address: this is for people outside the fund", field="address"
        )
    return address


# -- what is held ---------------------------------------------------------------------------------
def _emails_of(key: str):
    """Subquery: ids of the emails with a participant of this match key."""
    return EmailParticipant.select(EmailParticipant.email).where(EmailParticipant.match_key == key)


def _bare_of(key: str):
    """Subquery: ids of the bare sightings with a participant of this match key."""
    return BareParticipant.select(BareParticipant.sighting).where(BareParticipant.match_key == key)


def _read_snapshot():
    """One read transaction, so the lists agree with the counts. SQLite: DEFERRED, so a long
    export never holds the write lock the appliance's connections otherwise take up front."""
    return database.atomic(lock_type="DEFERRED") if is_sqlite() else database.atomic()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _counts(key: str, contacts: int) -> dict[str, int]:
    emails = _emails_of(key)
    return {
        "emails": Email.select().where(Email.id.in_(emails)).count(),
        "activities": Activity.select().where(Activity.email.in_(emails)).count(),
        "proposals": ActivityProposal.select().where(ActivityProposal.email.in_(emails)).count(),
        "contacts": contacts,
        "bare_sightings": BareSighting.select().where(BareSighting.id.in_(_bare_of(key))).count(),
    }


def _own_mailboxes() -> frozenset[str]:
    return frozenset(a.lower() for (a,) in EmailAccount.select(EmailAccount.address).tuples())


def _mailboxes_of(email_ids: Sequence[int]) -> dict[int, list[str]]:
    held: dict[int, list[str]] = {i: [] for i in email_ids}
    for email_id, address in (
        EmailAccountMessage.select(EmailAccountMessage.email, EmailAccount.address)
        .join(EmailAccount)
        .where(EmailAccountMessage.email.in_(list(email_ids)))
        .order_by(EmailAccount.address)
        .tuples()
    ):
        held[email_id].append(address)
    return held


def _people(entries) -> list[dict[str, str]]:
    return [
        {"email": str(e.get("email") or ""), "name": str(e.get("name") or "")}
        for e in entries or []
        if isinstance(e, dict)
    ]


def _email_json(email: Email, mailboxes: dict[int, list[str]], own: frozenset[str]) -> dict[str, Any]:
    return {
        "id": email.id,
        "sent_at": _iso(email.sent_at),
        "subject": email.subject,
        "from": {"email": email.from_email, "name": email.from_name},
        "to": _people(email.to),
        "cc": _people(email.cc),
        "direction": direction_of((email.from_email or "").lower(), own),
        "message_id": email.message_id,
        "mailboxes": mailboxes.get(email.id, []),
        "attachments": list(email.attachments or []),
        "body_truncated": bool(email.body_truncated),
    }


_LISTED = (
    Email.id,
    Email.sent_at,
    Email.subject,
    Email.from_email,
    Email.from_name,
    Email.to,
    Email.cc,
    Email.message_id,
    Email.attachments,
    Email.body_truncated,
)


def _emails(key: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` emails involving the address, without their bodies."""
    rows = list(
        Email.select(*_LISTED)
        .where(Email.id.in_(_emails_of(key)))
        .order_by(Email.sent_at.desc(), Email.id.desc())
        .limit(limit)
    )
    mailboxes = _mailboxes_of([r.id for r in rows])
    own = _own_mailboxes()
    return [_email_json(r, mailboxes, own) for r in rows]


def _activities(key: str, limit: int | None) -> list[dict[str, Any]]:
    query = (
        Activity.select(Activity, Investor.name.alias("investor_name"))
        .join(Investor)
        .where(Activity.email.in_(_emails_of(key)))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": a["id"],
            "email_id": a["email"],
            "contact_id": a["contact"],
            "investor_id": a["investor"],
            "investor_name": a["investor_name"],
            "kind": a["kind"],
            "direction": a["direction"],
            "summary": a["summary"],
            "note": a["note"],
            "occurred_at": _iso(a["occurred_at"]),
            "created_at": _iso(a["created_at"]),
        }
        for a in query.dicts()
    ]


def _proposals(key: str, limit: int | None) -> list[dict[str, Any]]:
    query = (
        ActivityProposal.select(ActivityProposal, Investor.name.alias("investor_name"))
        .join(Investor)
        .where(ActivityProposal.email.in_(_emails_of(key)))
        .order_by(ActivityProposal.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": p["id"],
            "email_id": p["email"],
            "investor_id": p["investor"],
            "investor_name": p["investor_name"],
            "contact_id": p["contact"],
            "address": p["address"],
            "kind": p["kind"],
            "status": p["status"],
            "created_at": _iso(p["created_at"]),
            "decided_at": _iso(p["decided_at"]),
        }
        for p in query.dicts()
    ]


def _contact_rows(key: str) -> list[tuple[int, int]]:
    """(contact email id, contact id) of every contact address with this match key. Contacts keep
    the address as typed, so the candidates are found by domain and compared by match key."""
    domain = key.rpartition("@")[2]
    candidates = (
        ContactEmail.select(ContactEmail.id, ContactEmail.contact, ContactEmail.address)
        .where(ContactEmail.address.endswith("@" + d))
        .tuples()
        for d in GMAIL_DOMAINS.get(domain, (domain,))
    )
    return [
        (row_id, contact_id)
        for query in candidates
        for row_id, contact_id, address in query
        if match_key(address) == key
    ]


def _contacts(key: str) -> list[dict[str, Any]]:
    ids = sorted({contact_id for _row, contact_id in _contact_rows(key)})
    if not ids:
        return []
    addresses: dict[int, list[str]] = {i: [] for i in ids}
    for contact_id, address in (
        ContactEmail.select(ContactEmail.contact, ContactEmail.address)
        .where(ContactEmail.contact.in_(ids))
        .order_by(ContactEmail.address)
        .tuples()
    ):
        addresses[contact_id].append(address)
    return [
        {
            "id": c["id"],
            "name": c["name"],
            "investor_id": c["investor"],
            "investor_name": c["investor_name"],
            "addresses": addresses[c["id"]],
            "deleted": c["deleted_at"] is not None,
        }
        for c in Contact.select(Contact, Investor.name.alias("investor_name"))
        .join(Investor)
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
        .dicts()
    ]


def _bare_sightings(key: str) -> list[dict[str, Any]]:
    return [
        {"mailbox": mailbox, "sent_at": _iso(sent_at)}
        for mailbox, sent_at in BareSighting.select(EmailAccount.address, BareSighting.sent_at)
        .join(EmailAccount)
        .where(BareSighting.id.in_(_bare_of(key)))
        .order_by(BareSighting.sent_at.desc(), BareSighting.id.desc())
        .tuples()
    ]


def find_person(raw: str, *, own_domains: Iterable[str], limit: int = LIST_LIMIT) -> dict[str, Any]:
    """What is stored about this address: exact counts, and the newest `limit` rows of each list
    (`truncated` when a list holds fewer rows than its count)."""
    address = person_address(raw, own_domains)
    key = match_key(address)
    with _read_snapshot():
        contacts = _contacts(key)
        counts = _counts(key, len(contacts))
        lists = {
            "emails": _emails(key, limit),
            "activities": _activities(key, limit),
            "proposals": _proposals(key, limit),
        }
    return {
        "address": address,
        "counts": counts,
        **lists,
        "contacts": contacts,
        "truncated": any(len(rows) < counts[name] for name, rows in lists.items()),
    }


# -- the export -----------------------------------------------------------------------------------
def _one_line(value: str) -> str:
    """A header value on one line: stored text never adds a header of its own."""
    return " ".join(str(value or "").split())


def _address_text(email: str, name: str = "") -> str:
    name = _one_line(name).replace('"', "'")
    return f'"{name}" <{email}>' if name else email


def eml_text(email: Email) -> str:
    """The email as a plain-text message file: its headers, a blank line, the stored body."""
    headers = [
        ("From", _address_text(email.from_email, email.from_name)),
        ("To", ", ".join(_address_text(p["email"], p["name"]) for p in _people(email.to))),
        ("Cc", ", ".join(_address_text(p["email"], p["name"]) for p in _people(email.cc))),
        ("Date", format_datetime(email.sent_at)),
        ("Subject", email.subject),
        ("Message-ID", email.message_id or ""),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
    lines = [f"{name}: {_one_line(value)}" for name, value in headers if _one_line(value) or name == "Subject"]
    return "\n".join(lines) + "\n\n" + (email.body_text or "")


def export_person(raw: str, now: datetime, *, own_domains: Iterable[str]) -> IO[bytes]:
    """A zip of everything stored about the address, read from the start: `person.json` (the
    lists in full) and `emails/<id>.eml` per email. Spooled to disk when it grows large."""
    address = person_address(raw, own_domains)
    key = match_key(address)
    stamp = now.timetuple()[:6]
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
    with _read_snapshot(), zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        ids = [
            i
            for (i,) in Email.select(Email.id)
            .where(Email.id.in_(_emails_of(key)))
            .order_by(Email.sent_at, Email.id)
            .tuples()
        ]
        own = _own_mailboxes()
        emails = []
        for chunk in chunked(ids, 500):
            mailboxes = _mailboxes_of(chunk)
            for email in Email.select().where(Email.id.in_(chunk)).order_by(Email.sent_at, Email.id):
                emails.append(_email_json(email, mailboxes, own))
                archive.writestr(zipfile.ZipInfo(f"emails/{int(email.id)}.eml", stamp), eml_text(email))
        contacts = _contacts(key)
        document = {
            "address": address,
            "generated_at": _iso(now),
            "counts": _counts(key, len(contacts)),
            "emails": emails,
            "activities": _activities(key, None),
            "proposals": _proposals(key, None),
            "contacts": contacts,
            "bare_sightings": _bare_sightings(key),
        }
        archive.writestr(zipfile.ZipInfo("person.json", stamp), json.dumps(document, indent=2, ensure_ascii=False))
    out.seek(0)
    return out


# -- the erasure ----------------------------------------------------------------------------------
_KEPT_AUDIT = ("exclusion.",)  # the exclusion list keeps the address by design (module docstring)


def _spellings(key: str) -> set[str]:
    """Every spelling of the address the store holds, lower case: as the mail's headers, the bare
    sightings and the contact records wrote it (a +tag, Gmail's dots, capitals)."""
    found: set[str] = set()
    for model in (EmailParticipant, BareParticipant):
        query = model.select(model.address).where(model.match_key == key).distinct()
        found.update(address.lower() for (address,) in query.tuples())
    rows = [row_id for row_id, _contact in _contact_rows(key)]
    if rows:
        query = ContactEmail.select(ContactEmail.address).where(ContactEmail.id.in_(rows))
        found.update(address.lower() for (address,) in query.tuples())
    return found


def _record_erased(sightings: Sequence[tuple[int, str]], now: datetime) -> None:
    """Each (mailbox, Gmail id) becomes a lasting skip, so capture never fetches it again."""
    for rows in chunked(sightings, 100):
        SkippedMessage.insert_many(
            [
                {
                    "account": account_id,
                    "gmail_id": gmail_id,
                    "reason": ERASED_REASON,
                    "detail": ERASED_DETAIL,
                    "seen_generation": 0,
                    "created_at": now,
                }
                for account_id, gmail_id in rows
            ]
        ).on_conflict_ignore().execute()


def _count_as_skipped(sightings: Sequence[tuple[int, str]], *, were_stored: bool) -> None:
    uncount_sightings((account_id for account_id, _ in sightings), stored=were_stored, skipped=True)


def _erase_emails(key: str, now: datetime, counts: dict[str, int]) -> None:
    ids = sorted(i for (i,) in Email.select(Email.id).where(Email.id.in_(_emails_of(key))).tuples())
    for chunk in chunked(ids, 500):
        counts["proposals"] += ActivityProposal.select().where(ActivityProposal.email.in_(chunk)).count()
        counts["activities"] += Activity.delete().where(Activity.email.in_(chunk)).execute()
        sightings = list(
            EmailAccountMessage.select(EmailAccountMessage.account, EmailAccountMessage.gmail_id)
            .where(EmailAccountMessage.email.in_(chunk))
            .tuples()
        )
        _record_erased(sightings, now)
        _count_as_skipped(sightings, were_stored=True)
        # ON DELETE CASCADE takes the sightings, participants, links, proposals and drafts; the
        # full-text index follows by its triggers.
        counts["emails"] += Email.delete().where(Email.id.in_(chunk)).execute()


def _erase_bare(key: str, now: datetime, counts: dict[str, int]) -> None:
    found = list(
        BareSighting.select(BareSighting.id, BareSighting.account, BareSighting.gmail_id)
        .where(BareSighting.id.in_(_bare_of(key)))
        .tuples()
    )
    for chunk in chunked(found, 500):
        sightings = [(account_id, gmail_id) for _id, account_id, gmail_id in chunk]
        _record_erased(sightings, now)
        _count_as_skipped(sightings, were_stored=False)  # a bare sighting was never counted as stored
        counts["bare_sightings"] += BareSighting.delete().where(BareSighting.id.in_([i for i, *_ in chunk])).execute()


def _erase_from_contacts(key: str, now: datetime) -> tuple[int, dict[int, str]]:
    """Remove the address from every contact; one left without an address is soft-deleted and
    loses its name. Returns how many contacts held the address, and the names they lost."""
    rows = _contact_rows(key)
    if not rows:
        return 0, {}
    contact_ids = sorted({contact_id for _row, contact_id in rows})
    ContactEmail.delete().where(ContactEmail.id.in_([row_id for row_id, _contact in rows])).execute()
    still_reachable = {
        c for (c,) in ContactEmail.select(ContactEmail.contact).where(ContactEmail.contact.in_(contact_ids)).tuples()
    }
    emptied = [c for c in contact_ids if c not in still_reachable]
    names = dict(Contact.select(Contact.id, Contact.name).where(Contact.id.in_(emptied)).tuples()) if emptied else {}
    if emptied:
        Contact.update(
            name="",
            deleted_at=Case(None, [(Contact.deleted_at.is_null(), now)], Contact.deleted_at),
            updated_at=now,
        ).where(Contact.id.in_(emptied)).execute()
    return len(contact_ids), names


def erase_person(
    raw: str,
    now: datetime,
    *,
    own_domains: Iterable[str],
    directory: DirectoryLoader,
    confirm: object,
    actor: User | None = None,
    actor_label: str = "",
) -> dict[str, int]:
    """Erase what is stored about the address (see the module docstring); only with `confirm`
    exactly True. Returns how much went; all of it or nothing, then the rematch."""
    address = person_address(raw, own_domains)
    if confirm is not True:
        raise ValidationError('erasing cannot be undone: send {"confirm": true} to go ahead', field="confirm")
    key = match_key(address)
    counts = {"emails": 0, "activities": 0, "proposals": 0, "contacts": 0, "bare_sightings": 0, "audit_entries": 0}
    with database.atomic():
        spellings = _spellings(key) | {address.lower()}
        _erase_emails(key, now, counts)
        _erase_bare(key, now, counts)
        counts["contacts"], names = _erase_from_contacts(key, now)
        scrubbed = audit.scrub(spellings, keep=_KEPT_AUDIT)
        for contact_id, name in names.items():  # a contact that lost its name loses it here too
            scrubbed |= audit.scrub([name], keep=_KEPT_AUDIT, target=("contact", contact_id))
        counts["audit_entries"] = len(scrubbed)
        audit.record(
            "person.erased",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="person",
            target_id="",
            detail=dict(counts),
        )
    rematch(directory, now, RematchScope(addresses={address}))
    queries.clear_cache()
    return counts
