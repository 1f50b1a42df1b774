"""Reply drafts: agents draft, humans send.

For a captured email and a team mailbox holding a live copy of it, build the reply-all
(`crm.compose`) and save it with `users.drafts.create` in that mailbox's own Gmail thread,
through delegation with the `gmail.compose` scope. Nothing here can send: there is no send call
on this path at all, and a test scans the code base to keep it that way. The `Draft` row and its
audit event are written together, or neither is.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from appsrc.crm import audit, compose
from appsrc.crm.directory import own_domains
from appsrc.gmail.client import GmailError
from appsrc.gmail.credentials import SCOPE_COMPOSE, DelegationError
from appsrc.llm import UNTRUSTED_RULE, LlmConfig, LlmError, chat_completion, defang, fence
from appsrc.settings import Settings
from appsrc.store.db import database
from appsrc.store.models import Draft, Email, EmailAccount, EmailAccountMessage, User
from appsrc.store.queries.mailboxes import capturing_mailboxes

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 50_000
THREAD_CONTEXT = 5  # earlier messages of the thread the LLM sees


class DraftError(Exception):
    """Why no draft was created; `status` is the HTTP answer, `field` the input at fault."""

    def __init__(self, message: str, status: int = 400, field: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.fix = fix


class DraftUnconfirmed(DraftError):
    """Gmail did not confirm `drafts.create` (a 5xx or a lost answer): the draft may exist, so it
    is not retried and the human must look before asking again."""


class DraftNotRecorded(DraftError):
    """Gmail created the draft but it could not be recorded here: the human must find it in
    Gmail rather than create another."""


@dataclass(frozen=True)
class ReplyPlan:
    email_id: int
    mailbox: str
    mailboxes: list[str]  # every mailbox that could reply (a live copy of the email)
    thread_id: str
    to: list[dict]
    cc: list[dict]
    subject: str
    in_reply_to: str | None
    references: list[str]
    threads: bool  # False when the original has no Message-ID: Gmail may start a new thread
    # The mailbox is not among the original's From, Reply-To, To or Cc: it was Bcc'd (or got it
    # through a list), and replying to all shows everyone that it received the message.
    bcc_only: bool
    # Reply-To addresses at another domain than the sender's: replies would go there, not to them.
    reply_to_elsewhere: list[str]

    def public(self) -> dict:
        return asdict(self)


def _email(email_id: int) -> Email:
    email = Email.get_or_none(Email.id == email_id)
    if email is None:
        raise DraftError(f"no captured email {email_id}", status=404, field="email_id")
    return email


def _live_copies(email: Email) -> list[tuple[str, str, bool]]:
    """(mailbox address, Gmail thread id, is_sent) of every live sighting, inbox copies first."""
    rows = (
        EmailAccountMessage.select(
            EmailAccount.address, EmailAccountMessage.gmail_thread_id, EmailAccountMessage.is_sent
        )
        .join(EmailAccount)
        .where(
            (EmailAccountMessage.email == email.id)
            & EmailAccountMessage.deleted_at.is_null()
            & EmailAccount.id.in_(capturing_mailboxes().select(EmailAccount.id))
        )
        .order_by(EmailAccountMessage.is_sent, EmailAccount.address)
        .tuples()
    )
    return list(rows)


def plan_reply(email_id: int, mailbox: str | None, *, settings: Settings) -> ReplyPlan:
    """Who the reply goes to and how it threads, for `mailbox` (default: the teammate who
    received it, else the one who sent it). `settings` name the fund's own domains: every
    address there is a teammate, kept in Cc."""
    email = _email(email_id)
    copies = _live_copies(email)
    if not copies:
        raise DraftError(
            "no team mailbox holds a live copy of this email (deleted everywhere?)", status=409, field="email_id"
        )
    if mailbox:
        wanted = mailbox.strip().lower()
        chosen = next((c for c in copies if c[0] == wanted), None)
        if chosen is None:
            raise DraftError(
                f"{wanted} has no live copy of this email; choose one of: " + ", ".join(c[0] for c in copies),
                field="mailbox",
            )
    else:
        sender = next((c for c in copies if c[2] and c[0] == email.from_email), None)
        chosen = next((c for c in copies if not c[2]), None) or sender or copies[0]
    address, thread_id, _ = chosen
    team = [a for (a,) in EmailAccount.select(EmailAccount.address).tuples()]
    recipients = compose.reply_recipients(
        from_={"email": email.from_email, "name": email.from_name} if email.from_email else None,
        reply_to=email.reply_to or [],
        to=email.to or [],
        cc=email.cc or [],
        mailbox=address,
        team=team,
        own_domains=own_domains(settings.own_domains, settings.secrets_dir),
    )
    addressed = {
        str(p.get("email", "")).lower()
        for p in [{"email": email.from_email}, *(email.reply_to or []), *(email.to or []), *(email.cc or [])]
    }
    if not recipients.to:
        raise DraftError("nobody is left to reply to once this mailbox is removed", status=409, field="mailbox")
    return ReplyPlan(
        email_id=email.id,
        mailbox=address,
        mailboxes=sorted({c[0] for c in copies}),
        thread_id=thread_id,
        to=[{"email": p.email, "name": p.name} for p in recipients.to],
        cc=[{"email": p.email, "name": p.name} for p in recipients.cc],
        subject=compose.reply_subject(email.subject),
        in_reply_to=email.message_id,
        references=list(compose.reference_chain(email.message_id, email.references or [], email.in_reply_to)),
        threads=bool(email.message_id),
        bcc_only=address not in addressed,
        reply_to_elsewhere=compose.reply_to_elsewhere(
            {"email": email.from_email} if email.from_email else None, email.reply_to or []
        ),
    )


def suggest_body(plan: ReplyPlan, llm: LlmConfig | None) -> str:
    """A reply body written by the fund's local LLM from the thread; DraftError(503) when the
    LLM is not configured or does not answer, so the admin can write it by hand."""
    if llm is None:
        raise DraftError("no local LLM is configured (CRM_LLM_URL); write the reply yourself", status=503, field="body")
    email = _email(plan.email_id)
    sender = User.get_or_none(User.email == plan.mailbox)
    prompt = _prompt(email, plan, sender.name if sender else plan.mailbox)
    try:
        answer = chat_completion(llm, prompt, max_tokens=600, temperature=0.3)
    except LlmError as exc:
        log.warning("LLM draft for email %s failed: %s", plan.email_id, exc)
        raise DraftError(
            "the local LLM did not answer; write the reply yourself or try again later", status=503, field="body"
        ) from None
    # A link or an address goes out in a reply only if the thread had it: an instruction planted
    # in the mail cannot slip its own into what the fund sends.
    return defang(answer, prompt[-1]["content"])


def _prompt(email: Email, plan: ReplyPlan, sender_name: str) -> list[dict]:
    thread = (
        Email.select()
        .join(EmailAccountMessage)
        .join(EmailAccount)
        .where(
            (EmailAccount.address == plan.mailbox)
            & (EmailAccountMessage.gmail_thread_id == plan.thread_id)
            & (Email.sent_at <= email.sent_at)
            & EmailAccountMessage.deleted_at.is_null()
        )
        .order_by(Email.sent_at.desc())
        .limit(THREAD_CONTEXT)
    )
    messages = list(reversed(list(thread))) or [email]
    transcript = "\n\n---\n\n".join(
        f"From: {m.from_name} <{m.from_email}>\nDate: {m.sent_at:%Y-%m-%d %H:%M} UTC\nSubject: {m.subject}\n\n"
        f"{(m.body_text or m.snippet)[:3000]}"
        for m in messages
    )
    return [
        {
            "role": "system",
            "content": (
                "You draft email replies for an investment fund's investor-relations team. Write only the "
                f"body of a reply from {sender_name} to the last message of the thread: concise, warm, "
                "professional. Never invent figures, dates or commitments; put anything the sender must "
                "fill in between [square brackets]. No subject line, no signature block, no quoted text. "
                + UNTRUSTED_RULE
            ),
        },
        {"role": "user", "content": f"Thread (oldest first):\n\n{fence(transcript)}"},
    ]


def create_reply_draft(
    runtime,
    email_id: int,
    *,
    mailbox: str | None,
    body: str | None,
    actor: User | None,
    now: datetime,
    body_source: str = "admin",
) -> dict:
    """Create the reply as a Gmail draft (never sent) and record it; return the API answer.

    `body_source` says who wrote a given `body`: "admin", or "llm" when it is a `suggest_body`
    text the admin reviewed unchanged (the dashboard knows); an empty body is written by the LLM."""
    if body_source not in ("admin", "llm"):
        raise DraftError("body_source must be admin or llm", field="body_source")
    if body is not None and not isinstance(body, str):
        raise DraftError("body must be text", field="body")
    if body is not None and len(body) > MAX_BODY_CHARS:
        raise DraftError(f"body is longer than {MAX_BODY_CHARS} characters", field="body")
    plan = plan_reply(email_id, mailbox, settings=runtime.settings)
    source = body_source
    if body is None or not body.strip():
        body, source = suggest_body(plan, LlmConfig.from_settings(runtime.settings)), "llm"
    email = _email(email_id)
    sender = User.get_or_none(User.email == plan.mailbox)
    reply = compose.Reply(
        sender=compose.Person(plan.mailbox, sender.name if sender else ""),
        recipients=compose.Recipients(
            tuple(compose.Person(**p) for p in plan.to), tuple(compose.Person(**p) for p in plan.cc)
        ),
        subject=plan.subject,
        in_reply_to=plan.in_reply_to,
        references=tuple(plan.references),
        body=body,
        quoted=compose.quote(
            email.body_text or email.snippet,
            sender=f"{email.from_name} <{email.from_email}>" if email.from_name else email.from_email,
            sent_at=email.sent_at.astimezone(runtime.settings.tz),
        ),
    )
    raw = compose.render(reply, now=now, domain=plan.mailbox.rpartition("@")[2])
    try:
        created = runtime.remotes.remote(plan.mailbox, (SCOPE_COMPOSE,)).create_draft(raw, plan.thread_id or None)
    except DelegationError as exc:
        raise DraftError(
            f"delegation for {plan.mailbox} failed: {exc}", status=422, field="mailbox", fix=exc.fix
        ) from None
    except GmailError as exc:
        if exc.ambiguous:  # not retried (see GmailRemote.execute): a second try could make a duplicate
            log.warning(
                "drafts.create in %s for email %s may or may not have taken effect: %s", plan.mailbox, email.id, exc
            )
            raise DraftUnconfirmed(
                f"Gmail did not confirm the draft for {plan.mailbox}, and it may have been created: "
                "look in that mailbox's Drafts before trying again",
                status=503,
                field="mailbox",
            ) from None
        raise DraftError(
            f"Gmail refused the draft for {plan.mailbox}: {exc}",
            status=422 if exc.permanent else 503,
            field="mailbox",
            fix=exc.fix,
        ) from None
    message = created.get("message", {})
    gmail_draft_id = created.get("id", "")
    try:
        with database.atomic():
            draft = Draft.create(
                email=email.id,
                account=EmailAccount.get(EmailAccount.address == plan.mailbox),
                gmail_draft_id=gmail_draft_id,
                gmail_thread_id=message.get("threadId", ""),
                to=[p["email"] for p in plan.to],
                cc=[p["email"] for p in plan.cc],
                subject=plan.subject,
                body_source=source,
                created_by=actor,
                created_at=now,
            )
            audit.record(
                "draft.create",
                now,
                actor=actor,
                target_type="email",
                target_id=email.id,
                detail={
                    "draft_id": draft.id,
                    "mailbox": plan.mailbox,
                    "gmail_draft_id": gmail_draft_id,
                    "to": draft.to,
                    "cc": draft.cc,
                    "body_source": source,
                },
            )
    except Exception:
        # Gmail holds the draft but we hold no record of it: say where it is, never leave it silent.
        log.exception(
            "Gmail draft %s was created in %s for email %s, but recording it failed: it exists in "
            "Gmail with no Draft row or audit event",
            gmail_draft_id,
            plan.mailbox,
            email.id,
        )
        raise DraftNotRecorded(
            f"the draft was created in {plan.mailbox}'s Gmail (draft id {gmail_draft_id}) but "
            "could not be recorded here; find it in that mailbox's Drafts before creating "
            "another",
            status=500,
        ) from None
    return {
        "id": draft.id,
        "draft_id": draft.gmail_draft_id,
        "thread_id": draft.gmail_thread_id,
        "mailbox": plan.mailbox,
        "to": draft.to,
        "cc": draft.cc,
        "subject": plan.subject,
        "body_source": source,
        "gmail_url": f"https://mail.google.com/mail/u/{plan.mailbox}/#drafts?compose={message.get('id', '')}",
    }
