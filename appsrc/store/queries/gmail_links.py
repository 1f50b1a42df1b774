"""Links that open a captured email's thread in Gmail, as the mailbox that holds it.

Gmail's web client opens a thread by its API thread id (`#all/<id>`, any label), and
`authuser=<address>` picks which signed-in account opens it, so a teammate signed in to several
Google accounts lands in the right mailbox. Thread ids are per mailbox: the same email has a
different one in each mailbox that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from peewee import chunked

from appsrc.store.models import EmailAccount, EmailAccountMessage

GMAIL_WEB = "https://mail.google.com/mail/"


def gmail_thread_url(mailbox: str, thread_id: str | None) -> str | None:
    """The thread's Gmail URL for `mailbox`, or None when the sighting has no thread id."""
    if not thread_id or not mailbox:
        return None
    return f"{GMAIL_WEB}?authuser={quote(mailbox, safe='')}#all/{quote(thread_id, safe='')}"


def live_gmail_links(email_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each email's live mailboxes, by address, each `{"address", "gmail_url"}`: the link that
    opens the email's thread in Gmail as that mailbox (None when the sighting has no thread id)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunked(sorted(set(email_ids)), 500):
        for email_id, address, thread_id in (
            EmailAccountMessage.select(
                EmailAccountMessage.email, EmailAccount.address, EmailAccountMessage.gmail_thread_id
            )
            .join(EmailAccount)
            .where(EmailAccountMessage.email.in_(chunk) & EmailAccountMessage.deleted_at.is_null())
            .order_by(EmailAccount.address)
            .tuples()
        ):
            found.setdefault(email_id, []).append(
                {"address": address, "gmail_url": gmail_thread_url(address, thread_id)}
            )
    return found


def first_gmail_url(links: list[dict[str, Any]]) -> str | None:
    """An email's `gmail_url` in lists: its thread as the first live mailbox by address."""
    return links[0]["gmail_url"] if links else None
