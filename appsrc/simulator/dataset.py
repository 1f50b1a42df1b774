"""A deterministic team of mailboxes with investor mail and ground truth for every copy.

The same seed always yields the same bytes. Mail is laid out the way Gmail holds it: an
email to two teammates is a separate copy in each mailbox (same Message-ID, different
Gmail ids, different Delivered-To trace headers); the sender keeps a SENT copy (the only
one with the Bcc header); a bcc'd teammate gets a copy nobody else sees.

Each copy carries `expected` (what a correct capture does with it) and `flags` (which
hard case it exercises), so tests can assert exact outcomes instead of "no crash".
"""

from __future__ import annotations

import base64
import csv
import email.quoprimime
import email.utils
import functools
import hashlib
import io
import quopri
import random
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

DEFAULT_NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HISTORY_DAYS = 90
FREE_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com")

# What a correct capture does with a copy. Label-based outcomes win over content-based ones.
EXPECTED = ("capture", "internal", "newsletter", "malformed", "trashed", "spam", "chat")
_LABEL_OUTCOMES = (("TRASH", "trashed"), ("SPAM", "spam"), ("CHAT", "chat"))

# Every flag `generate_team(hard_cases=True)` guarantees at least one copy of.
HARD_CASE_FLAGS = (
    "multi_mailbox",
    "reply",
    "bcc",
    "unknown_sender_at_investor_domain",
    "free_mail_contact",
    "second_investor_domain",
    "graveyard",
    "non_investor",
    "own_alias_domain",
    "missing_message_id",
    "duplicate_message_id",
    "rfc2047_utf8_b",
    "rfc2047_utf8_q",
    "rfc2047_name",
    "charset_iso_8859_1",
    "charset_windows_1252",
    "charset_iso_2022_jp",
    "charset_shift_jis",
    "charset_mislabelled",
    "html_only",
    "multipart_alternative",
    "attachment",
    "rfc2231_filename",
    "huge_attachment",
    "broken_boundary",
    "missing_headers",
    "binary_junk",
    "headers_only",
    "nul_bytes",
    "no_from",
    "list_headers",
    "precedence_bulk",
    "auto_submitted",
    "investor_domain_newsletter",
)

_FIRST_NAMES = (
    "Alice",
    "Bruno",
    "Chloé",
    "David",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Liam",
    "Marta",
    "Noah",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Łukasz",
    "José",
    "Søren",
    "Amélie",
)
_LAST_NAMES = (
    "Anderson",
    "Baker",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Huang",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Quist",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Yamamoto",
    "Zhang",
)
_INVESTOR_WORDS = (
    "Acme",
    "Blue Harbor",
    "Northwind",
    "Granite",
    "Lighthouse",
    "Summit",
    "Red Maple",
    "Silverline",
    "Juniper",
    "Orchard",
    "Bayside",
    "Keystone",
    "Cobalt",
    "Evergreen",
    "Horizon",
    "Ironwood",
    "Meridian",
    "Pioneer",
    "Quarry",
    "Sequoia",
    "Tidewater",
    "Upland",
    "Vantage",
    "Westbrook",
    "Yellowstone",
    "Zephyr",
)
_INVESTOR_SUFFIXES = ("Capital", "Ventures", "Partners", "Investments")
_SUBJECTS = (
    "Q3 portfolio update",
    "Intro call next week",
    "Term sheet comments",
    "Board deck draft",
    "Follow-up on our meeting",
    "Co-investment opportunity",
    "LP report questions",
    "Due diligence checklist",
    "Reference call",
    "Series A timeline",
    "Data room access",
    "Capital call notice",
    "Annual meeting logistics",
    "Quick question on the model",
)
_SENTENCES = (
    "Thanks for the update on the portfolio.",
    "Could we find thirty minutes next week to go through the numbers?",
    "The partners reviewed the deck and have a few questions about retention.",
    "Attached you will find our comments on the term sheet.",
    "We are still very interested and would like to meet the founders.",
    "Happy to make an introduction to our infrastructure team.",
    "Let me know if the data room access works on your side.",
    "Our investment committee meets on Thursday.",
    "The revised model looks much more realistic to us.",
    "Please send over the cap table when you have a moment.",
    "It's great to see the pipeline growing this quickly.",
    "We would like to understand the burn rate for the next two quarters.",
    "I'm travelling this week but can dial in for a short call.",
    "Congratulations on closing the round!",
    "We can't commit before the fund's annual meeting, unfortunately.",
)
_NEWSLETTERS = (
    ("Fund Weekly", "news@fundweekly.example"),
    ("VC Digest", "digest@vcdigest.example"),
    ("Startup Events", "noreply@startupevents.example"),
)
_NON_INVESTORS = (
    ("Legal Counsel", "counsel@lawfirm.example"),
    ("Office Landlord", "leasing@officespace.example"),
    ("Tax Advisor", "advisor@taxhelp.example"),
)


@dataclass(frozen=True)
class TeamMember:
    name: str
    address: str


@dataclass(frozen=True)
class Contact:
    name: str
    address: str

    @property
    def free_mail(self) -> bool:
        return self.address.rsplit("@", 1)[1] in FREE_MAIL_DOMAINS


@dataclass(frozen=True)
class Investor:
    name: str
    domains: tuple[str, ...]
    graveyard: bool
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class MailboxMessage:
    """One copy of an email in one mailbox, with its ground truth.

    `key` names the email (shared by all its copies); `investor` is the investor the mail
    concerns, or None. `message_id` is the Message-ID header as sent (None when missing).
    """

    mailbox: str
    key: str
    raw: bytes
    label_ids: tuple[str, ...]
    internal_date_ms: int
    expected: str
    flags: frozenset[str]
    message_id: str | None
    thread_key: str
    investor: str | None


@dataclass
class TeamDataset:
    seed: int
    now: datetime
    team: list[TeamMember]
    own_domains: tuple[str, ...]
    investors: list[Investor]
    messages: list[MailboxMessage] = field(repr=False)

    def investors_csv(self) -> str:
        """`investor,domains,graveyard,contact_name,contact_email`, one row per contact;
        an investor without contacts still gets one row with empty contact fields."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["investor", "domains", "graveyard", "contact_name", "contact_email"])
        for investor in self.investors:
            base = [investor.name, ";".join(investor.domains), int(investor.graveyard)]
            for contact in investor.contacts or (Contact("", ""),):
                writer.writerow(base + [contact.name, contact.address])
        return out.getvalue()

    def messages_in(self, mailbox: str) -> list[MailboxMessage]:
        return [m for m in self.messages if m.mailbox == mailbox]

    def with_flag(self, flag: str) -> list[MailboxMessage]:
        return [m for m in self.messages if flag in m.flags]

    def load_into(self, sim) -> dict[tuple[str, str], str]:
        """Add every team mailbox and insert every copy in date order (so replies thread).
        Returns {(mailbox, key): gmail_id}."""
        for member in self.team:
            sim.add_mailbox(member.address)
        return {
            (m.mailbox, m.key): sim.insert_message(
                m.mailbox, m.raw, label_ids=m.label_ids, internal_date_ms=m.internal_date_ms
            )
            for m in self.messages
        }


# -- small encoders -------------------------------------------------------------------------


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _b_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def _q_word(text: str, charset: str) -> str:
    return email.quoprimime.header_encode(text.encode(charset), charset)


@functools.lru_cache(maxsize=4096)
def _address(name: str, address: str, charset: str = "utf-8") -> str:
    """RFC 5322 mailbox; non-ASCII display names become encoded words, as mail clients do."""
    return email.utils.formataddr((name, address), charset=charset) if name else address


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _text_leaf(content_type: str, text: str, charset: str = "utf-8") -> tuple[list[str], bytes]:
    data = text.encode(charset)
    if data.isascii():
        return [f'Content-Type: {content_type}; charset="{charset}"'], _crlf(data)
    return (
        [f'Content-Type: {content_type}; charset="{charset}"', "Content-Transfer-Encoding: quoted-printable"],
        _crlf(quopri.encodestring(data)),
    )


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return f'<html><head><style>p{{margin:0}}</style></head><body><div dir="ltr">{paragraphs}</div></body></html>'


def _multipart(subtype: str, boundary: str, parts: list[tuple[list[str], bytes]]) -> tuple[list[str], bytes]:
    chunks = [
        f"--{boundary}\r\n".encode() + "\r\n".join(head).encode() + b"\r\n\r\n" + body + b"\r\n" for head, body in parts
    ]
    closing = f"--{boundary}--\r\n".encode()
    return [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'], b"".join(chunks) + closing


def _attachment(filename_params: str, content_type: str, data: bytes) -> tuple[list[str], bytes]:
    return (
        [
            f"Content-Type: {content_type}; {filename_params.replace('filename', 'name')}",
            f"Content-Disposition: attachment; {filename_params}",
            "Content-Transfer-Encoding: base64",
        ],
        _crlf(base64.encodebytes(data)),
    )


def _headers(lines: list[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("ascii")


@dataclass
class _Email:
    """An email before placement: header bytes (without Bcc), Bcc line, body (None: headers only)."""

    key: str
    date: datetime
    head: bytes
    body: bytes | None
    category: str
    flags: set[str]
    message_id: str | None
    thread_key: str
    investor: str | None
    bcc: str | None = None

    def render(self, delivered_to: str | None, with_bcc: bool) -> bytes:
        trace = b""
        if delivered_to:
            stamp = hashlib.sha256(f"{self.key}/{delivered_to}".encode()).hexdigest()
            trace = _headers(
                [
                    f"Delivered-To: {delivered_to}",
                    f"Received: by 2002:a05:6a10:{stamp[:4]}:b0:{stamp[4:8]} with SMTP id {stamp[8:20]};",
                    f"        {email.utils.format_datetime(self.date.astimezone(UTC))}",
                ]
            )
        bcc = _headers([f"Bcc: {self.bcc}"]) if with_bcc and self.bcc else b""
        if self.body is None:
            return trace + self.head + bcc
        return trace + self.head + bcc + b"\r\n" + self.body


class _Writer:
    """Turns scenarios into emails and copies; all randomness comes from one seeded RNG."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        team: list[TeamMember],
        own_domains: tuple[str, ...],
        investors: list[Investor],
    ):
        self.rng = rng
        self.now = now
        self.team = team
        self.own_domains = own_domains
        self.investors = investors
        self.messages: list[MailboxMessage] = []
        self.per_mailbox: Counter[str] = Counter()
        self._emails = 0
        self._threads = 0

    # -- building blocks --

    def new_key(self) -> str:
        self._emails += 1
        return f"e{self._emails:05d}"

    def new_thread(self) -> str:
        self._threads += 1
        return f"t{self._threads:05d}"

    def new_message_id(self, sender: str) -> str:
        domain = sender.rsplit("@", 1)[-1]
        token = f"{self.rng.getrandbits(128):032x}"
        if domain in FREE_MAIL_DOMAINS or domain in self.own_domains:
            return f"<CA{token[:24]}+{token[24:]}@mail.gmail.com>"
        return f"<{token[:16]}.{token[16:]}@{domain}>"

    def random_date(self) -> datetime:
        offset = timedelta(seconds=self.rng.uniform(3600, HISTORY_DAYS * 86400))
        zone = timezone(timedelta(hours=self.rng.choice((-8, -5, 0, 1, 2, 9))))
        return (self.now - offset).astimezone(zone).replace(microsecond=0)

    def boundary(self) -> str:
        return "0000000000" + f"{self.rng.getrandbits(64):016x}"

    def text(self, greeting: str, signer: str) -> str:
        sentences = self.rng.sample(_SENTENCES, self.rng.randint(2, 5))
        return f"Hi {greeting},\n\n" + " ".join(sentences) + f"\n\nBest,\n{signer}\n"

    def alternative(self, text: str) -> tuple[list[str], bytes]:
        return _multipart(
            "alternative", self.boundary(), [_text_leaf("text/plain", text), _text_leaf("text/html", _html(text))]
        )

    def contact(self, *, graveyard: bool | None = None) -> tuple[Investor, Contact]:
        candidates = [i for i in self.investors if i.contacts and (graveyard is None or i.graveyard == graveyard)]
        investor = self.rng.choice(candidates)
        return investor, self.rng.choice(investor.contacts)

    def members(self, count: int) -> list[TeamMember]:
        """Teammates, favouring those with the fewest copies so mailboxes fill evenly."""
        ranked = sorted(self.team, key=lambda m: (self.per_mailbox[m.address], self.rng.random()))
        return ranked[:count]

    def email(
        self,
        *,
        sender: str,
        sender_name: str,
        to: list[str],
        cc: Sequence[str] = (),
        subject: str | None,
        content: tuple[list[str], bytes] | None,
        category: str,
        flags=(),
        investor: str | None = None,
        date: datetime | None = None,
        thread_key: str | None = None,
        in_reply_to: Sequence[str] = (),
        message_id: str | None | bool = True,
        extra: Sequence[str] = (),
        bcc: str | None = None,
        name_charset: str = "utf-8",
    ) -> _Email:
        """Compose headers in the order Gmail-originated mail uses. `message_id=False` omits it."""
        date = date or self.random_date()
        if message_id is True:
            message_id = self.new_message_id(sender)
        lines = ["MIME-Version: 1.0", f"Date: {email.utils.format_datetime(date)}"]
        if in_reply_to:
            lines += [f"References: {' '.join(in_reply_to)}", f"In-Reply-To: {in_reply_to[-1]}"]
        if message_id:
            lines.append(f"Message-ID: {message_id}")
        if subject is not None:
            lines.append(f"Subject: {subject if subject.isascii() else _b_word(subject, 'utf-8')}")
        if sender:
            lines.append(f"From: {_address(sender_name, sender, name_charset)}")
        lines.append("To: " + ", ".join(to))
        if cc:
            lines.append("Cc: " + ", ".join(cc))
        lines += list(extra)
        head, body = content if content is not None else ([], None)
        flags = set(flags)
        if in_reply_to:
            flags.add("reply")
        return _Email(
            self.new_key(),
            date,
            _headers(lines + head),
            body,
            category,
            flags,
            message_id or None,
            thread_key or self.new_thread(),
            investor,
            bcc,
        )

    def place(self, mail: _Email, copies: list[tuple[str, tuple[str, ...], bool]]) -> None:
        """copies: (mailbox, labels, is_sender_copy). Sender copies keep Bcc, others get traces."""
        flags = set(mail.flags) | ({"multi_mailbox"} if len(copies) > 1 else set())
        for index, (mailbox, labels, sender_copy) in enumerate(copies):
            expected = next((outcome for label, outcome in _LABEL_OUTCOMES if label in labels), mail.category)
            self.messages.append(
                MailboxMessage(
                    mailbox,
                    mail.key,
                    mail.render(None if sender_copy else mailbox, sender_copy),
                    labels,
                    int(mail.date.timestamp() * 1000) + (0 if sender_copy else 1000 + index),
                    expected,
                    frozenset(flags),
                    mail.message_id,
                    mail.thread_key,
                    mail.investor,
                )
            )
            self.per_mailbox[mailbox] += 1

    def inbox_labels(self) -> tuple[str, ...]:
        labels = ["INBOX", "CATEGORY_PERSONAL"]
        if self.rng.random() < 0.3:
            labels.append("UNREAD")
        if self.rng.random() < 0.3:
            labels.append("IMPORTANT")
        return tuple(labels)

    def contact_flags(self, investor: Investor, contact: Contact) -> set[str]:
        flags = set()
        if contact.free_mail:
            flags.add("free_mail_contact")
        elif contact.address.rsplit("@", 1)[1] != investor.domains[0]:
            flags.add("second_investor_domain")
        if investor.graveyard:
            flags.add("graveyard")
        return flags

    # -- scenarios --

    def inbound(
        self,
        investor: Investor,
        contact: Contact,
        recipients: list[TeamMember],
        *,
        subject: str | None = None,
        content=None,
        flags=(),
        labels=None,
        message_id: str | None | bool = True,
        name_charset: str = "utf-8",
    ) -> _Email:
        to, cc = recipients[:1], recipients[1:]
        content = content or self.alternative(self.text(to[0].name.split()[0], contact.name))
        flags = set(flags) | self.contact_flags(investor, contact)
        if content[0][0].startswith("Content-Type: multipart/alternative"):
            flags.add("multipart_alternative")
        mail = self.email(
            sender=contact.address,
            sender_name=contact.name,
            to=[_address(m.name, m.address) for m in to],
            cc=[_address(m.name, m.address) for m in cc],
            subject=subject or self.rng.choice(_SUBJECTS),
            content=content,
            category="capture",
            flags=flags,
            investor=investor.name,
            message_id=message_id,
            name_charset=name_charset,
        )
        self.place(mail, [(m.address, labels or self.inbox_labels(), False) for m in recipients])
        return mail

    def conversation(self) -> None:
        """An investor thread: contact writes, a teammate replies (cc'ing a colleague), and so on."""
        investor, contact = self.contact()
        owner, colleague = self.members(2) if len(self.team) > 1 else (self.team[0], None)
        subject = self.rng.choice(_SUBJECTS)
        thread_key = self.new_thread()
        references: list[str] = []
        date = self.random_date() - timedelta(days=3)
        for turn in range(self.rng.randint(2, 4)):
            date += timedelta(hours=self.rng.randint(1, 20))
            cc_member = colleague if colleague is not None and turn > 0 and self.rng.random() < 0.5 else None
            contact_writes = turn % 2 == 0
            writer, reader = (contact, owner) if contact_writes else (owner, contact)
            mail = self.email(
                sender=writer.address,
                sender_name=writer.name,
                to=[_address(reader.name, reader.address)],
                cc=[_address(cc_member.name, cc_member.address)] if cc_member is not None else [],
                subject=("Re: " if turn else "") + subject,
                content=self.alternative(self.text(reader.name.split()[0], writer.name)),
                category="capture",
                flags=self.contact_flags(investor, contact) | {"multipart_alternative"},
                investor=investor.name,
                date=date,
                thread_key=thread_key,
                in_reply_to=list(references),
            )
            copies = [
                (owner.address, self.inbox_labels(), False) if contact_writes else (owner.address, ("SENT",), True)
            ]
            if cc_member is not None:
                copies.append((cc_member.address, self.inbox_labels(), False))
            self.place(mail, copies)
            assert mail.message_id is not None  # `email` gave it a new one (message_id=True)
            references.append(mail.message_id)

    def outbound(self, *, bcc: TeamMember | None = None) -> None:
        investor, contact = self.contact()
        sender = next(m for m in self.members(len(self.team)) if m != bcc)
        others = [m for m in self.team if m != sender and m != bcc]
        cc = [self.rng.choice(others)] if others and bcc is None and self.rng.random() < 0.4 else []
        mail = self.email(
            sender=sender.address,
            sender_name=sender.name,
            to=[_address(contact.name, contact.address)],
            cc=[_address(m.name, m.address) for m in cc],
            subject=self.rng.choice(_SUBJECTS),
            content=self.alternative(self.text(contact.name.split()[0], sender.name)),
            category="capture",
            flags=self.contact_flags(investor, contact) | {"multipart_alternative"} | ({"bcc"} if bcc else set()),
            investor=investor.name,
            bcc=_address(bcc.name, bcc.address) if bcc else None,
        )
        copies: list[tuple[str, tuple[str, ...], bool]] = [(sender.address, ("SENT",), True)]
        copies += [(m.address, self.inbox_labels(), False) for m in cc + ([bcc] if bcc else [])]
        self.place(mail, copies)

    def internal(self, *, alias: bool = False) -> None:
        sender, *recipients = self.members(min(3, len(self.team)))
        if not recipients:
            return
        sender_address = sender.address
        if alias:
            sender_address = sender.address.split("@")[0] + "@" + self.own_domains[1]
        mail = self.email(
            sender=sender_address,
            sender_name=sender.name,
            to=[_address(m.name, m.address) for m in recipients],
            subject="Team sync: pipeline review",
            content=_text_leaf("text/plain", self.text("team", sender.name)),
            category="internal",
            flags={"own_alias_domain"} if alias else set(),
        )
        self.place(
            mail,
            [(sender.address, ("SENT",), True)]
            + [(m.address, ("INBOX", "CATEGORY_PERSONAL"), False) for m in recipients],
        )

    def newsletter(self, *, kind: str | None = None) -> None:
        member = self.members(1)[0]
        kind = kind or self.rng.choice(("list_headers", "precedence_bulk", "auto_submitted"))
        name, sender = self.rng.choice(_NEWSLETTERS)
        investor = None
        extra = []
        flags = {kind}
        if kind == "investor_domain_newsletter":
            chosen = self.rng.choice([i for i in self.investors if not i.graveyard])
            investor, name, sender = chosen.name, f"{chosen.name} Updates", f"updates@{chosen.domains[0]}"
            flags.add("list_headers")
        if kind in ("list_headers", "investor_domain_newsletter"):
            list_domain = sender.split("@")[1]
            extra += [
                f"List-Id: {name} <news.{list_domain}>",
                f"List-Unsubscribe: <mailto:unsubscribe@{list_domain}>, "
                f"<https://{list_domain}/u/{self.rng.randrange(10**8)}>",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            ]
        if kind in ("precedence_bulk", "investor_domain_newsletter"):
            extra.append("Precedence: bulk")
        subject = f"{name}: this week's highlights"
        if kind == "auto_submitted":
            chosen = self.rng.choice([i for i in self.investors if not i.graveyard])
            investor, name, sender = chosen.name, f"{chosen.name} Portal", f"notifications@{chosen.domains[0]}"
            subject = "New document available in the investor portal"
            extra.append("Auto-Submitted: auto-generated")
        mail = self.email(
            sender=sender,
            sender_name=name,
            to=[member.address],
            subject=subject,
            content=_text_leaf("text/html", _html(self.text("there", name))),
            category="newsletter",
            flags=flags,
            extra=extra,
            investor=investor,
        )
        self.place(mail, [(member.address, ("INBOX", "CATEGORY_UPDATES", "UNREAD"), False)])

    def spam(self) -> None:
        member = self.members(1)[0]
        mail = self.email(
            sender="winner@lucky-prize.example",
            sender_name="Prize Center",
            to=[member.address],
            subject="You have won!!!",
            content=_text_leaf("text/plain", "Claim your prize now.\n"),
            category="capture",
        )
        self.place(mail, [(member.address, ("SPAM", "UNREAD"), False)])

    def chat(self) -> None:
        """Old Hangouts chats live in Gmail with the CHAT label and look like mail."""
        investor, contact = self.contact()
        member = self.members(1)[0]
        mail = self.email(
            sender=contact.address,
            sender_name=contact.name,
            to=[member.address],
            subject=f"Chat with {contact.name}",
            content=_text_leaf("text/plain", "are you free for a call?\n"),
            category="capture",
            investor=investor.name,
        )
        self.place(mail, [(member.address, ("CHAT",), False)])

    def non_investor(self) -> None:
        name, sender = self.rng.choice(_NON_INVESTORS)
        member = self.members(1)[0]
        mail = self.email(
            sender=sender,
            sender_name=name,
            to=[_address(member.name, member.address)],
            subject="Documents for signature",
            content=self.alternative(self.text(member.name, name)),
            category="capture",
            flags={"non_investor", "multipart_alternative"},
        )
        self.place(mail, [(member.address, self.inbox_labels(), False)])

    def inbound_random(self) -> None:
        investor, contact = self.contact()
        count = self.rng.choice((1, 1, 1, 2, 3))
        self.inbound(investor, contact, self.members(min(count, len(self.team))))

    def trashed(self) -> None:
        """One email, two copies: deleted to Trash by one teammate, kept by the other."""
        investor, contact = self.contact()
        recipients = self.members(min(2, len(self.team)))
        self.inbound(investor, contact, recipients)
        first_copy = len(self.messages) - len(recipients)
        self.messages[first_copy] = _relabel(self.messages[first_copy], ("TRASH", "CATEGORY_PERSONAL"))


def _relabel(message: MailboxMessage, labels: tuple[str, ...]) -> MailboxMessage:
    expected = next((outcome for label, outcome in _LABEL_OUTCOMES if label in labels), message.expected)
    return MailboxMessage(
        message.mailbox,
        message.key,
        message.raw,
        labels,
        message.internal_date_ms,
        expected,
        message.flags,
        message.message_id,
        message.thread_key,
        message.investor,
    )


# -- team and investors ---------------------------------------------------------------------


def _person(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """A unique (display name, ascii local part)."""
    while True:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        local = f"{_ascii_slug(first)}.{_ascii_slug(last)}"
        if local not in used:
            used.add(local)
            return f"{first} {last}", local


def _make_investors(rng: random.Random, count: int, contacts_per_investor: int, hard_cases: bool) -> list[Investor]:
    names: list[str] = []
    for suffix in _INVESTOR_SUFFIXES:
        names += [f"{word} {suffix}" for word in _INVESTOR_WORDS]
    rng.shuffle(names)
    names = [names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "") for i in range(count)]
    if hard_cases and count >= 3:
        names[2] = "Smith, Jones & Partners"  # a comma the CSV must quote
    # Hard cases rely on investors 0-3 being live (a free-mail contact, two domains, none).
    candidates = range(4 if hard_cases else 0, count)
    graveyard = set(rng.sample(candidates, min(len(candidates), max(1, round(count * 0.1)))))
    used: set[str] = set()
    used_domains: set[str] = set()
    investors = []
    for index, name in enumerate(names):
        slug = _ascii_slug(name)
        domains: tuple[str, ...] = (f"{slug}.example",)
        if index % 4 == 1:
            short = f"{_ascii_slug(name.split()[0])}-vc.example"
            # Two investors can share a first word; a domain identifies exactly one investor.
            domains += (short if short not in used_domains else f"{slug}-vc.example",)
        used_domains.update(domains)
        contacts = []
        wanted = 0 if hard_cases and index == 3 else contacts_per_investor
        for number in range(wanted):
            person, local = _person(rng, used)
            free_mail = (hard_cases and index == 1 and number == 0) or rng.random() < 0.1
            domain = rng.choice(FREE_MAIL_DOMAINS) if free_mail else domains[number % len(domains)]
            contacts.append(Contact(person, f"{local}@{domain}"))
        investors.append(Investor(name, domains, index in graveyard, tuple(contacts)))
    return investors


# -- hard cases -----------------------------------------------------------------------------


def _hard_cases(w: _Writer, huge_attachment_bytes: int, huge_attachments: int) -> None:
    rng = w.rng
    team = w.team
    normal = [i for i in w.investors if i.contacts and not i.graveyard]
    acme = normal[0]
    contact = acme.contacts[0]

    w.inbound(acme, contact, team[:2], subject="Dinner with the partners")  # multi_mailbox
    w.conversation()
    w.outbound(bcc=team[2])
    w.trashed()
    w.internal(alias=True)

    no_contacts = next(i for i in w.investors if not i.contacts)
    stranger = Contact("Pat Unknown", f"pat.unknown@{no_contacts.domains[0]}")
    w.inbound(no_contacts, stranger, team[:1], flags={"unknown_sender_at_investor_domain"})
    free = next(i for i in w.investors if any(c.free_mail for c in i.contacts))
    w.inbound(free, next(c for c in free.contacts if c.free_mail), team[1:2])
    two_domains = next(i for i in normal if len(i.domains) > 1)
    w.inbound(
        two_domains,
        Contact("Robin Second", f"robin.second@{two_domains.domains[1]}"),
        team[:1],
        flags={"unknown_sender_at_investor_domain"},
    )
    grave = next(i for i in w.investors if i.graveyard and i.contacts)
    w.inbound(grave, grave.contacts[0], team[2:3])
    w.non_investor()

    w.inbound(acme, contact, team[1:2], message_id=False, flags={"missing_message_id"})
    shared_id = w.new_message_id(contact.address)
    w.inbound(acme, contact, team[:1], message_id=shared_id, subject="Invoice", flags={"duplicate_message_id"})
    other = normal[1]
    w.inbound(
        other,
        other.contacts[0],
        team[1:2],
        message_id=shared_id,
        subject="Portfolio dinner",
        flags={"duplicate_message_id"},
    )

    # Encoded words and charsets.
    text = w.text("team", contact.name)
    w.inbound(
        acme,
        Contact("Zoë Ångström", contact.address),
        team[:1],
        flags={"rfc2047_utf8_b", "rfc2047_name"},
        subject=_b_word("Präsentation für das Board – Q3", "utf-8"),
    )
    w.inbound(acme, contact, team[1:2], subject=_q_word("Réunion à Paris ✈", "utf-8"), flags={"rfc2047_utf8_q"})
    latin = "Grüße aus München, José"
    w.inbound(
        acme,
        Contact("José Müller", contact.address),
        team[2:3],
        name_charset="iso-8859-1",
        subject=_q_word("Prüfung der Unterlagen", "iso-8859-1"),
        content=_text_leaf("text/plain", latin + "\n", "iso-8859-1"),
        flags={"charset_iso_8859_1", "rfc2047_name"},
    )
    w.inbound(
        acme,
        contact,
        team[:1],
        subject=_q_word("“Term sheet” – €5M round", "windows-1252"),
        content=_text_leaf("text/plain", "We’re in for €5M — “subject to IC”.\n", "windows-1252"),
        flags={"charset_windows_1252"},
    )
    japanese = "資料をお送りします。よろしくお願いします。\n"
    w.inbound(
        acme,
        contact,
        team[1:2],
        subject=_b_word("投資のご相談", "iso-2022-jp"),
        content=(
            ['Content-Type: text/plain; charset="ISO-2022-JP"', "Content-Transfer-Encoding: 7bit"],
            _crlf(japanese.encode("iso-2022-jp")),
        ),
        flags={"charset_iso_2022_jp"},
    )
    w.inbound(
        acme,
        contact,
        team[2:3],
        subject=_b_word("見積もりのご確認", "shift_jis"),
        content=_text_leaf("text/plain", japanese, "shift_jis"),
        flags={"charset_shift_jis"},
    )
    utf8_labelled_latin1 = f"=?iso-8859-1?B?{base64.b64encode('Präsentation'.encode()).decode()}?="
    w.inbound(
        acme,
        contact,
        team[:1],
        subject=utf8_labelled_latin1,
        content=(
            ['Content-Type: text/plain; charset="us-ascii"', "Content-Transfer-Encoding: 8bit"],
            _crlf("Die Präsentation ist fertig. Grüße!\n".encode()),
        ),
        flags={"charset_mislabelled"},
    )

    # Bodies and attachments.
    w.inbound(acme, contact, team[1:2], content=_text_leaf("text/html", _html(text)), flags={"html_only"})
    pdf = b"%PDF-1.4\n" + rng.randbytes(20_000)
    mixed = _multipart(
        "mixed", w.boundary(), [w.alternative(text), _attachment('filename="deck.pdf"', "application/pdf", pdf)]
    )
    w.inbound(acme, contact, team[2:3], content=mixed, flags={"attachment"}, subject="Deck attached")
    rfc2231 = _multipart(
        "mixed",
        w.boundary(),
        [
            _text_leaf("text/plain", text),
            _attachment("filename*=UTF-8''Pr%C3%A4sentation%20Q3%20%E2%80%93%20final.pdf", "application/pdf", pdf),
        ],
    )
    w.inbound(acme, contact, team[:1], content=rfc2231, flags={"attachment", "rfc2231_filename"})
    for number in range(huge_attachments):
        blob = b"%PDF-1.7\n" + rng.randbytes(huge_attachment_bytes)
        huge = _multipart(
            "mixed",
            w.boundary(),
            [
                _text_leaf("text/plain", text),
                _attachment(f'filename="data-room-{number + 1}.pdf"', "application/pdf", blob),
            ],
        )
        w.inbound(
            acme,
            contact,
            team[number % len(team) :][:1],
            content=huge,
            flags={"attachment", "huge_attachment"},
            subject="Full data room export",
        )

    _malformed_cases(w, acme, contact)

    for kind in ("list_headers", "precedence_bulk", "auto_submitted", "investor_domain_newsletter"):
        w.newsletter(kind=kind)
    w.spam()
    w.chat()


def _malformed_cases(w: _Writer, investor: Investor, contact: Contact) -> None:
    member = w.team[0]
    sender = _address(contact.name, contact.address)
    when = w.random_date()
    date = email.utils.format_datetime(when)

    def raw_mail(flags: set[str], head: bytes, body: bytes | None) -> None:
        message_id = None
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        mail = _Email(w.new_key(), when, head, body, "malformed", flags, message_id, w.new_thread(), investor.name)
        w.place(mail, [(member.address, ("INBOX", "CATEGORY_PERSONAL"), False)])

    def ids() -> str:
        return f"Message-ID: {w.new_message_id(contact.address)}"

    base = [f"From: {sender}", f"To: {member.address}", f"Date: {date}"]
    raw_mail(
        {"broken_boundary"},
        _headers(
            base
            + [
                ids(),
                "Subject: Broken MIME",
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="BOUNDARY-A"',
            ]
        ),
        b"--BOUNDARY-B\r\nContent-Type: text/plain\r\n\r\nThe boundary does not match.\r\n"
        b'--BOUNDARY-B\r\nContent-Type: application/pdf; name="cut.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJeLjz9MKMSAwIG9iago8PC9U",
    )
    raw_mail(
        {"missing_headers", "missing_message_id"},
        _headers([f"From: {sender}"]),
        b"No date, no subject, no recipients, no Message-ID.\r\n",
    )
    raw_mail(
        {"binary_junk"},
        _headers(base + [ids()])
        + b"Subject: \xff\xfe Gr\xfc\xdfe \x81\x8d\r\n"
        + b"Content-Type: application/octet-stream\r\n",
        w.rng.randbytes(600),
    )
    raw_mail({"headers_only"}, _headers(base + [ids(), "Subject: Headers only, no body at all"]), None)
    raw_mail(
        {"nul_bytes"},
        _headers(base + [ids()]) + b"Subject: NUL\x00 in subject\r\n",
        b"Body with \x00 NUL \x00 bytes.\r\n",
    )
    raw_mail(
        {"no_from"},
        _headers([f"To: {member.address}", f"Date: {date}", ids(), "Subject: Who sent this?"]),
        b"There is no From header in this message.\r\n",
    )


# -- public generators ----------------------------------------------------------------------


def _pick(rng: random.Random, weighted):
    roll = rng.random()
    for weight, choice in weighted:
        roll -= weight
        if roll < 0:
            return choice
    return weighted[-1][1]


def generate_team(
    seed: int = 1,
    *,
    team_size: int = 5,
    investors: int = 20,
    contacts_per_investor: int = 3,
    messages_per_mailbox: int = 200,
    own_domain: str = "fund.example",
    hard_cases: bool = True,
    now: datetime = DEFAULT_NOW,
    huge_attachment_bytes: int = 3 * 1024 * 1024,
    huge_attachments: int = 2,
) -> TeamDataset:
    """A deterministic team dataset. Each mailbox ends up with at least `messages_per_mailbox`
    copies (hard cases come on top when they exceed it). `now` defaults to a fixed moment so
    the bytes never change; pass the real time for a live demo."""
    if hard_cases and (team_size < 3 or investors < 5 or contacts_per_investor < 1):
        raise ValueError("hard cases need team_size >= 3, investors >= 5, contacts_per_investor >= 1")
    if team_size < 1 or investors < 1:
        raise ValueError("need at least one teammate and one investor")
    rng = random.Random(seed)
    stem = own_domain.split(".")[0]
    own_domains = (own_domain, f"{stem}-partners.example")
    used: set[str] = set()
    team = []
    for _ in range(team_size):
        name, local = _person(rng, used)
        team.append(TeamMember(name, f"{local}@{own_domain}"))
    investor_list = _make_investors(rng, investors, contacts_per_investor, hard_cases)
    writer = _Writer(rng, now, team, own_domains, investor_list)
    if hard_cases:
        _hard_cases(writer, huge_attachment_bytes, huge_attachments)
    scenarios = (
        (0.34, writer.inbound_random),
        (0.18, writer.conversation),
        (0.14, writer.outbound),
        (0.10, writer.internal),
        (0.10, writer.newsletter),
        (0.04, writer.spam),
        (0.03, writer.chat),
        (0.03, writer.trashed),
        (0.04, writer.non_investor),
    )
    while min(writer.per_mailbox[m.address] for m in team) < messages_per_mailbox:
        _pick(rng, scenarios)()
    messages = sorted(writer.messages, key=lambda m: (m.internal_date_ms, m.key, m.mailbox))
    return TeamDataset(seed, now, team, own_domains, investor_list, messages)


def generate_mailbox_stream(
    seed: int, address: str, n: int, *, investors: list[Investor] | None = None, now: datetime = DEFAULT_NOW
) -> Iterator[MailboxMessage]:
    """Exactly `n` copies for one mailbox, produced lazily for 100,000-message benchmarks.

    Copies come in arrival order (a reply always after what it answers), not date order,
    which is all Gmail's threading and history need. Pass `generate_team(...).investors`
    to share investors (and their CSV) with a team dataset.
    """
    rng = random.Random(seed)
    if investors is None:
        investors = _make_investors(rng, 20, 3, hard_cases=False)
    local, own_domain = address.split("@")
    member = TeamMember(" ".join(part.capitalize() for part in local.split(".")), address)
    writer = _Writer(rng, now, [member], (own_domain,), investors)
    scenarios = (
        (0.45, writer.inbound_random),
        (0.20, writer.conversation),
        (0.12, writer.outbound),
        (0.10, writer.newsletter),
        (0.04, writer.spam),
        (0.03, writer.chat),
        (0.03, writer.trashed),
        (0.03, writer.non_investor),
    )
    produced = 0
    while produced < n:
        _pick(rng, scenarios)()
        yield from writer.messages[: n - produced]
        produced += min(len(writer.messages), n - produced)
        writer.messages.clear()
