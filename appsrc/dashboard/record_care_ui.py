"""The record care the investor and contact pages share: the merge and delete dialogs, the merge
preview, the notices for a merged or deleted record, and the small helpers their callbacks use.

The callbacks stay in the pages (Dash registers them per page, and a page module must never import
another page module). Each builder takes the page's `prefix`, the kind of record it shows
("investor", "contact"): it starts every id the page's callbacks name, and is the noun its texts use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from appsrc.crm.record_care import RESTORE_DAYS, deleted_records
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import direction_badge, error_alert, local, not_found, now, ok_alert, plural, runtime
from appsrc.store import queries

KEEP = dash.no_update
HIDDEN = {"display": "none"}
SHOWN: dict = {}
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def record_id_of(value, field: str) -> int | None:
    """The id in the page's URL, or None when it is not one (the page then says "not found")."""
    try:
        return parse_id(value, field=field)
    except ValidationError:
        return None


def short_day(value) -> str:
    return local(value, "%d %b %Y")


def on_day(day, clock_time: str):
    """The chosen day at `clock_time` in the fund's zone, with its offset. What is not a day goes
    through as typed, so the CRM's check names the problem."""
    if not isinstance(day, str) or not ISO_DAY.fullmatch(day.strip()):
        return day
    try:
        chosen, at = date.fromisoformat(day.strip()), time.fromisoformat(clock_time)
    except ValueError:
        return day
    return datetime.combine(chosen, at, tzinfo=runtime().settings.tz).isoformat()


def saved_alert(stats: dict) -> dbc.Alert:
    """What saving a record's details says: saved, and how much mail it rematched."""
    note = "Saved."
    if stats["emails"]:
        note += f" Rematched {stats['emails']:,} captured email(s)."
    return ok_alert(note)


def dialog(name: str, title, body: list, actions: list, *, store_id: str | None = None, **options) -> dbc.Modal:
    """A dialog closed only by its own buttons ("static" backdrop: a stray click loses nothing),
    with a Cancel button `{name}-cancel` before `actions`. `store_id` holds what the dialog works on."""
    return dbc.Modal(
        [
            *([dcc.Store(id=store_id, data=None)] if store_id else []),
            dbc.ModalHeader(dbc.ModalTitle(title)),
            dbc.ModalBody(body),
            dbc.ModalFooter(
                [dbc.Button("Cancel", id=f"{name}-cancel", color="secondary", outline=True), *actions],
            ),
        ],
        id=f"{name}-modal",
        is_open=False,
        backdrop="static",
        **options,
    )


# -- the page around the record --------------------------------------------------------------------
def record_page_top(prefix: str, record_id, actions: list) -> list:
    """The page's state (the record's id from the URL, a version its changes bump, a redirect for a
    merged record), its message area, and the header beside the record's `actions`, hidden until
    the record proves live."""
    return [
        dcc.Store(id=f"{prefix}-id", data=str(record_id or "")),
        dcc.Store(id=f"{prefix}-version", data=0),
        dcc.Location(id=f"{prefix}-redirect", refresh="callback-nav"),
        html.Div(id=f"{prefix}-message"),
        html.Div(
            [
                html.Div(id=f"{prefix}-header"),
                html.Div(
                    actions,
                    id=f"{prefix}-actions",
                    className="d-flex gap-2 align-items-start",
                    style=HIDDEN,
                ),
            ],
            className="d-flex justify-content-between align-items-start flex-wrap gap-2",
        ),
    ]


def merge_open_button(prefix: str) -> dbc.Button:
    return dbc.Button("Merge duplicates…", id=f"{prefix}-merge-open", color="secondary", outline=True, size="sm")


def delete_open_button(prefix: str) -> dbc.Button:
    return dbc.Button(f"Delete {prefix}…", id=f"{prefix}-delete-open", color="danger", outline=True, size="sm")


def activity_headline(activity: dict) -> list[html.Div]:
    """An approved activity's direction and time, then its summary, linked to its email if any."""
    return [
        html.Div(
            [
                direction_badge(activity["direction"]) if activity["direction"] else None,
                html.Span(local(activity["occurred_at"]), className="small-muted"),
            ]
        ),
        html.Div(
            dcc.Link(activity["summary"], href=f"/email/{activity['email_id']}")
            if activity["email_id"]
            else activity["summary"],
            className="fw-semibold",
        ),
    ]


# -- a merged or deleted record's page -----------------------------------------------------------
def page_state(record_id: int | None, prefix: str, *, merged_into: Callable, detail: Callable) -> tuple:
    """The redirect and the actions' style: a merged record's page moves on to the one it was
    merged into, and the record's actions show only on a live record."""
    if record_id is None:
        return KEEP, HIDDEN
    survivor_id = merged_into(record_id)
    if survivor_id is not None:
        return f"/{prefix}s/{survivor_id}", HIDDEN
    return KEEP, SHOWN if detail(record_id) is not None else HIDDEN


def record_gone_notice(
    record_id: int | None,
    prefix: str,
    *,
    merged_into: Callable,
    detail: Callable,
    merged_tail: Callable[[dict], str],
    restore_what: str,
):
    """What an id that is not a live record shows: the record it was merged into (the page goes
    there by itself), the deleted record and until when it can be restored, or not found."""
    if record_id is None:
        return not_found(f"This {prefix}")
    survivor_id = merged_into(record_id)
    survivor = detail(survivor_id) if survivor_id is not None else None
    if survivor is not None:
        return dbc.Alert(
            [
                f"This {prefix} was merged into ",
                dcc.Link(survivor["name"], href=f"/{prefix}s/{survivor['id']}", id=f"{prefix}-merged-link"),
                merged_tail(survivor),
            ],
            color="info",
            className="mt-3",
        )
    deleted = next((r for r in deleted_records(now())[f"{prefix}s"] if r["id"] == record_id), None)
    if deleted is not None:
        return dbc.Alert(
            [
                f"{deleted['name']} was deleted on {short_day(deleted['deleted_at'])}. You can restore {restore_what} "
                f"until {short_day(deleted['restorable_until'])} under ",
                dcc.Link("Recently deleted", href="/investors"),
                " on the Investors page.",
            ],
            color="secondary",
            className="mt-3",
            id=f"{prefix}-deleted",
        )
    return not_found(f"This {prefix}")


# -- merge duplicates ----------------------------------------------------------------------------
def merge_dialog(prefix: str, intro: str) -> dbc.Modal:
    """Pick duplicates, preview what moves (a dry run), then merge; "Merge" waits for a preview."""
    return dialog(
        f"{prefix}-merge",
        f"Merge duplicates into this {prefix}",
        [
            html.P(intro),
            dbc.Label("Duplicates", html_for=f"{prefix}-merge-from"),
            dcc.Dropdown(
                id=f"{prefix}-merge-from",
                options=[],
                value=[],
                multi=True,
                placeholder=f"Pick one or more {prefix}s…",
            ),
            html.P(
                "Preview first: you will see what moves and anything to check before you merge.",
                className="small-muted mt-2 mb-0",
            ),
            html.Div(id=f"{prefix}-merge-preview", className="mt-3"),
        ],
        [
            dbc.Button("Preview", id=f"{prefix}-merge-check", color="primary", outline=True),
            dbc.Button("Merge", id=f"{prefix}-merge-confirm", color="danger", disabled=True),
        ],
        store_id=f"{prefix}-merge-previewed",
        size="lg",
        scrollable=True,
    )


def merge_dialog_update(
    trigger,
    prefix: str,
    survivor_id: int | None,
    chosen,
    previewed,
    version,
    *,
    choices: Callable[[], list[dict]],
    merge: Callable[..., dict],
    preview: Callable[[dict], html.Div],
    summary: Callable[[dict], str],
) -> tuple:
    """The merge dialog's outputs for what the admin did: open it, cancel, pick, preview (a dry run:
    nothing changes) or merge exactly the records last previewed; picking others asks for a new
    preview. `merge` is the CRM's merge of this kind of record."""
    if trigger == f"{prefix}-merge-open":
        return True, choices(), [], None, True, None, KEEP, KEEP
    if trigger == f"{prefix}-merge-cancel":
        return False, KEEP, [], None, True, None, KEEP, KEEP
    if trigger == f"{prefix}-merge-from":
        return KEEP, KEEP, KEEP, None, True, None, KEEP, KEEP
    if trigger == f"{prefix}-merge-check":
        if not chosen:
            return KEEP, KEEP, KEEP, error_alert("Pick at least one duplicate first."), True, None, KEEP, KEEP
        try:
            dry_run = merge(survivor_id or 0, chosen, now(), directory=runtime().directory, dry_run=True)
        except ValidationError as exc:
            return KEEP, KEEP, KEEP, error_alert(f"Cannot merge: {exc}"), True, None, KEEP, KEEP
        return KEEP, KEEP, KEEP, preview(dry_run), False, chosen, KEEP, KEEP
    if trigger == f"{prefix}-merge-confirm":
        if not previewed:
            return KEEP, KEEP, KEEP, error_alert("Preview the merge first."), True, None, KEEP, KEEP
        try:
            result = merge(survivor_id or 0, previewed, now(), directory=runtime().directory, actor=acting_admin())
        except ValidationError as exc:
            return KEEP, KEEP, KEEP, error_alert(f"Nothing was merged: {exc}"), True, None, KEEP, KEEP
        queries.clear_cache()
        return False, KEEP, [], None, True, None, (version or 0) + 1, ok_alert(summary(result))
    raise dash.exceptions.PreventUpdate


def merge_preview(
    preview: dict, prefix: str, *, header: Callable[[dict], object], rows: Callable[[dict], list[tuple]]
) -> html.Div:
    """What each duplicate brings (its `header` and `rows` of label and value), and the conflicts an
    admin should read before merging."""
    moving = [
        dbc.Card(
            [
                dbc.CardHeader(header(duplicate)),
                dbc.CardBody(
                    dbc.Table(
                        html.Tbody(
                            [
                                html.Tr([html.Th(label, className="w-50"), html.Td(value)])
                                for label, value in rows(duplicate)
                            ]
                        ),
                        size="sm",
                        borderless=True,
                        className="mb-0",
                    ),
                    className="py-2",
                ),
            ],
            className="mb-2 merge-moving",
        )
        for duplicate in preview["from"]
    ]
    return html.Div(
        [
            html.H6(f"What moves into {preview['survivor']['name']}"),
            *moving,
            _conflicts(preview["conflicts"], f"{prefix}-merge-conflicts"),
        ],
        id=f"{prefix}-merge-summary",
    )


def _conflicts(conflicts: list[dict], list_id: str):
    if not conflicts:
        return html.P("Nothing to check: no conflicts were found.", className="small-muted mb-0")
    return html.Div(
        [
            html.H6("Check before merging", className="mt-3"),
            dbc.ListGroup(
                [dbc.ListGroupItem(c["message"][:1].upper() + c["message"][1:], color="warning") for c in conflicts],
                id=list_id,
            ),
        ]
    )


def merged_summary(result: dict, moved_counts: list[str]) -> str:
    """The notice after a merge: who merged into whom, what moved, and how much mail was rematched."""
    names = ", ".join(d["name"] for d in result["from"])
    emails = result.get("rematched", {}).get("emails", 0)
    return (
        f"Merged {names} into {result['survivor']['name']}: {', '.join(moved_counts)} moved. "
        f"{plural(emails, 'captured email')} rematched."
    )


# -- delete --------------------------------------------------------------------------------------
def delete_dialog(prefix: str, consequences: list[str]) -> dbc.Modal:
    """Ask before deleting, saying what happens (`consequences`) and for how long it can be undone."""
    return dialog(
        f"{prefix}-delete",
        ["Delete ", html.Span(id=f"{prefix}-delete-name"), "?"],
        [
            html.Ul(
                [
                    *(html.Li(text) for text in consequences),
                    html.Li(
                        f"You can restore it for {RESTORE_DAYS} days from Recently deleted on the Investors "
                        "page; after that it is removed for good."
                    ),
                ]
            ),
            html.Div(id=f"{prefix}-delete-error"),
        ],
        [dbc.Button(f"Delete {prefix}", id=f"{prefix}-delete-confirm", color="danger")],
    )


def deleted_notice(prefix: str, text: str) -> dbc.Alert:
    """The notice after a delete: `text` ends by saying until when, and this points to where."""
    return dbc.Alert(
        [
            text,
            dcc.Link("Recently deleted", href="/investors", id=f"{prefix}-deleted-list-link"),
            " on the Investors page.",
        ],
        color="success",
        dismissable=True,
        className="py-2",
    )
