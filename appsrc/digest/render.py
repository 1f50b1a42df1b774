"""Render a digest (pure: no database, no network): subject, plain text and Gmail-friendly HTML.

The HTML uses inline styles only (Gmail drops most `<style>` rules and all scripts), one column of
at most 680 px, and stays well under Gmail's ~102 KB clipping size: long investor lists are cut
to the busiest `MAX_INVESTORS` with the latest `MAX_ITEMS_PER_INVESTOR` emails each, and the rest
summarized by counts. Every value from captured mail is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape

from appsrc.digest.activity import InvestorActivity, UserActivity, Waiting, WaitingCase

MAX_INVESTORS = 30
MAX_ITEMS_PER_INVESTOR = 5
MAX_SUBJECT_CHARS = 120
NO_ACTIVITY = "No captured email activity in this window. (The digest goes out every day, even a quiet one.)"

_MUTED = "color:#57606a"
_H2 = "font-size:16px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d7de"
_MARK = "font-size:11px;color:#57606a;border:1px solid #d0d7de;border-radius:4px;padding:0 4px"
# A paragraph the local model wrote is marked as such: it was drafted from mail anyone can send.
MACHINE_MARK = "[machine-written]"
MACHINE_NOTE = (
    "Paragraphs marked machine-written were drafted by the fund's local model from the emails' subjects "
    "and snippets; check them against the emails before acting on them."
)


@dataclass(frozen=True)
class UserSection:
    activity: UserActivity
    paragraph: str
    source: str  # "llm" | "fallback" | "none"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def local_day_label(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y}"


def _local(moment: datetime, tz: tzinfo, *, with_date: bool = True) -> str:
    local = moment.astimezone(tz)
    hour = local.strftime("%I:%M %p").lstrip("0")
    return f"{local:%a} {local.day} {local:%b}, {hour}" if with_date else f"{local:%a} {hour}"


def _clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_subject(until: datetime, tz: tzinfo, email_count: int, investor_count: int) -> str:
    day = local_day_label(until, tz)
    if not email_count:
        return f"IR digest — {day}: no activity"
    return f"IR digest — {day}: {_plural(email_count, 'email')}, {_plural(investor_count, 'investor')}"


def _counts(activity: UserActivity) -> str:
    return f"sent {activity.sent} · received {activity.received}" if activity.total else "no activity"


def _investor_counts(activity: InvestorActivity) -> str:
    return f"{activity.inbound} in · {activity.outbound} out"


def _item_line(item, tz: tzinfo) -> tuple[str, str, str]:
    arrow = "←" if item.direction == "inbound" else "→"
    # The investor side by contact name (or the matched address when the contact is gone).
    who = ("from " if item.direction == "inbound" else "to ") + ", ".join(item.contacts[:3])
    team = f" ({', '.join(item.team)})" if item.team else ""
    return (
        arrow,
        _local(item.sent_at, tz, with_date=False),
        f"{_clip(item.subject, MAX_SUBJECT_CHARS) or '(no subject)'} — {who}{team}",
    )


def waiting_title(waiting: Waiting) -> str:
    """ "Waiting on us: 2 LPs": the section's title, in both renderings."""
    return f"Waiting on us: {_plural(waiting.lps, 'LP')}"


def _waiting_line(case: WaitingCase) -> str:
    who = case.contact if case.contact == case.contact_email else f"{case.contact} <{case.contact_email}>"
    investor = case.investor + (" (graveyard)" if case.graveyard else "")
    subject = _clip(case.subject, MAX_SUBJECT_CHARS) or "(no subject)"
    return f"{investor} — {who}: “{subject}” — {_plural(case.business_days, 'business day')}"


def _waiting_more(waiting: Waiting) -> str | None:
    rest = waiting.total - len(waiting.cases)
    return (
        f"… and {rest} more conversation{'' if rest == 1 else 's'} (Awaiting reply, in the dashboard)"
        if rest > 0
        else None
    )


def _waiting_text(waiting: Waiting) -> list[str]:
    """The section, only when someone waits."""
    if not waiting.total:
        return []
    title = waiting_title(waiting)
    lines = [title.upper(), "=" * len(title), *(f"  {_waiting_line(c)}" for c in waiting.cases)]
    more = _waiting_more(waiting)
    return [*lines, *([f"  {more}"] if more else []), ""]


def _waiting_html(waiting: Waiting) -> list[str]:
    if not waiting.total:
        return []
    e = escape
    out = [
        f'<h2 style="{_H2}">{e(waiting_title(waiting))}</h2>',
        '<table role="presentation" cellpadding="0" cellspacing="0" '
        'style="border-collapse:collapse;width:100%;font-size:13px">',
    ]
    for case in waiting.cases:
        badge = ' <span style="font-size:12px;color:#8c959f">(graveyard)</span>' if case.graveyard else ""
        who = case.contact if case.contact == case.contact_email else f"{case.contact} <{case.contact_email}>"
        out.append(
            f'<tr><td style="vertical-align:top;padding:2px 8px 2px 0"><strong>{e(case.investor)}</strong>{badge}'
            f'<br><span style="{_MUTED}">{e(who)}</span></td>'
            f'<td style="vertical-align:top;padding:2px 8px 2px 0">'
            f"{e(_clip(case.subject, MAX_SUBJECT_CHARS) or '(no subject)')}</td>"
            f'<td style="vertical-align:top;white-space:nowrap;text-align:right;color:#9a6700">'
            f"{e(_plural(case.business_days, 'business day'))}</td></tr>"
        )
    out.append("</table>")
    more = _waiting_more(waiting)
    if more:
        out.append(f'<p style="margin:6px 0 0;{_MUTED}">{e(more)}</p>')
    return out


def render_text(
    *,
    since: datetime,
    until: datetime,
    tz: tzinfo,
    tz_name: str,
    users: list[UserSection],
    investors: list[InvestorActivity],
    email_count: int,
    waiting: Waiting,
) -> str:
    lines = ["IR Mail Desk — daily digest", f"{_local(since, tz)} → {_local(until, tz)} ({tz_name})", ""]
    if not email_count:
        lines += [NO_ACTIVITY, "", *_waiting_text(waiting)]
        return "\n".join(lines)
    active = sum(1 for s in users if s.activity.total)
    lines += [
        f"{_plural(email_count, 'email')} · {active} of {_plural(len(users), 'team member')} active · "
        f"{_plural(len(investors), 'investor')}",
        "",
    ]
    returns = [_return_line(a) for a in investors if a.back_from_graveyard]
    if returns:
        lines += [*returns, ""]
    lines += _waiting_text(waiting)
    lines += ["BY TEAM MEMBER", "=" * 14, ""]
    for section in users:
        lines.append(f"{section.activity.user.label} — {_counts(section.activity)}")
        lines += [(MACHINE_MARK + " " if section.source == "llm" else "") + section.paragraph, ""]
    lines += ["BY INVESTOR", "=" * 11, ""]
    if not investors:
        lines += ["No email matched an investor in this window.", ""]
    for activity in investors[:MAX_INVESTORS]:
        lines.append(f"{activity.name}{' (graveyard)' if activity.graveyard else ''} — {_investor_counts(activity)}")
        for item in activity.items[:MAX_ITEMS_PER_INVESTOR]:
            arrow, when, what = _item_line(item, tz)
            lines.append(f"  {arrow} {when}  {what}")
        if len(activity.items) > MAX_ITEMS_PER_INVESTOR:
            lines.append(f"  … and {len(activity.items) - MAX_ITEMS_PER_INVESTOR} more")
        lines.append("")
    rest = investors[MAX_INVESTORS:]
    if rest:
        lines += ["Also: " + "; ".join(f"{a.name} ({_investor_counts(a)})" for a in rest), ""]
    if any(section.source == "llm" for section in users):
        lines.append(f"{MACHINE_MARK} {MACHINE_NOTE}")
    lines.append(
        "← inbound from the investor · → outbound from the team. Sent by IR Mail Desk to the fund's admins only."
    )
    return "\n".join(lines)


def _return_line(activity: InvestorActivity) -> str:
    return (
        f"Graveyard investor is back: {activity.name} wrote "
        f"{_plural(activity.returned, 'email')} to the team (below, under By investor)."
    )


def render_html(
    *,
    since: datetime,
    until: datetime,
    tz: tzinfo,
    tz_name: str,
    users: list[UserSection],
    investors: list[InvestorActivity],
    email_count: int,
    waiting: Waiting,
) -> str:
    e = escape
    out = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
        '<body style="margin:0;padding:0;background:#f6f8fa">'
        '<div style="max-width:680px;margin:0 auto;padding:20px 16px;background:#ffffff;'
        'font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.5;color:#1f2328">',
        '<h1 style="font-size:20px;margin:0 0 2px">Daily digest</h1>',
        f'<p style="margin:0 0 16px;{_MUTED}">{e(_local(since, tz))} → {e(_local(until, tz))} ({e(tz_name)})</p>',
    ]
    if not email_count:
        out.append(f'<p style="margin:16px 0">{e(NO_ACTIVITY)}</p>')
        out += _waiting_html(waiting)
    else:
        active = sum(1 for s in users if s.activity.total)
        out.append(
            f'<p style="margin:0 0 8px"><strong>{e(_plural(email_count, "email"))}</strong> · '
            f"{active} of {e(_plural(len(users), 'team member'))} active · "
            f"{e(_plural(len(investors), 'investor'))}</p>"
        )
        for activity in investors:
            if activity.back_from_graveyard:
                out.append(
                    f'<p style="margin:8px 0;padding:6px 10px;background:#ddf4ff;border-radius:6px">'
                    f"{e(_return_line(activity))}</p>"
                )
        out += _waiting_html(waiting)
        out.append(f'<h2 style="{_H2}">By team member</h2>')
        for section in users:
            a = section.activity
            out.append(
                f'<p style="margin:14px 0 2px"><strong>{e(a.user.label)}</strong> '
                f'<span style="{_MUTED}">· {e(_counts(a))}</span></p>'
            )
            style = "margin:0 0 6px" + (";" + _MUTED if not a.total else "")
            mark = f'<span style="{_MARK}">{e(MACHINE_MARK.strip("[]"))}</span> ' if section.source == "llm" else ""
            out.append(f'<p style="{style}">{mark}{e(section.paragraph)}</p>')
        out.append(f'<h2 style="{_H2}">By investor</h2>')
        if not investors:
            out.append(f'<p style="{_MUTED}">No email matched an investor in this window.</p>')
        for activity in investors[:MAX_INVESTORS]:
            badge = ' <span style="font-size:12px;color:#8c959f">(graveyard)</span>' if activity.graveyard else ""
            out.append(
                f'<p style="margin:14px 0 2px"><strong>{e(activity.name)}</strong>{badge} '
                f'<span style="{_MUTED}">· {e(_investor_counts(activity))}</span></p>'
            )
            out.append(
                '<table role="presentation" cellpadding="0" cellspacing="0" '
                'style="border-collapse:collapse;width:100%;font-size:13px">'
            )
            for item in activity.items[:MAX_ITEMS_PER_INVESTOR]:
                arrow, when, what = _item_line(item, tz)
                color = "#0969da" if item.direction == "inbound" else "#1a7f37"
                out.append(
                    f'<tr><td style="width:18px;vertical-align:top;color:{color}">{arrow}</td>'
                    f'<td style="width:92px;vertical-align:top;white-space:nowrap;{_MUTED}">{e(when)}</td>'
                    f'<td style="vertical-align:top">{e(what)}</td></tr>'
                )
            if len(activity.items) > MAX_ITEMS_PER_INVESTOR:
                out.append(
                    f'<tr><td></td><td></td><td style="{_MUTED}">… and '
                    f"{len(activity.items) - MAX_ITEMS_PER_INVESTOR} more</td></tr>"
                )
            out.append("</table>")
        rest = investors[MAX_INVESTORS:]
        if rest:
            out.append(
                f'<p style="margin:14px 0 0;{_MUTED}">Also: '
                + e("; ".join(f"{a.name} ({_investor_counts(a)})" for a in rest))
                + "</p>"
            )
    if any(section.source == "llm" for section in users):
        out.append(
            f'<p style="margin:28px 0 0;font-size:12px;{_MUTED}"><span style="{_MARK}">'
            f"{e(MACHINE_MARK.strip('[]'))}</span> {e(MACHINE_NOTE)}</p>"
        )
    out.append(
        f'<p style="margin:28px 0 0;font-size:12px;{_MUTED}">← inbound from the investor · → outbound '
        "from the team. Sent by IR Mail Desk to the fund's admins only.</p></div></body></html>"
    )
    return "".join(out)
