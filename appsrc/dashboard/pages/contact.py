"""One contact: name and addresses (editable), the approved activity timeline — the CRM record
that only approvals write to — and the record's care: merge duplicates into it, record that the
person moved to another firm, or delete it.

A merged contact's old address keeps working: the page sends the browser on to the contact it
was merged into. The dialogs sit outside what `render` rebuilds, so a re-render never closes one.
"""

import re
from datetime import date, datetime, time

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from appsrc.crm.investors import update_contact
from appsrc.crm.record_care import (
    RESTORE_DAYS,
    contact_merged_into,
    delete_contact,
    deleted_records,
    merge_contacts,
    move_contact,
)
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import (
    direction_badge,
    empty,
    error_alert,
    local,
    not_found,
    now,
    ok_alert,
    plural,
    runtime,
)
from appsrc.store import queries

dash.register_page(
    __name__, path_template="/contacts/<contact_id>", name="Contact", nav=False, title="Contact · IR Mail Desk"
)

KEEP = dash.no_update
HIDDEN = {"display": "none"}
SHOWN: dict = {}
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def layout(contact_id=None, **_kwargs):
    return html.Div(
        [
            dcc.Store(id="contact-id", data=str(contact_id or "")),
            dcc.Store(id="contact-version", data=0),
            dcc.Location(id="contact-redirect", refresh="callback-nav"),
            html.Div(id="contact-message"),
            html.Div(
                [
                    html.Div(id="contact-header"),
                    html.Div(
                        [
                            dbc.Button(
                                "Merge duplicates…", id="contact-merge-open", color="secondary", outline=True, size="sm"
                            ),
                            dbc.Button(
                                "Moved to another firm…",
                                id="contact-move-open",
                                color="secondary",
                                outline=True,
                                size="sm",
                            ),
                            dbc.Button(
                                "Delete contact…", id="contact-delete-open", color="danger", outline=True, size="sm"
                            ),
                        ],
                        id="contact-actions",
                        className="d-flex gap-2 align-items-start",
                        style=HIDDEN,
                    ),
                ],
                className="d-flex justify-content-between align-items-start flex-wrap gap-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Details"),
                                dbc.CardBody(
                                    [
                                        dbc.Label("Name"),
                                        dbc.Input(id="contact-name", maxLength=200, className="mb-2"),
                                        dbc.Label("Addresses (separated by ;)"),
                                        dbc.Textarea(id="contact-addresses", rows=2, className="mb-2"),
                                        dbc.Button("Save", id="contact-save", color="primary", size="sm"),
                                    ]
                                ),
                            ]
                        ),
                        lg=4,
                    ),
                    dbc.Col(
                        dbc.Card([dbc.CardHeader("Activity timeline"), dbc.CardBody(html.Div(id="contact-timeline"))]),
                        lg=8,
                    ),
                ],
                className="g-3",
            ),
            _merge_dialog(),
            _move_dialog(),
            _delete_dialog(),
        ]
    )


def _id(value):
    """The id in the page's URL, or None when it is not one (the page then says "not found")."""
    try:
        return parse_id(value, field="contact_id")
    except ValidationError:
        return None


def _day(value) -> str:
    return local(value, "%d %b %Y")


@dash.callback(
    Output("contact-header", "children"),
    Output("contact-name", "value"),
    Output("contact-addresses", "value"),
    Output("contact-timeline", "children"),
    Input("contact-id", "data"),
    Input("contact-version", "data"),
)
def render(contact_id, _version):
    contact = queries.contact_detail(_id(contact_id)) if _id(contact_id) else None
    if contact is None:
        return _missing(_id(contact_id)), "", "", None
    header = html.Div(
        [
            html.H2(contact["name"], className="page-title", id="contact-title"),
            html.P(
                [
                    dcc.Link(contact["investor_name"], href=f"/investors/{contact['investor_id']}"),
                    dbc.Badge("graveyard", color="dark", className="ms-2") if contact["graveyard"] else None,
                    html.Span(" · " + ", ".join(contact["addresses"])),
                ],
                className="page-subtitle",
            ),
        ]
    )
    items = queries.activity_timeline(contact_id=contact["id"], limit=100)["items"]
    if items:
        body = html.Div(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                direction_badge(a["direction"]) if a["direction"] else None,
                                html.Span(local(a["occurred_at"]), className="small-muted"),
                            ]
                        ),
                        html.Div(
                            dcc.Link(a["summary"], href=f"/email/{a['email_id']}") if a["email_id"] else a["summary"],
                            className="fw-semibold",
                        ),
                        html.Div(a["snippet"] or "", className="small text-muted"),
                        html.Div(a["note"], className="small activity-note") if a["note"] else None,
                        html.Div(
                            f"approved by {a['created_by'] or '—'} on {_day(a['created_at'])}"
                            + (f" · edited {_day(a['edited_at'])}" if a["edited_at"] else "")
                            + (f" · at {a['investor_name']}" if a["investor_id"] != contact["investor_id"] else ""),
                            className="small-muted",
                        ),
                    ],
                    className="timeline-item",
                )
                for a in items
            ],
            className="timeline",
            id="contact-timeline-items",
        )
    else:
        body = empty("No approved activity yet: approve proposals for this contact on the Approvals page.")
    return header, contact["name"], "; ".join(contact["addresses"]), body


def _missing(contact_id: int | None):
    """What an id that is not a live contact shows: the contact it was merged into (the page goes
    there by itself), the deleted record and until when it can be restored, or not found."""
    if contact_id is None:
        return not_found("This contact")
    survivor_id = contact_merged_into(contact_id)
    survivor = queries.contact_detail(survivor_id) if survivor_id is not None else None
    if survivor is not None:
        return dbc.Alert(
            [
                "This contact was merged into ",
                dcc.Link(survivor["name"], href=f"/contacts/{survivor['id']}", id="contact-merged-link"),
                f" ({survivor['investor_name']}). Opening it…",
            ],
            color="info",
            className="mt-3",
        )
    deleted = next((c for c in deleted_records(now())["contacts"] if c["id"] == contact_id), None)
    if deleted is not None:
        return dbc.Alert(
            [
                f"{deleted['name']} was deleted on {_day(deleted['deleted_at'])}. You can restore the contact "
                f"until {_day(deleted['restorable_until'])} under ",
                dcc.Link("Recently deleted", href="/investors"),
                " on the Investors page.",
            ],
            color="secondary",
            className="mt-3",
            id="contact-deleted",
        )
    return not_found("This contact")


@dash.callback(
    Output("contact-redirect", "href"),
    Output("contact-actions", "style"),
    Input("contact-id", "data"),
    Input("contact-version", "data"),
)
def page_state(contact_id, _version):
    """Old links keep working: a merged contact's page moves on to the one it was merged into.
    The record's actions show only on a live contact."""
    record_id = _id(contact_id)
    if record_id is None:
        return KEEP, HIDDEN
    survivor_id = contact_merged_into(record_id)
    if survivor_id is not None:
        return f"/contacts/{survivor_id}", HIDDEN
    return KEEP, SHOWN if queries.contact_detail(record_id) is not None else HIDDEN


@dash.callback(
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-save", "n_clicks"),
    State("contact-id", "data"),
    State("contact-name", "value"),
    State("contact-addresses", "value"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def save(_n, contact_id, name, addresses, version):
    actor = acting_admin()
    try:
        stats = update_contact(
            _id(contact_id) or 0,
            now(),
            directory=runtime().directory,
            name=name or "",
            addresses=addresses or "",
            actor=actor,
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    note = "Saved."
    if stats["emails"]:
        note += f" Rematched {stats['emails']:,} captured email(s)."
    return (version or 0) + 1, ok_alert(note)


# -- merge duplicates ---------------------------------------------------------------------------
def _merge_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dcc.Store(id="contact-merge-previewed", data=None),
            dbc.ModalHeader(dbc.ModalTitle("Merge duplicates into this contact")),
            dbc.ModalBody(
                [
                    html.P(
                        "Pick the records that are the same person as this one. Their addresses, links to captured "
                        "mail, proposals and approved activities move here, and each duplicate disappears; links to "
                        "its old page open this one. No captured email is deleted."
                    ),
                    dbc.Label("Duplicates", html_for="contact-merge-from"),
                    dcc.Dropdown(
                        id="contact-merge-from",
                        options=[],
                        value=[],
                        multi=True,
                        placeholder="Pick one or more contacts…",
                    ),
                    html.P(
                        "Preview first: you will see what moves and anything to check before you merge.",
                        className="small-muted mt-2 mb-0",
                    ),
                    html.Div(id="contact-merge-preview", className="mt-3"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="contact-merge-cancel", color="secondary", outline=True),
                    dbc.Button("Preview", id="contact-merge-check", color="primary", outline=True),
                    dbc.Button("Merge", id="contact-merge-confirm", color="danger", disabled=True),
                ]
            ),
        ],
        id="contact-merge-modal",
        is_open=False,
        size="lg",
        backdrop="static",
        scrollable=True,
    )


def _contact_choices(exclude: int | None) -> list[dict]:
    """Every live contact of every live investor, labelled with the firm and addresses so that two
    people of the same name can be told apart."""
    options = []
    for investor in queries.list_investors(include_graveyard=True):
        detail = queries.investor_detail(investor["id"])
        for c in detail["contacts"] if detail else []:
            if c["id"] != exclude:
                label = f"{c['name']} · {investor['name']}" + (
                    f" · {', '.join(c['addresses'])}" if c["addresses"] else ""
                )
                options.append({"label": label, "value": c["id"]})
    return sorted(options, key=lambda o: o["label"].casefold())


@dash.callback(
    Output("contact-merge-modal", "is_open"),
    Output("contact-merge-from", "options"),
    Output("contact-merge-from", "value"),
    Output("contact-merge-preview", "children"),
    Output("contact-merge-confirm", "disabled"),
    Output("contact-merge-previewed", "data"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-merge-open", "n_clicks"),
    Input("contact-merge-cancel", "n_clicks"),
    Input("contact-merge-check", "n_clicks"),
    Input("contact-merge-confirm", "n_clicks"),
    Input("contact-merge-from", "value"),
    State("contact-id", "data"),
    State("contact-merge-previewed", "data"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def merge_dialog(_open, _cancel, _check, _confirm, chosen, contact_id, previewed, version):
    """Open the dialog, preview a merge (a dry run: nothing changes), or merge. "Merge" merges
    exactly the contacts last previewed; picking others asks for a new preview."""
    trigger = ctx.triggered_id
    survivor_id = _id(contact_id)
    if trigger == "contact-merge-open":
        return True, _contact_choices(survivor_id), [], None, True, None, KEEP, KEEP
    if trigger == "contact-merge-cancel":
        return False, KEEP, [], None, True, None, KEEP, KEEP
    if trigger == "contact-merge-from":
        return KEEP, KEEP, KEEP, None, True, None, KEEP, KEEP
    if trigger == "contact-merge-check":
        if not chosen:
            return KEEP, KEEP, KEEP, error_alert("Pick at least one duplicate first."), True, None, KEEP, KEEP
        try:
            preview = merge_contacts(survivor_id or 0, chosen, now(), directory=runtime().directory, dry_run=True)
        except ValidationError as exc:
            return KEEP, KEEP, KEEP, error_alert(f"Cannot merge: {exc}"), True, None, KEEP, KEEP
        return KEEP, KEEP, KEEP, _merge_preview(preview), False, chosen, KEEP, KEEP
    if trigger == "contact-merge-confirm":
        if not previewed:
            return KEEP, KEEP, KEEP, error_alert("Preview the merge first."), True, None, KEEP, KEEP
        try:
            result = merge_contacts(
                survivor_id or 0, previewed, now(), directory=runtime().directory, actor=acting_admin()
            )
        except ValidationError as exc:
            return KEEP, KEEP, KEEP, error_alert(f"Nothing was merged: {exc}"), True, None, KEEP, KEEP
        queries.clear_cache()
        return False, KEEP, [], None, True, None, (version or 0) + 1, ok_alert(_merged_summary(result))
    raise dash.exceptions.PreventUpdate


def _merge_preview(preview: dict) -> html.Div:
    """What each duplicate brings, and the conflicts an admin should read before merging."""
    moving = []
    for duplicate in preview["from"]:
        rows = [
            ("At", duplicate["investor_name"]),
            ("Addresses", ", ".join(duplicate["addresses"]) or "none"),
            ("Approved activities", f"{duplicate['activities']:,}"),
            ("Pending proposals", f"{duplicate['pending_proposals']:,}"),
        ]
        moving.append(
            dbc.Card(
                [
                    dbc.CardHeader(html.Span(duplicate["name"], className="fw-semibold")),
                    dbc.CardBody(
                        dbc.Table(
                            html.Tbody(
                                [html.Tr([html.Th(label, className="w-50"), html.Td(value)]) for label, value in rows]
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
        )
    return html.Div(
        [
            html.H6(f"What moves into {preview['survivor']['name']}"),
            *moving,
            _conflicts(preview["conflicts"]),
        ],
        id="contact-merge-summary",
    )


def _conflicts(conflicts: list[dict]):
    if not conflicts:
        return html.P("Nothing to check: no conflicts were found.", className="small-muted mb-0")
    return html.Div(
        [
            html.H6("Check before merging", className="mt-3"),
            dbc.ListGroup(
                [dbc.ListGroupItem(c["message"][:1].upper() + c["message"][1:], color="warning") for c in conflicts],
                id="contact-merge-conflicts",
            ),
        ]
    )


def _merged_summary(result: dict) -> str:
    moved = result["from"]
    parts = [
        plural(sum(len(d["addresses"]) for d in moved), "address", "addresses"),
        plural(sum(d["activities"] for d in moved), "approved activity", "approved activities"),
        plural(sum(d["pending_proposals"] for d in moved), "pending proposal"),
    ]
    emails = result.get("rematched", {}).get("emails", 0)
    return (
        f"Merged {', '.join(d['name'] for d in moved)} into {result['survivor']['name']}: {', '.join(parts)} "
        f"moved. {plural(emails, 'captured email')} rematched."
    )


# -- moved to another firm -----------------------------------------------------------------------
def _move_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Moved to another firm")),
            dbc.ModalBody(
                [
                    html.P(
                        [
                            "Record that ",
                            html.Strong(id="contact-move-name"),
                            " joined another investor. Their mail and approved activities from that day on go to "
                            "the new firm; what came before stays with ",
                            html.Strong(id="contact-move-from"),
                            ".",
                        ]
                    ),
                    dbc.Label("New firm", html_for="contact-move-investor"),
                    dcc.Dropdown(id="contact-move-investor", options=[], placeholder="Pick the investor…"),
                    dbc.Label("Since", html_for="contact-move-since", className="mt-2"),
                    dbc.Input(id="contact-move-since", type="date"),
                    html.Div(id="contact-move-error", className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="contact-move-cancel", color="secondary", outline=True),
                    dbc.Button("Move contact", id="contact-move-confirm", color="primary"),
                ]
            ),
        ],
        id="contact-move-modal",
        is_open=False,
        backdrop="static",
    )


@dash.callback(
    Output("contact-move-modal", "is_open"),
    Output("contact-move-name", "children"),
    Output("contact-move-from", "children"),
    Output("contact-move-investor", "options"),
    Output("contact-move-investor", "value"),
    Output("contact-move-since", "value"),
    Output("contact-move-error", "children"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-move-open", "n_clicks"),
    Input("contact-move-cancel", "n_clicks"),
    Input("contact-move-confirm", "n_clicks"),
    State("contact-id", "data"),
    State("contact-move-investor", "value"),
    State("contact-move-since", "value"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def move_dialog(_open, _cancel, _confirm, contact_id, investor_id, since, version):
    trigger = ctx.triggered_id
    record_id = _id(contact_id)
    if trigger == "contact-move-cancel":
        return False, KEEP, KEEP, KEEP, None, KEEP, None, KEEP, KEEP
    contact = queries.contact_detail(record_id) if record_id else None
    if trigger == "contact-move-open":
        if contact is None:
            return (KEEP,) * 8 + (error_alert("This contact no longer exists."),)
        options = [
            {"label": i["name"] + (" (graveyard)" if i["graveyard"] else ""), "value": i["id"]}
            for i in queries.list_investors(include_graveyard=True)
            if i["id"] != contact["investor_id"]
        ]
        today = now().astimezone(runtime().settings.tz).date().isoformat()
        return True, contact["name"], contact["investor_name"], options, None, today, None, KEEP, KEEP
    if trigger != "contact-move-confirm":
        raise dash.exceptions.PreventUpdate
    if investor_id is None:
        return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert("Pick the firm they joined."), KEEP, KEEP
    try:
        result = move_contact(
            record_id or 0,
            investor_id,
            _start_of_day(since),
            now(),
            directory=runtime().directory,
            actor=acting_admin(),
        )
    except ValidationError as exc:
        return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert(f"Nothing was moved: {exc}"), KEEP, KEEP
    queries.clear_cache()
    target = queries.investor_detail(result["to_investor_id"])
    name = contact["name"] if contact else "The contact"
    message = (
        f"{name} moved to {target['name'] if target else 'the new firm'} from {_day(result['since'])}: "
        f"{plural(result['activities_moved'], 'approved activity', 'approved activities')} from that day on went "
        f"with them; {plural(result['rematched']['emails'], 'captured email')} rematched."
    )
    return False, KEEP, KEEP, KEEP, None, KEEP, None, (version or 0) + 1, ok_alert(message)


def _start_of_day(day):
    """The start of the chosen day in the fund's zone, with its offset: mail sent that day is the
    new firm's. What is not a day goes through as typed, so the CRM's check names the problem."""
    if not isinstance(day, str) or not ISO_DAY.fullmatch(day.strip()):
        return day
    try:
        chosen = date.fromisoformat(day.strip())
    except ValueError:
        return day
    return datetime.combine(chosen, time(0), tzinfo=runtime().settings.tz).isoformat()


# -- delete --------------------------------------------------------------------------------------
def _delete_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(["Delete ", html.Span(id="contact-delete-name"), "?"])),
            dbc.ModalBody(
                [
                    html.Ul(
                        [
                            html.Li("The contact is hidden everywhere, and no longer proposed for new mail."),
                            html.Li(
                                "Its captured mail is kept and matched again by the investor's domains; its approved "
                                "activities stay on the investor's record."
                            ),
                            html.Li(
                                f"You can restore it for {RESTORE_DAYS} days from Recently deleted on the Investors "
                                "page; after that it is removed for good."
                            ),
                        ]
                    ),
                    html.Div(id="contact-delete-error"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="contact-delete-cancel", color="secondary", outline=True),
                    dbc.Button("Delete contact", id="contact-delete-confirm", color="danger"),
                ]
            ),
        ],
        id="contact-delete-modal",
        is_open=False,
        backdrop="static",
    )


@dash.callback(
    Output("contact-delete-modal", "is_open"),
    Output("contact-delete-name", "children"),
    Output("contact-delete-error", "children"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-delete-open", "n_clicks"),
    Input("contact-delete-cancel", "n_clicks"),
    Input("contact-delete-confirm", "n_clicks"),
    State("contact-id", "data"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def delete_dialog(_open, _cancel, _confirm, contact_id, version):
    trigger = ctx.triggered_id
    record_id = _id(contact_id)
    if trigger == "contact-delete-cancel":
        return False, KEEP, None, KEEP, KEEP
    contact = queries.contact_detail(record_id) if record_id else None
    if trigger == "contact-delete-open":
        if contact is None:
            return False, KEEP, None, KEEP, error_alert("This contact no longer exists.")
        return True, contact["name"], None, KEEP, KEEP
    if trigger != "contact-delete-confirm":
        raise dash.exceptions.PreventUpdate
    try:
        result = delete_contact(record_id or 0, now(), directory=runtime().directory, actor=acting_admin())
    except ValidationError as exc:
        return KEEP, KEEP, error_alert(f"Nothing was deleted: {exc}"), KEEP, KEEP
    queries.clear_cache()
    message = dbc.Alert(
        [
            f"{contact['name'] if contact else 'The contact'} is deleted: hidden everywhere, its captured mail "
            f"kept. You can restore it until {_day(result['restorable_until'])} under ",
            dcc.Link("Recently deleted", href="/investors", id="contact-deleted-list-link"),
            " on the Investors page.",
        ],
        color="success",
        dismissable=True,
        className="py-2",
    )
    return False, KEEP, None, (version or 0) + 1, message
