"""Build a small, exact CRM world in a real SQLite store.

Emails are written as capture writes them (email, participants, sightings) and then linked by
the real matcher through `crm.rematch.relink`, so investor links and proposals are exactly
what capture would have produced.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

from appsrc.crm.directory import load_directory
from appsrc.crm.investors import add_contact, create_investor
from appsrc.crm.rematch import relink
from appsrc.crm.users import add_user, issue_token
from appsrc.matching.matcher import match_key
from appsrc.store.models import ActivityProposal, Email, EmailAccount, EmailAccountMessage, EmailParticipant, User

OWN = "fund.example"


class World:
    """Personas and mail. `ada` is an admin with a password, `bob` a teammate (not an admin)."""

    PASSWORD = "correct horse battery staple"

    def __init__(self, now: datetime, own_domains=(OWN,)) -> None:
        self.now = now
        self.own_domains = tuple(own_domains)
        self._ids = itertools.count(1)
        self.ada = add_user(f"ada@{OWN}", "Ada Admin", now, is_admin=True, password=self.PASSWORD)
        self.bob = add_user(f"bob@{OWN}", "Bob Member", now, is_admin=False, password=self.PASSWORD)

    def directory(self):
        return load_directory(self.own_domains, Path("/nonexistent"))

    def mailbox(self, address: str) -> EmailAccount:
        return EmailAccount.get(EmailAccount.address == address)

    def investor(self, name: str, *domains: str, graveyard: bool = False):
        investor, _ = create_investor(name, list(domains), self.now, directory=self.directory, graveyard=graveyard)
        return investor

    def contact(self, investor, name: str, *addresses: str):
        contact, _ = add_contact(investor.id, name, list(addresses), self.now, directory=self.directory)
        return contact

    def email(
        self,
        subject: str,
        sender: str,
        to: list[str],
        *,
        seen_by: dict[str, bool] | None = None,
        sent_at: datetime | None = None,
        snippet: str = "",
        body: str = "",
        from_name: str = "",
        cc: list[str] = (),
        is_bulk: bool = False,
        message_id: str | None = None,
        reply_to: Email | None = None,
        attachments: list[dict] = (),
    ) -> Email:
        """An email held by the mailboxes in `seen_by` ({address: deleted?}); linked by the matcher.
        `reply_to` puts it in that email's conversation (and the same Gmail thread per mailbox)."""
        n = next(self._ids)
        seen_by = seen_by if seen_by is not None else {a: False for a in [sender, *to, *cc] if a.endswith("@" + OWN)}
        email = Email.create(
            dedupe_key=f"mid:<m{n}@test>",
            thread_key=reply_to.thread_key if reply_to else f"mid:<m{n}@test>",
            in_reply_to=reply_to.message_id if reply_to else None,
            has_attachments=bool(attachments),
            attachments=list(attachments),
            message_id=message_id or f"<m{n}@test>",
            subject=subject,
            from_email=sender,
            from_name=from_name,
            to=[{"email": a, "name": ""} for a in to],
            cc=[{"email": a, "name": ""} for a in cc],
            sent_at=sent_at or self.now - timedelta(hours=n),
            snippet=snippet or subject,
            body_text=body or f"Body of {subject}",
            is_bulk=is_bulk,
            captured_at=self.now,
        )
        roles = [("from", sender)] + [("to", a) for a in to] + [("cc", a) for a in cc]
        EmailParticipant.insert_many(
            [
                {"email": email, "address": a, "match_key": match_key(a), "domain": a.rpartition("@")[2], "role": r}
                for r, a in roles
            ]
        ).execute()
        # Gmail's thread id (per mailbox in Gmail; one per conversation here): the root's number.
        thread_id = "t" + email.thread_key.removeprefix("mid:<m").removesuffix("@test>")
        for i, (address, deleted) in enumerate(seen_by.items()):
            account = self.mailbox(address)
            EmailAccountMessage.create(
                account=account,
                email=email,
                gmail_id=f"g{n}-{i}",
                gmail_thread_id=thread_id,
                label_ids=["SENT"] if address == sender else ["INBOX"],
                is_sent=address == sender,
                deleted_at=self.now if deleted else None,
                created_at=self.now,
            )
        relink(self.directory(), [email.id], self.now)
        return email

    def proposals_of(self, email: Email) -> list[ActivityProposal]:
        return list(ActivityProposal.select().where(ActivityProposal.email == email.id).order_by(ActivityProposal.id))


def former_admin_token(email: str, now: datetime) -> str:
    """A token of someone who is no longer an admin: only admins get one, so it was issued while
    they were. The API must answer it 403."""
    User.update(is_admin=True).where(User.email == email).execute()
    token = issue_token(email, now, label="issued while an admin")
    User.update(is_admin=False).where(User.email == email).execute()
    return token
