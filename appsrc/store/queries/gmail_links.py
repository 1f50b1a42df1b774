"""Links that open a captured email's thread in Gmail, as the mailbox that holds it.

Gmail's web client opens a thread by its API thread id (`#all/<id>`, any label), and
`authuser=<address>` picks which signed-in account opens it, so a teammate signed in to several
Google accounts lands in the right mailbox. Thread ids are per mailbox: the same email has a
different one in each mailbox that holds it.
"""

from __future__ import annotations

from urllib.parse import quote

GMAIL_WEB = "https://mail.google.com/mail/"


def gmail_thread_url(mailbox: str, thread_id: str | None) -> str | None:
    """The thread's Gmail URL for `mailbox`, or None when the sighting has no thread id."""
    if not thread_id or not mailbox:
        return None
    return f"{GMAIL_WEB}?authuser={quote(mailbox, safe='')}#all/{quote(thread_id, safe='')}"
