"""Match an email's participants to the fund's investors and contacts — pure, no I/O.

Rules:
- a contact is found by its exact address, free-mail addresses included, compared by
  `match_key` (case-insensitive; "+tag" ignored; Gmail also ignores dots);
- otherwise an investor is found by the address's domain or a parent domain, never by a free-mail
  domain (gmail.com cannot belong to an investor);
- mail where every participant is one of our own (domains or team mailboxes) is internal-only and
  is not captured; mail involving an excluded address or domain is not captured at all;
- bulk mail may be linked to investors but never becomes a proposal, and neither does mail of a
  graveyard investor (its history stays searchable; un-graveyarding rematches it), unless they
  write again: mail *from* them sent after they went to the graveyard is proposed, marked as
  their return (`returning_proposals`);
- mail a mailing list relayed is bulk, except when the list is one of the fund's own groups
  (ir@fund.com): investors write to those, and that mail is person-to-person (`bulk_reason`);
- a contact who changed firms belongs, for mail sent before the move, to the investor they left
  (`Directory.contact_moves`); from the move on, to their current one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

# Domains where anyone can get an address: never evidence of which investor someone works for.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "live.com",
        "live.co.uk",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "protonmail.com",
        "protonmail.ch",
        "proton.me",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "zoho.com",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "tutanota.com",
        "tuta.io",
        "mail.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "bigpond.com",
        "optusnet.com.au",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
    }
)
_GMAIL = {"gmail.com", "googlemail.com"}

# The parser's bulk reasons that only say "a mailing list relayed it" (see `bulk_reason`).
LIST_RELAY_REASONS = frozenset(
    {"precedence:list", "list-id", "list-unsubscribe", "list-post", "mailing-list", "x-google-group-id"}
)

ROLES = ("from", "reply_to", "to", "cc", "bcc")  # the order links prefer their matched address
_ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

# Entries per directory snapshot (one per sync pass or rematch): ~150 bytes per address, and up
# to ~1.5 KB per participant set with its links and proposals, so the second memo stays small.
MEMO_LIMIT = 100_000
MATCHES_LIMIT = 4_096


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


@functools.lru_cache(maxsize=4096)
def match_key(address: str) -> str:
    """The form two addresses of one mailbox share: lower-case, no +tag, Gmail without dots.
    Cached: every stored participant row carries one, and correspondents repeat."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _GMAIL:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def parent_domains(domain: str) -> Iterable[str]:
    """mail.acme.com, acme.com (never the bare top-level label)."""
    labels = domain.lower().strip(".").split(".")
    for i in range(len(labels) - 1):
        yield ".".join(labels[i:])


def is_free_mail(domain: str) -> bool:
    return domain.lower() in FREE_MAIL_DOMAINS


@dataclass(frozen=True)
class ContactRef:
    contact_id: int
    investor_id: int


@dataclass(frozen=True)
class Directory:
    """A snapshot of who is who, loaded once per sync pass or rematch."""

    own_domains: frozenset[str] = frozenset()
    own_addresses: frozenset[str] = frozenset()
    contacts: Mapping[str, ContactRef] = field(default_factory=dict)  # match_key -> contact
    investor_domains: Mapping[str, int] = field(default_factory=dict)  # domain -> investor id
    graveyard: frozenset[int] = frozenset()
    graveyard_since: Mapping[int, datetime | None] = field(default_factory=dict)
    excluded_addresses: frozenset[str] = frozenset()  # match keys
    excluded_domains: frozenset[str] = frozenset()
    # match key -> ((until, who it was before until), ...), oldest first: contacts who moved firms
    contact_moves: Mapping[str, tuple[tuple[datetime, ContactRef], ...]] = field(default_factory=dict)
    # address -> classify(address)
    _memo: dict[str, tuple[bool, bool, int | None, int | None]] = field(default_factory=dict, compare=False, repr=False)
    # (participants, is_bulk) -> match(participants, is_bulk=...)
    _matches: dict[tuple[tuple[tuple[str, str], ...], bool], Match] = field(
        default_factory=dict, compare=False, repr=False
    )

    def classify(self, address: str) -> tuple[bool, bool, int | None, int | None]:
        """(excluded, own, investor id, contact id) of one address, memoized: a mailbox's mail
        repeats the same few hundred addresses."""
        known = self._memo.get(address)
        if known is None:
            contact = self.contacts.get(match_key(address))
            investor = contact.investor_id if contact else self.investor_for_domain(domain_of(address))
            known = (self.is_excluded(address), self.is_own(address), investor, contact.contact_id if contact else None)
            if len(self._memo) < MEMO_LIMIT:
                self._memo[address] = known
        return known

    def classify_at(self, address: str, sent_at: datetime) -> tuple[bool, bool, int | None, int | None]:
        """`classify`, for mail sent at `sent_at`: before a contact's move, the firm they left."""
        excluded, own, investor_id, contact_id = self.classify(address)
        for until, before in self.contact_moves.get(match_key(address), ()):
            if sent_at < until:
                return excluded, own, before.investor_id, before.contact_id
        return excluded, own, investor_id, contact_id

    def is_own(self, address: str) -> bool:
        if address in self.own_addresses:
            return True
        return self.is_own_domain(domain_of(address))

    def is_own_domain(self, domain: str) -> bool:
        return any(d in self.own_domains for d in parent_domains(domain))

    def is_excluded(self, address: str) -> bool:
        if match_key(address) in self.excluded_addresses:
            return True
        return any(d in self.excluded_domains for d in parent_domains(domain_of(address)))

    def investor_for_domain(self, domain: str) -> int | None:
        if is_free_mail(domain):
            return None
        for candidate in parent_domains(domain):
            if is_free_mail(candidate):
                return None
            investor_id = self.investor_domains.get(candidate)
            if investor_id is not None:
                return investor_id
        return None


@dataclass(frozen=True)
class Link:
    investor_id: int
    contact_id: int | None
    address: str


RETURN_KIND = "graveyard-return"  # a proposal for a graveyard investor who wrote again


@dataclass(frozen=True)
class Proposal:
    investor_id: int
    contact_id: int | None
    address: str
    kind: str = "email"

    @property
    def target_key(self) -> str:
        return f"contact:{self.contact_id}" if self.contact_id is not None else f"address:{self.address}"


@dataclass(frozen=True)
class Match:
    verdict: str  # capture | internal | excluded
    links: tuple[Link, ...] = ()
    proposals: tuple[Proposal, ...] = ()
    excluded_by: str | None = None
    returning: tuple[Proposal, ...] = ()  # graveyard investors who sent it: see `returning_proposals`


def bulk_reason(reason: str | None, list_domain: str | None, directory: Directory) -> str | None:
    """Why an email is bulk (None: person-to-person), from what the parser saw (its
    `bulk_reason` and `list_domain`). A list that names itself by one of the fund's own domains
    is one of the fund's own groups or aliases: being relayed by it makes nothing bulk. Every
    other sign (auto-submitted, Precedence: bulk, one-click unsubscribe) counts wherever the
    mail came through."""
    if reason in LIST_RELAY_REASONS and list_domain and directory.is_own_domain(list_domain):
        return None
    return reason


def match(
    participants: Iterable[tuple[str, str]], directory: Directory, *, is_bulk: bool, sent_at: datetime | None = None
) -> Match:
    """Decide what happens to an email from its (role, address) pairs; memoized per directory
    snapshot, as the same correspondents write again and again. Mail with a contact who moved
    firms depends on when it was sent (`sent_at`), and is decided without the memo."""
    if sent_at is not None and directory.contact_moves:
        pairs = tuple(participants)
        if any(match_key(address) in directory.contact_moves for _, address in pairs):
            return _match(pairs, directory, is_bulk, sent_at)
        participants = pairs
    key = (tuple(participants), is_bulk)
    known = directory._matches.get(key)
    if known is None:
        known = _match(key[0], directory, is_bulk)
        if len(directory._matches) < MATCHES_LIMIT:
            directory._matches[key] = known
    return known


def _match(
    participants: tuple[tuple[str, str], ...], directory: Directory, is_bulk: bool, sent_at: datetime | None = None
) -> Match:
    ordered = sorted({(_ROLE_RANK.get(role, len(ROLES)), address) for role, address in participants if address})
    external = []
    for _, address in ordered:
        if sent_at is None:
            excluded, own, investor_id, contact_id = directory.classify(address)
        else:
            excluded, own, investor_id, contact_id = directory.classify_at(address, sent_at)
        if excluded:
            return Match("excluded", excluded_by=address)
        if not own:
            external.append((address, investor_id, contact_id))
    if not external:
        return Match("internal")

    links: dict[int, Link] = {}
    proposals: dict[str, Proposal] = {}
    returning: dict[str, Proposal] = {}
    senders = {address for role, address in participants if role == "from"}
    for address, investor_id, contact_id in dict.fromkeys(external):
        if investor_id is None:
            continue
        current = links.get(investor_id)
        if current is None or (current.contact_id is None and contact_id is not None):
            links[investor_id] = Link(investor_id, contact_id, address)
        if is_bulk:
            continue
        if investor_id not in directory.graveyard:
            proposal = Proposal(investor_id, contact_id, address)
            proposals.setdefault(proposal.target_key, proposal)
        elif address in senders:
            proposal = Proposal(investor_id, contact_id, address, RETURN_KIND)
            returning.setdefault(proposal.target_key, proposal)
    return Match("capture", tuple(links.values()), tuple(proposals.values()), returning=tuple(returning.values()))


def returning_proposals(result: Match, sent_at: datetime, directory: Directory) -> Match:
    """`result` with the proposals of graveyard investors who wrote it after they went to the
    graveyard: their return is news an IR team wants, their old history is not. Kept apart from
    `match` so its memo stays keyed by the participants alone."""
    back = tuple(
        p
        for p in result.returning
        if (since := directory.graveyard_since.get(p.investor_id)) is None or sent_at > since
    )
    return replace(result, proposals=result.proposals + back) if back else result
