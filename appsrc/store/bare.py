"""The capture scope in the store: the policy a mailbox syncs under, bare sightings, the queue
of those to fetch again, and the reduction of full emails to bare ones.

A *bare sighting* is an external email outside the capture scope as one mailbox holds it: its
Gmail ids, its date and its participants' addresses, never its subject, body, snippet or
attachment names. It exists so that mail becomes investor mail later (an investor, domain or
contact added) can be found and fetched again in full, and so that a sync does not fetch it
again every cycle.

*Investor mail* — what scope `investors` keeps in full — is an email with an investor link, or
with a proposal, an activity or a draft (decided history is the fund's and is never reduced).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from peewee import chunked, fn

from appsrc.matching.matcher import match_key
from appsrc.matching.scope import ALL, SCOPES, CapturePolicy
from appsrc.store.capture import _insert_many, uncount_sightings
from appsrc.store.db import database
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    AppSetting,
    BareParticipant,
    BareSighting,
    Draft,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    EmailParticipant,
    MemberExclusion,
)

SCOPE_KEY = "capture_scope"


# -- the policy ---------------------------------------------------------------------------------
def capture_scope() -> str:
    """The fund's capture scope (`investors` or `all`); `all` where none was ever set."""
    row = AppSetting.get_or_none(AppSetting.key == SCOPE_KEY)
    return row.value if row is not None and row.value in SCOPES else ALL


def write_capture_scope(scope: str, now: datetime) -> None:
    if scope not in SCOPES:
        raise ValueError(f"unknown capture scope {scope!r}")
    AppSetting.insert(key=SCOPE_KEY, value=scope, updated_at=now).on_conflict(
        conflict_target=[AppSetting.key], update={AppSetting.value: scope, AppSetting.updated_at: now}
    ).execute()


def capture_policy(account_id: int) -> CapturePolicy:
    """What this mailbox keeps: the fund's scope and its owner's own exclusions."""
    owner = EmailAccount.select(EmailAccount.user).where(EmailAccount.id == account_id).scalar()
    addresses, domains = set(), set()
    if owner is not None:
        for kind, value in (
            MemberExclusion.select(MemberExclusion.kind, MemberExclusion.value)
            .where(MemberExclusion.user == owner)
            .tuples()
        ):
            if kind == "address":
                addresses.add(match_key(value))
            else:
                domains.add(value)
    return CapturePolicy(capture_scope(), frozenset(addresses), frozenset(domains))


# -- the refetch queue --------------------------------------------------------------------------
def refetch_ids(account_id: int, limit: int = 500) -> list[str]:
    """Bare sightings of this mailbox queued to be fetched again in full."""
    return [
        gid
        for (gid,) in BareSighting.select(BareSighting.gmail_id)
        .where((BareSighting.account == account_id) & BareSighting.refetch_requested_at.is_null(False))
        .order_by(BareSighting.id)
        .limit(limit)
        .tuples()
    ]


def request_refetch(sighting_ids: Sequence[int], now: datetime) -> int:
    """Queue these bare sightings, and ask the worker to sync their mailboxes soon."""
    queued = 0
    accounts: set[int] = set()
    for chunk in chunked(sorted(set(sighting_ids)), 500):
        queued += (
            BareSighting.update(refetch_requested_at=now)
            .where(BareSighting.id.in_(chunk) & BareSighting.refetch_requested_at.is_null())
            .execute()
        )
        accounts.update(
            a
            for (a,) in BareSighting.select(BareSighting.account).where(BareSighting.id.in_(chunk)).distinct().tuples()
        )
    if accounts:
        EmailAccount.update(sync_requested_at=now).where(EmailAccount.id.in_(sorted(accounts))).execute()
    return queued


def request_refetch_all(now: datetime) -> int:
    """Queue every bare sighting (the scope became `all`)."""
    queued = BareSighting.update(refetch_requested_at=now).where(BareSighting.refetch_requested_at.is_null()).execute()
    if queued:
        EmailAccount.update(sync_requested_at=now).where(
            EmailAccount.id.in_(BareSighting.select(BareSighting.account).distinct())
        ).execute()
    return queued


# -- finding bare sightings ---------------------------------------------------------------------
def bare_involving(addresses: Iterable[str] = (), domains: Iterable[str] = ()) -> set[int]:
    """Ids of bare sightings with a participant at these addresses (by match key) or at these
    domains or their subdomains."""
    found: set[int] = set()
    for chunk in chunked(sorted({match_key(a) for a in addresses}), 500):
        found.update(
            i
            for (i,) in BareParticipant.select(BareParticipant.sighting)
            .where(BareParticipant.match_key.in_(chunk))
            .tuples()
        )
    for domain in set(domains):
        found.update(
            i
            for (i,) in BareParticipant.select(BareParticipant.sighting)
            .where((BareParticipant.domain == domain) | BareParticipant.domain.endswith("." + domain))
            .tuples()
        )
    return found


def bare_batches(sighting_ids: Iterable[int] | None, size: int = 500) -> Iterator[list[int]]:
    """The ids given (or every bare sighting's, in id order) in batches of at most `size`."""
    if sighting_ids is not None:
        yield from chunked(sorted(set(sighting_ids)), size)
        return
    last = 0
    while True:
        ids = [
            i
            for (i,) in BareSighting.select(BareSighting.id)
            .where(BareSighting.id > last)
            .order_by(BareSighting.id)
            .limit(size)
            .tuples()
        ]
        if not ids:
            return
        yield ids
        last = ids[-1]


def bare_participants(sighting_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Sighting id -> [(role, address)]."""
    found: dict[int, list[tuple[str, str]]] = {i: [] for i in sighting_ids}
    for sighting_id, role, address in (
        BareParticipant.select(BareParticipant.sighting, BareParticipant.role, BareParticipant.address)
        .where(BareParticipant.sighting.in_(list(sighting_ids)))
        .tuples()
    ):
        found[sighting_id].append((role, address))
    return found


# -- reducing full emails to bare ones ------------------------------------------------------------
def _out_of_scope(query):
    """`query` (over Email) narrowed to emails that are not investor mail."""
    return query.where(
        ~fn.EXISTS(EmailInvestorLink.select(1).where(EmailInvestorLink.email == Email.id))
        & ~fn.EXISTS(ActivityProposal.select(1).where(ActivityProposal.email == Email.id))
        & ~fn.EXISTS(Activity.select(1).where(Activity.email == Email.id))
        & ~fn.EXISTS(Draft.select(1).where(Draft.email == Email.id))
    )


def count_out_of_scope() -> int:
    return _out_of_scope(Email.select(fn.COUNT(Email.id))).scalar() or 0


def out_of_scope_ids(email_ids: Iterable[int] | None = None, *, after: int = 0, limit: int = 500) -> list[int]:
    """Emails (of `email_ids`, or all, after id `after`) that scope `investors` keeps bare."""
    query = _out_of_scope(Email.select(Email.id).where(Email.id > after)).order_by(Email.id).limit(limit)
    if email_ids is not None:
        ids = sorted(set(email_ids))
        return [i for chunk in chunked(ids, 500) for (i,) in query.where(Email.id.in_(chunk)).tuples()]
    return [i for (i,) in query.tuples()]


def reduce_to_bare(email_ids: Sequence[int], now: datetime) -> int:
    """Replace these emails by bare sightings, one per live sighting: their content, search
    entries and participant rows go (cascades and triggers); who and when stay. Run on ids
    from `out_of_scope_ids` inside one transaction. Returns how many emails were reduced."""
    ids = sorted(set(email_ids))
    if not ids:
        return 0
    sent_at = dict(Email.select(Email.id, Email.sent_at).where(Email.id.in_(ids)).tuples())
    participants: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for email_id, role, address in (
        EmailParticipant.select(EmailParticipant.email, EmailParticipant.role, EmailParticipant.address)
        .where(EmailParticipant.email.in_(ids))
        .tuples()
    ):
        participants[email_id].append((role, address))
    sightings = list(
        EmailAccountMessage.select(
            EmailAccountMessage.account,
            EmailAccountMessage.email,
            EmailAccountMessage.gmail_id,
            EmailAccountMessage.gmail_thread_id,
            EmailAccountMessage.seen_generation,
            EmailAccountMessage.deleted_at,
        )
        .where(EmailAccountMessage.email.in_(ids))
        .tuples()
    )
    live = [s for s in sightings if s[5] is None]
    inserted = _insert_many(
        BareSighting,
        [
            {
                "account_id": account_id,
                "gmail_id": gmail_id,
                "gmail_thread_id": thread_id,
                "sent_at": sent_at[email_id],
                "seen_generation": generation,
                "refetch_requested_at": None,
                "created_at": now,
            }
            for account_id, email_id, gmail_id, thread_id, generation, _ in live
        ],
        ignore_conflicts=True,
        returning=("id", "account_id", "gmail_id"),
    )
    email_of = {(account_id, gmail_id): email_id for account_id, email_id, gmail_id, *_ in live}
    _insert_many(
        BareParticipant,
        [
            {
                "sighting_id": sighting_id,
                "address": address,
                "match_key": match_key(address),
                "domain": address.rpartition("@")[2],
                "role": role,
            }
            for sighting_id, account_id, gmail_id in inserted
            for role, address in dict.fromkeys(participants[email_of[account_id, gmail_id]])
        ],
        ignore_conflicts=True,
    )
    uncount_sightings((account_id for account_id, *_ in sightings), stored=True, skipped=False)
    return Email.delete().where(Email.id.in_(ids)).execute()


def reduce_out_of_scope(now: datetime, email_ids: Iterable[int] | None = None) -> int:
    """Reduce every email (of `email_ids`, or all) that is not investor mail, a batch per
    transaction; safe to run again after an interruption."""
    reduced, after = 0, 0
    candidates = None if email_ids is None else sorted(set(email_ids))
    while True:
        with database.atomic():
            ids = out_of_scope_ids(candidates, after=after)
            if not ids:
                return reduced
            reduced += reduce_to_bare(ids, now)
        after = ids[-1]
