"""The rematch: captured mail relinked after the directory changed.

Adding a domain, a contact or an exclusion, or taking an investor out of the graveyard, changes
what the matcher decides for mail already captured. The CRM services that make such a change
run the rematch themselves (on the emails the change concerns, `RematchScope`), so no caller
has to remember it. Decided proposals are history and stay; pending ones that no longer match
go; new ones are proposed; excluded mail stays stored but loses its links and pending proposals.

Under capture scope `investors` the rematch also looks at bare sightings: one that matches an
investor now is queued for the worker to fetch again in full (then stored, linked and proposed
as if it had matched at capture), and an email that lost its last link and has no history is
reduced to bare sightings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from appsrc.matching.matcher import Directory, match, returning_proposals
from appsrc.matching.scope import INVESTORS
from appsrc.store import bare
from appsrc.store import capture as store
from appsrc.store.db import database

DirectoryLoader = Callable[[], Directory]


@dataclass
class RematchScope:
    """What changed, so the rematch relinks only the captured mail it concerns."""

    domains: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.domains or self.addresses)

    def update(self, other: RematchScope) -> None:
        self.domains |= other.domains
        self.addresses |= other.addresses


def empty_stats() -> dict[str, int]:
    return {
        "emails": 0,
        "links_added": 0,
        "links_removed": 0,
        "proposals_added": 0,
        "proposals_removed": 0,
        "reduced": 0,
        "refetch_queued": 0,
    }


def rematch(
    directory: DirectoryLoader, now: datetime, scope: RematchScope | None = None, *, everything: bool = False
) -> dict[str, int]:
    """Relink the mail `scope` concerns (all captured mail when `everything`), with the
    directory as it is now. Nothing to do (and no directory read) for an empty scope."""
    if everything:
        loaded = directory()
        stats = relink(loaded, None, now)
        stats["refetch_queued"] = queue_refetch(loaded, None, now)
        return stats
    if not scope:
        return empty_stats()
    loaded = directory()
    stats = relink(loaded, store.emails_involving(addresses=scope.addresses, domains=scope.domains), now)
    stats["refetch_queued"] = queue_refetch(
        loaded, bare.bare_involving(addresses=scope.addresses, domains=scope.domains), now
    )
    return stats


def relink(directory: Directory, email_ids: Iterable[int] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Recompute investor links and pending proposals of these emails (every email if None)."""
    stats = empty_stats()
    unlinked: list[int] = []
    for ids in store.email_id_batches(email_ids):
        with database.atomic():
            unlinked += _relink(directory, store.link_state(ids), now, stats)
    if unlinked and now is not None and bare.capture_scope() == INVESTORS:
        stats["reduced"] = bare.reduce_out_of_scope(now, unlinked)
    return stats


def queue_refetch(directory: Directory, sighting_ids: Iterable[int] | None, now: datetime | None) -> int:
    """Queue the bare sightings (of these, or all) that match an investor now."""
    queued = 0
    for ids in bare.bare_batches(sighting_ids):
        participants = bare.bare_participants(ids)
        matching = [i for i in ids if match(participants[i], directory, is_bulk=False).links]
        if matching and now is not None:
            with database.atomic():
                queued += bare.request_refetch(matching, now)
    return queued


def _relink(directory: Directory, state: store.LinkState, now: datetime | None, stats: dict[str, int]) -> list[int]:
    """Relink one batch; returns the emails that lost their last investor link."""
    unlinked = []
    for email_id, is_bulk, sent_at in state.facts:
        stats["emails"] += 1
        result = returning_proposals(
            match(state.participants[email_id], directory, is_bulk=is_bulk, sent_at=sent_at), sent_at, directory
        )
        if not result.links and state.links[email_id]:
            unlinked.append(email_id)  # it lost its last link now
        want_links = {link.investor_id: (link.contact_id, link.address) for link in result.links}
        have_links = state.links[email_id]
        stale = [investor for investor, value in have_links.items() if want_links.get(investor) != value]
        if stale:
            store.remove_links(email_id, stale)
            stats["links_removed"] += len(stale)
        fresh = [link for link in result.links if have_links.get(link.investor_id) != (link.contact_id, link.address)]
        if fresh:
            store.add_links(email_id, fresh, now)
            stats["links_added"] += len(fresh)
        have = state.proposals[email_id]
        want = {p.target_key for p in result.proposals}
        gone = [key for key, (status, _kind, _investor) in have.items() if status == "pending" and key not in want]
        if gone:
            store.remove_pending_proposals(email_id, gone)
            stats["proposals_removed"] += len(gone)
        for p in result.proposals:  # a returned investor taken out of the graveyard; a contact's move
            status, kind, investor_id = have.get(p.target_key, ("", "", 0))
            if status == "pending" and (kind, investor_id) != (p.kind, p.investor_id):
                store.set_proposal(email_id, p.target_key, p.kind, p.investor_id)
        new = [p for p in result.proposals if p.target_key not in have]
        if new:
            stats["proposals_added"] += store.add_proposals(email_id, new, now)
    return unlinked
