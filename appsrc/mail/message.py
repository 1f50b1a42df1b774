"""The one kind of message the appliance sends: an internal, multipart (plain text + HTML) mail.

Recipients live only in `to`; the MIME rendering has no Cc or Bcc, so the envelope (SMTP) and
the headers Gmail derives its recipients from (messages.send) are exactly the checked list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

DIGEST_ID_HEADER = "X-IR-Digest-Id"


@dataclass(frozen=True)
class OutgoingMessage:
    """What the mailer is asked to deliver. `headers` are extra `X-...` fields for mail filters
    (e.g. the digest's run id and kind); anything else is refused."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    message_id: str | None = None  # "<...>", set by the mailer: one per attempt, every transport

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", tuple(dict.fromkeys(a.strip().lower() for a in self.to if a.strip())))
        for name, _value in self.headers:
            if not name.lower().startswith("x-") or not name[2:].replace("-", "").isalnum():
                raise ValueError(f"only X- headers may be added, not {name!r}")

    def to_mime(self, sender: str, now: datetime, *, sender_name: str = "IR Mail Desk") -> EmailMessage:
        """The RFC 5322 message from `sender` (plain text, plus an HTML alternative)."""
        message = EmailMessage(policy=SMTP)
        local, _, domain = sender.rpartition("@")
        message["From"] = Address(display_name=sender_name or "", username=local, domain=domain)
        message["To"] = ", ".join(self.to)
        message["Subject"] = " ".join(self.subject.split())  # no CR/LF can reach a header
        message["Date"] = format_datetime(now)
        message["Message-ID"] = self.message_id or make_msgid("digest", domain=domain or "localhost")
        if self.message_id:  # kept by Gmail even where it gives a sent message its own Message-ID
            message[DIGEST_ID_HEADER] = self.message_id
        # RFC 3834: machine-generated, so vacation responders and auto-replies stay quiet.
        message["Auto-Submitted"] = "auto-generated"
        for name, value in self.headers:
            message[name] = " ".join(str(value).split())
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        return message

    def to_bytes(self, sender: str, now: datetime) -> bytes:
        return self.to_mime(sender, now).as_bytes()
