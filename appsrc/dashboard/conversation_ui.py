"""Conversation widgets shared by the email, investor and contact pages: "Open in Gmail" links
per mailbox, attachment lists with readable sizes, the conversation and document lists, and
their Newer/Older pager.

Names, subjects and file names come from mail: they are passed as plain strings (Dash renders
them as text). Gmail links are built by `store.queries.gmail_links` only, never here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from appsrc.dashboard.components import direction_badge, empty, local
from appsrc.store.queries.common import QueryError

PAGE_SIZE = 10
UNITS = ("KB", "MB", "GB", "TB")


def human_size(size: object) -> str:
    """Bytes as people read them: "820 bytes", "47 KB", "1.4 MB" (powers of 1024, as Gmail)."""
    if type(size) is not int or size < 0:
        return "size unknown"
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in UNITS:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def gmail_links(mailboxes: list[dict[str, Any]], *, label: Callable[[str], str] | None = None) -> list:
    """One "Open in Gmail" link per mailbox holding the message, opening it as that mailbox."""
    links = []
    for box in mailboxes:
        text = label(box["address"]) if label else box["address"]
        if box.get("gmail_url"):
            links.append(
                html.A(
                    text,
                    href=box["gmail_url"],
                    target="_blank",
                    rel="noopener noreferrer",
                    className="gmail-link me-2",
                    title=f"Open in Gmail as {box['address']}",
                )
            )
        else:
            links.append(html.Span(text, className="small-muted me-2", title="No Gmail thread id recorded"))
    return links


def attachment_list(attachments: list[Any], id_: str | None = None) -> html.Ul:
    """File name, type and readable size of each attachment (names only: no contents are kept)."""
    items = []
    for a in attachments:
        a = a if isinstance(a, dict) else {}
        items.append(
            html.Li(
                [
                    html.Span(a.get("filename") or "(unnamed)", className="fw-semibold attachment-name"),
                    html.Span(f" · {a.get('content_type') or 'unknown type'}", className="small-muted"),
                    html.Span(f" · {human_size(a.get('size'))}", className="small-muted attachment-size"),
                ],
                className="mb-1",
            )
        )
    kwargs = {"id": id_} if id_ else {}
    return html.Ul(items, className="list-unstyled mb-0", **kwargs)


def conversation_list(items: list[dict[str, Any]], id_: str) -> html.Div:
    """Conversations, newest first: subject (to the latest email's page), messages, dates, the
    last sender and who is waiting."""
    if not items:
        return empty("No conversations.")
    rows = []
    for c in items:
        waiting = (
            dbc.Badge("waiting on us", color="warning", text_color="dark", className="ms-1")
            if c["waiting"] == "us"
            else dbc.Badge("waiting on them", color="light", text_color="dark", className="ms-1 border")
        )
        sender = c["last_from_name"] or c["last_from"]
        rows.append(
            html.Li(
                [
                    html.Div(
                        [
                            dcc.Link(c["subject"] or "(no subject)", href=f"/email/{c['last_email_id']}"),
                            html.Span(f" · {c['messages']} message{'s' if c['messages'] != 1 else ''}"),
                            waiting,
                        ]
                    ),
                    html.Div(
                        [
                            direction_badge(c["last_direction"]),
                            html.Span(
                                f"last from {sender} on {local(c['last_at'], '%d %b %Y %H:%M')}"
                                + (f" · started {local(c['first_at'], '%d %b %Y')}" if c["messages"] > 1 else ""),
                                className="small-muted",
                            ),
                        ]
                    ),
                ],
                className="mb-2 conversation-item",
                **{"data-thread-id": c["thread_id"]},
            )
        )
    return html.Ul(rows, className="list-unstyled mb-0", id=id_)


def document_list(items: list[dict[str, Any]], id_: str) -> html.Div:
    """Files exchanged, newest first: name, type, size, date, direction and the email."""
    if not items:
        return empty("No attachments in this investor's mail.")
    rows = [
        html.Tr(
            [
                html.Td(html.Span(d["filename"] or "(unnamed)", className="fw-semibold text-break")),
                html.Td(d["content_type"] or "—", className="small-muted text-break"),
                html.Td(human_size(d["size"]), className="text-nowrap"),
                html.Td(local(d["sent_at"], "%d %b %Y"), className="text-nowrap"),
                html.Td(direction_badge(d["direction"])),
                html.Td(dcc.Link(d["subject"] or "(no subject)", href=f"/email/{d['email_id']}")),
            ]
        )
        for d in items
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("File", "Type", "Size", "Date", "", "Email")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0", id=id_)


def pager(prefix: str) -> html.Div:
    """The list's state (the cursors of the pages shown) and its Newer/Older buttons."""
    return html.Div(
        [
            dcc.Store(id=f"{prefix}-pager", data={"stack": [], "next": None}),
            dbc.Button("‹ Newer", id=f"{prefix}-newer", size="sm", color="link", disabled=True, className="p-0 me-3"),
            dbc.Button("Older ›", id=f"{prefix}-older", size="sm", color="link", disabled=True, className="p-0"),
        ],
        className="mt-2",
    )


def turn_page(
    prefix: str,
    trigger: object,
    state: object,
    fetch: Callable[[str | None], dict[str, Any] | None],
) -> tuple[dict[str, Any] | None, dict[str, Any], bool, bool]:
    """(the page, the pager's new state, newer disabled, older disabled) after `trigger`: Older
    and Newer step through the pages; anything else (a new record, a change) starts over.
    `fetch(cursor)` reads one page, or None for a record that is gone."""
    stack: list[str] = []
    following = None
    if isinstance(state, dict) and isinstance(state.get("stack"), list):
        stack = [c for c in state["stack"] if isinstance(c, str)]
        following = state.get("next") if isinstance(state.get("next"), str) else None
    if trigger == f"{prefix}-older" and following:
        stack = [*stack, following]
    elif trigger == f"{prefix}-newer" and stack:
        stack = stack[:-1]
    elif trigger not in (f"{prefix}-older", f"{prefix}-newer"):
        stack = []
    try:
        page = fetch(stack[-1] if stack else None)
    except QueryError:  # a cursor the list no longer accepts: back to the first page
        stack = []
        page = fetch(None)
    next_cursor = page["next_cursor"] if page else None
    return page, {"stack": stack, "next": next_cursor}, not stack, not next_cursor
