"""`build_digest`: the digest for one window, from the store and (optionally) the local LLM.

Pure apart from its two inputs: the database it reads (`conn`, a consistent read snapshot) and
`chat_fn` (the LLM, `messages -> text`, which may raise). Time is never read: the window is given
and times are rendered in the given zone. With `chat_fn=None` every paragraph is the deterministic
count-only fallback, so the digest can always be built and sent.

Returns `{subject, body, has_activity, user_count, email_count, investor_count}`
plus `html` (the alternative part), the window, and LLM statistics.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any, TypedDict

from peewee import Database, SqliteDatabase

from appsrc.clock import parse_iso, utc
from appsrc.digest.activity import (
    InvestorActivity,
    UserActivity,
    Waiting,
    collect_investor_activity,
    collect_user_activity,
    load_waiting,
    load_window,
)
from appsrc.digest.render import UserSection, make_subject, render_html, render_text
from appsrc.llm import FENCE_CLOSE, FENCE_OPEN, UNTRUSTED_RULE, ChatFn, Completion, complete_concurrently, defang, fence

MAX_PROMPT_ITEMS = 40
MAX_PARAGRAPH_CHARS = 900
NO_ACTIVITY_LINE = "No email activity in this window."

SYSTEM_PROMPT = (
    "You write one short paragraph (two to four sentences) for an investment fund's internal daily "
    "digest, summarising one team member's email with investors (LPs) and others. Use only the facts "
    "given: who wrote to whom, about what, and anything that looks like a follow-up or a request. "
    "Plain prose: no greeting, no list, no headings, no markdown, no invented facts. " + UNTRUSTED_RULE
)


def fallback_paragraph(activity: UserActivity) -> str:
    """The deterministic count-only paragraph used when the LLM is off, down, slow or garbled."""
    if not activity.total:
        return NO_ACTIVITY_LINE
    investors = len(activity.investors)
    involved = f", {investors} investor{'' if investors == 1 else 's'} involved" if investors else ""
    return f"{activity.user.label}: {activity.sent} sent, {activity.received} received{involved}."


def user_prompt(activity: UserActivity, tz: tzinfo) -> list[dict[str, str]]:
    """The chat messages for one team member's paragraph (bounded: the latest items only)."""
    lines = [
        f"Team member: {activity.user.label} <{activity.user.email}>",
        f"Sent {activity.sent}, received {activity.received}.",
    ]
    if activity.investors:
        lines.append("Investors involved: " + ", ".join(activity.investors[:15]))
    items = activity.items[-MAX_PROMPT_ITEMS:]
    if len(activity.items) > len(items):
        lines.append(f"(The {len(activity.items) - len(items)} earliest emails are left out.)")
    lines.append(f"Emails (oldest first), quoted between {FENCE_OPEN} and {FENCE_CLOSE}:")
    quoted = []
    for item in items:
        when = item.sent_at.astimezone(tz).strftime("%a %H:%M")
        who = ("from " if item.direction == "received" else "to ") + item.counterpart
        about = f" [{', '.join(item.investors)}]" if item.investors else ""
        snippet = " ".join(item.snippet.split())[:160]
        quoted.append(f"- {when} {item.direction} {who}{about}: “{' '.join(item.subject.split())[:150]}” — {snippet}")
    lines.append(fence("\n".join(quoted)))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


_MARKDOWN = re.compile(r"[*_`#>]+")


def clean_paragraph(text: str) -> str | None:
    """The LLM's answer as one plain paragraph, or None when it is not usable."""
    text = _MARKDOWN.sub("", " ".join(str(text).split())).strip().strip('"“”').strip()
    if len(text) < 20:
        return None
    if len(text) > MAX_PARAGRAPH_CHARS:
        cut = text[:MAX_PARAGRAPH_CHARS]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut.rstrip() + "…"
    return text


@contextmanager
def _read_snapshot(conn: Database | None) -> Iterator[None]:
    """One read transaction, so both sections describe the same state. SQLite: DEFERRED, so the
    reads never take the write lock the appliance's connections otherwise take up front."""
    if conn is None:
        yield
    elif isinstance(conn, SqliteDatabase):
        with conn.atomic(lock_type="DEFERRED"):
            yield
    else:
        with conn.atomic():
            yield


class _RenderParts(TypedDict):
    """What both renderings of the digest are drawn from (`render_text`, `render_html`)."""

    since: datetime
    until: datetime
    tz: tzinfo
    tz_name: str
    users: list[UserSection]
    investors: list[InvestorActivity]
    email_count: int
    waiting: Waiting


def build_digest(
    conn: Database | None,
    since: datetime | str,
    until: datetime | str,
    chat_fn: ChatFn | None = None,
    *,
    own_addresses: frozenset[str] | None = None,
    tz: tzinfo = UTC,
    tz_name: str | None = None,
    llm_concurrency: int = 64,
    llm_deadline_s: float = 30.0,
) -> dict[str, Any]:
    """The digest for the window `(since, until]`.

    since, until: aware datetimes or ISO 8601 strings (as the API passes `since_iso`, `until_iso`); a
    time without a zone is UTC.
    conn: the open peewee database the models are bound to (read in one snapshot), or None.
    chat_fn: `messages -> paragraph` (may raise); None for the count-only fallback everywhere.
    own_addresses: our mailboxes' addresses (email-level direction); read from the store if None.
    tz: the fund's zone for every time shown and for business days; the subject names the local
    day of `until`. Who waits on the team's reply is read as of `until`.
    """
    since, until = _instant(since, "since"), _instant(until, "until")
    name = tz_name or getattr(tz, "key", None) or str(tz)
    with _read_snapshot(conn):
        data = load_window(since, until, own_addresses)
        waiting = load_waiting(until, name)
    users = collect_user_activity(data)
    busy = {a.user.id: a for a in users if a.total}
    prompts = {uid: user_prompt(a, tz) if chat_fn is not None else [] for uid, a in busy.items()}

    def paragraphs() -> dict[int, Completion]:
        return complete_concurrently(
            prompts,
            chat_fn,
            lambda uid: fallback_paragraph(busy[uid]),
            max_workers=llm_concurrency,
            deadline_s=llm_deadline_s,
            accept=clean_paragraph,
        )

    if chat_fn is None:
        completions, investors = paragraphs(), collect_investor_activity(data)
    else:  # the by-investor pivot needs no LLM: do it while the calls are out
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-llm") as runner:
            pending = runner.submit(paragraphs)
            investors = collect_investor_activity(data)
            completions = pending.result()
    sections = []
    for activity in users:
        completion = completions.get(activity.user.id)
        if completion is None:
            sections.append(UserSection(activity, fallback_paragraph(activity), "none"))
        elif completion.source == "llm":  # links and addresses only as the member's mail had them
            source = prompts[activity.user.id][-1]["content"]
            sections.append(UserSection(activity, defang(completion.text, source), "llm"))
        else:
            sections.append(UserSection(activity, completion.text, completion.source))
    email_count = len(data.emails)
    parts: _RenderParts = {
        "since": since,
        "until": until,
        "tz": tz,
        "tz_name": name,
        "users": sections,
        "investors": investors,
        "email_count": email_count,
        "waiting": waiting,
    }
    return {
        "subject": make_subject(until, tz, email_count, len(investors)),
        "body": render_text(**parts),
        "html": render_html(**parts),
        "has_activity": email_count > 0,
        "user_count": len(busy),
        "email_count": email_count,
        "investor_count": len(investors),
        "waiting_count": waiting.total,
        "waiting_lps": waiting.lps,
        "team_size": len(users),
        "window_start": since,
        "window_end": until,
        "llm": {
            "calls": len(completions) if chat_fn is not None else 0,
            "fallbacks": sum(1 for c in completions.values() if c.source == "fallback"),
        },
    }


def _instant(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = parse_iso(value)
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if not isinstance(value, datetime):
        raise TypeError(f"{name}: expected a datetime or an ISO 8601 string")
    return utc(value)
