"""Reply drafts, composed — pure functions, no I/O.

A reply is reply-all (what a person replying to investor mail does): the Reply-To (else the
From), plus the original To and Cc, minus the replying mailbox and duplicates, compared
case-insensitively. External people go in To; everyone of ours (a team mailbox, or any address
at one of the fund's own domains: aliases, groups like ir@, teammates without a mailbox here)
stays in Cc. Bcc is never reused (only the sender's copy carries it, and a Bcc'd teammate must
not reveal the others). The subject gets exactly one "Re:", and In-Reply-To/References carry the
original's Message-ID chain so Gmail threads the draft (with the mailbox's own threadId) as the
human would expect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from appsrc.matching.matcher import domain_of, parent_domains

_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|réf|rif)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
MAX_REFERENCES = 20  # RFC 5322 §3.6.4 lets clients trim long chains; keep the root and the newest


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Recipients:
    to: tuple[Person, ...]
    cc: tuple[Person, ...]

    @property
    def addresses(self) -> list[str]:
        return [p.email for p in self.to + self.cc]


def _people(rows: Iterable[dict]) -> list[Person]:
    return [
        Person(str(r.get("email", "")).strip(), str(r.get("name", "") or "").strip())
        for r in rows or ()
        if r and str(r.get("email", "")).strip()
    ]


def reply_recipients(
    *,
    from_: dict | None,
    reply_to: Sequence[dict],
    to: Sequence[dict],
    cc: Sequence[dict],
    mailbox: str,
    team: Iterable[str],
    own_domains: Iterable[str],
) -> Recipients:
    """Reply-all recipients for `mailbox` answering an email with these headers.

    Ours are the team's mailboxes (`team`) and every address at one of `own_domains` or a
    subdomain of one; they go to Cc, never To, unless no one else is left to address.
    """
    me = mailbox.strip().lower()
    team_addresses = {a.strip().lower() for a in team}
    domains = {d.strip().lower() for d in own_domains}

    def is_ours(key: str) -> bool:
        return key in team_addresses or any(d in domains for d in parent_domains(domain_of(key)))

    target = _people(reply_to) or _people([from_] if from_ else [])
    if any(p.email.lower() == me for p in target):
        target = []  # replying to our own message: address whoever we wrote to
    seen = {me}
    to_list: list[Person] = []
    cc_list: list[Person] = []
    for person, is_cc in [(p, False) for p in target + _people(to)] + [(p, True) for p in _people(cc)]:
        key = person.email.lower()
        if key in seen:
            continue
        seen.add(key)
        (cc_list if is_cc or is_ours(key) else to_list).append(person)
    if not to_list and cc_list:  # everyone left is in Cc: the first external (else anyone) leads
        lead = next((p for p in cc_list if not is_ours(p.email.lower())), cc_list[0])
        cc_list.remove(lead)
        to_list.append(lead)
    return Recipients(tuple(to_list), tuple(cc_list))


def reply_to_elsewhere(from_: dict | None, reply_to: Sequence[dict]) -> list[str]:
    """Reply-To addresses at another domain than the From's (parent domains aside): the shape of
    a spoofed request ("reply to my new address"), so the person drafting is warned first."""
    sender = domain_of(str((from_ or {}).get("email", "")))
    if not sender:
        return []
    family = set(parent_domains(sender))
    elsewhere = []
    for person in _people(reply_to):
        domain = domain_of(person.email)
        if domain and not (set(parent_domains(domain)) & family):
            elsewhere.append(person.email)
    return elsewhere


def reply_subject(subject: str) -> str:
    """One "Re:", however many the original carried (Re: RE: AW: ...)."""
    stripped = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {stripped}" if stripped else "Re:"


def reference_chain(message_id: str | None, references: Sequence[str], in_reply_to: str | None) -> tuple[str, ...]:
    """The References of a reply: the original's References (else its In-Reply-To), then its own
    Message-ID (RFC 5322 §3.6.4), de-duplicated, the root and the newest kept when trimming."""
    chain = list(references) or ([in_reply_to] if in_reply_to else [])
    if message_id:
        chain.append(message_id)
    chain = list(dict.fromkeys(c for c in chain if c))
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return tuple(chain)


def quote(body_text: str, *, sender: str, sent_at: datetime, max_chars: int = 8_000) -> str:
    """The original below the reply, Gmail-style: "On <date>, <sender> wrote:" and "> " lines."""
    text = (body_text or "").strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "\n[…]"
    when = sent_at.strftime("%a, %d %b %Y at %H:%M %Z").strip()
    quoted = "\n".join("> " + line if line else ">" for line in text.splitlines())
    return f"On {when}, {sender} wrote:\n{quoted}"


@dataclass(frozen=True)
class Reply:
    sender: Person
    recipients: Recipients
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    body: str
    quoted: str


def render(reply: Reply, *, now: datetime, domain: str) -> bytes:
    """The reply as RFC 5322 bytes for drafts.create (UTF-8, CRLF line ends)."""
    message = EmailMessage()
    message["From"] = _header_address(reply.sender)
    message["To"] = [_header_address(p) for p in reply.recipients.to]
    if reply.recipients.cc:
        message["Cc"] = [_header_address(p) for p in reply.recipients.cc]
    message["Subject"] = reply.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain)
    if reply.in_reply_to:
        message["In-Reply-To"] = reply.in_reply_to
    if reply.references:
        message["References"] = " ".join(reply.references)
    message.set_content(f"{reply.body.rstrip()}\n\n{reply.quoted}\n")
    return message.as_bytes(policy=SMTP)


def _header_address(person: Person) -> HeaderAddress:
    local, _, domain = person.email.rpartition("@")
    try:
        return HeaderAddress(display_name=person.name, username=local, domain=domain)
    except (ValueError, IndexError):  # an exotic local part: let the header be the bare address
        return HeaderAddress(addr_spec=person.email)
