"""Approvals: the queue of proposed activities with the email in view, one by one or in groups.

One by one: pick a proposal on the left to read it on the right (who wrote to whom, which
investor and contact, which team mailboxes saw it, the snippet and the body), then approve or
reject it; or tick several and decide them at once (all or nothing). An unknown sender at an
investor's domain is approved with "Approve & create contact".

By conversation / by investor: after a backfill the queue holds hundreds or thousands of
proposals, so they are also shown as groups, newest activity first. Open a group to see its
members; approve or reject a group, or tick several and decide them together. Either way a
confirmation first lists exactly what the decision covers, and the decision covers exactly that:
if a group changed meanwhile (a proposal decided elsewhere, a new one captured), nothing is
decided and the confirmation shows the groups as they are now. "Known contacts" and "New people"
filter both views. Keys (assets/approvals_keys.js) drive these same buttons: j/k, x, g, a, r, ?.
Approving is the only way an activity reaches a contact's record; every decision is audited.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import proposals as crm_proposals
from appsrc.crm.validation import ValidationError, parse_optional_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import (
    direction_badge,
    empty,
    error_alert,
    local,
    now,
    ok_alert,
    page_header,
    plural,
    runtime,
)
from appsrc.store import queries
from appsrc.store.queries import QueryError

dash.register_page(__name__, path="/approvals", name="Approvals", order=20, title="Approvals · IR Mail Desk")

PAGE_SIZE = 25
VIEWS = ("flat", "thread", "investor")
PEOPLE = ("all", "known", "new")
SHORTCUTS = (
    ("j / k", "Move the cursor down / up the list"),
    ("x", "Tick or untick the row under the cursor"),
    ("g", "Open the row under the cursor: a group's members, or a proposal's email"),
    ("a", "Approve: the ticked rows if any, else the row under the cursor (groups ask to confirm)"),
    ("r", "Reject: the ticked rows if any, else the row under the cursor (groups ask to confirm)"),
    ("Enter", "In the confirmation: decide exactly what it lists"),
    ("Esc", "Close the confirmation or this help without deciding"),
    ("?", "Show or hide this help"),
)


def _toggle(id_: str, options: list[tuple[str, str]], value: str):
    """A row of buttons that behaves as one radio choice."""
    return dbc.RadioItems(
        id=id_,
        options=[{"label": label, "value": v} for v, label in options],
        value=value,
        inline=True,
        className="btn-group btn-group-sm me-3",
        inputClassName="btn-check",
        labelClassName="btn btn-outline-primary btn-sm",
        labelCheckedClassName="active",
    )


def _help_modal():
    rows = [html.Tr([html.Td(html.Kbd(k)), html.Td(what)]) for k, what in SHORTCUTS]
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Keyboard shortcuts")),
            dbc.ModalBody(
                [
                    dbc.Table(html.Tbody(rows), size="sm", borderless=True, className="mb-2"),
                    html.Div(
                        "Keys are ignored while you type in a field. They press the page's own buttons, "
                        "so every decision is the one a click would make.",
                        className="small-muted",
                    ),
                ]
            ),
        ],
        id="approvals-help",
        is_open=False,
    )


def _confirm_modal():
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id="approvals-confirm-title")),
            dbc.ModalBody(id="approvals-confirm-body", style={"maxHeight": "60vh", "overflowY": "auto"}),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="approvals-confirm-cancel", color="secondary", outline=True),
                    dbc.Button(id="approvals-confirm-go", color="success"),
                ]
            ),
        ],
        id="approvals-confirm",
        is_open=False,
        size="lg",
        scrollable=True,
    )


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Approvals",
                "Proposed CRM activities from captured mail. Nothing reaches a contact's record until you approve it.",
            ),
            dcc.Store(id="approvals-version", data=0),
            dcc.Store(id="approvals-selected", data=None),
            dcc.Store(id="approvals-cursors", data=[None]),
            dcc.Store(id="approvals-page", data=0),
            dcc.Store(id="approvals-group", data=None),
            dcc.Store(id="approvals-pending", data=None),
            html.Div(
                [
                    _toggle(
                        "approvals-view",
                        [("flat", "One by one"), ("thread", "By conversation"), ("investor", "By investor")],
                        "flat",
                    ),
                    _toggle(
                        "approvals-people",
                        [("all", "Everyone"), ("known", "Known contacts"), ("new", "New people")],
                        "all",
                    ),
                    dbc.Button(
                        "Keyboard shortcuts",
                        id="approvals-help-open",
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="ms-auto",
                        title="Keyboard shortcuts (?)",
                    ),
                ],
                className="d-flex flex-wrap align-items-center mb-3 gap-2",
            ),
            html.Div(id="approvals-message"),
            _help_modal(),
            _confirm_modal(),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Card(
                                [
                                    dbc.CardHeader(
                                        [
                                            dcc.Dropdown(
                                                id="approvals-investor",
                                                placeholder="All investors",
                                                clearable=True,
                                                className="mb-2",
                                            ),
                                            html.Div(
                                                [
                                                    dbc.Checkbox(
                                                        id="approvals-all", label="Select all on this page", value=False
                                                    ),
                                                    html.Span(id="approvals-count", className="small-muted"),
                                                ],
                                                className="d-flex justify-content-between align-items-center",
                                            ),
                                            html.Div(
                                                [
                                                    dbc.Button(
                                                        "Approve selected",
                                                        id="approvals-bulk-approve",
                                                        size="sm",
                                                        color="success",
                                                        className="me-2",
                                                        disabled=True,
                                                    ),
                                                    dbc.Button(
                                                        "Reject selected",
                                                        id="approvals-bulk-reject",
                                                        size="sm",
                                                        color="secondary",
                                                        outline=True,
                                                        disabled=True,
                                                    ),
                                                ],
                                                id="approvals-flat-actions",
                                                className="mt-2",
                                            ),
                                            html.Div(
                                                [
                                                    dbc.Button(
                                                        "Approve selected groups",
                                                        id="approvals-groups-approve",
                                                        size="sm",
                                                        color="success",
                                                        className="me-2",
                                                    ),
                                                    dbc.Button(
                                                        "Reject selected groups",
                                                        id="approvals-groups-reject",
                                                        size="sm",
                                                        color="secondary",
                                                        outline=True,
                                                    ),
                                                ],
                                                id="approvals-group-actions",
                                                className="mt-2",
                                                style={"display": "none"},
                                            ),
                                        ]
                                    ),
                                    html.Div(id="approvals-list", children=dbc.Spinner(color="primary")),
                                    dbc.CardFooter(
                                        html.Div(
                                            [
                                                dbc.Button(
                                                    "← Newer",
                                                    id="approvals-newer",
                                                    size="sm",
                                                    color="secondary",
                                                    outline=True,
                                                    disabled=True,
                                                ),
                                                dbc.Button(
                                                    "Older →",
                                                    id="approvals-older",
                                                    size="sm",
                                                    color="secondary",
                                                    outline=True,
                                                    disabled=True,
                                                ),
                                            ],
                                            className="d-flex justify-content-between",
                                        )
                                    ),
                                ]
                            ),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            html.Div(_flat_pane(), id="approvals-flat-pane"),
                            html.Div(_group_pane(), id="approvals-group-pane", style={"display": "none"}),
                        ],
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
        ]
    )


def _flat_pane():
    return dbc.Card(
        [
            dbc.CardBody(html.Div(id="approvals-detail", children=empty("Pick a proposal."))),
            dbc.CardFooter(
                [
                    dbc.Collapse(
                        dbc.InputGroup(
                            [
                                dbc.InputGroupText("New contact's name"),
                                dbc.Input(id="approvals-contact-name", maxLength=200),
                            ],
                            size="sm",
                            className="mb-2",
                        ),
                        id="approvals-new-contact",
                        is_open=False,
                    ),
                    html.Div(
                        [
                            dbc.Button(
                                "Approve", id="approvals-approve", color="success", className="me-2", disabled=True
                            ),
                            dbc.Button("Reject", id="approvals-reject", color="secondary", outline=True, disabled=True),
                        ]
                    ),
                ]
            ),
        ],
        className="sticky-top",
        style={"top": "1rem"},
    )


def _group_pane():
    return dbc.Card(
        [
            dbc.CardBody(html.Div(id="approvals-group-detail", children=empty("Open a group to see its members."))),
            dbc.CardFooter(
                html.Div(
                    [
                        dbc.Button(
                            "Approve group",
                            id="approvals-group-approve",
                            color="success",
                            className="me-2",
                            disabled=True,
                        ),
                        dbc.Button(
                            "Reject group", id="approvals-group-reject", color="secondary", outline=True, disabled=True
                        ),
                    ]
                )
            ),
        ],
        className="sticky-top",
        style={"top": "1rem"},
    )


def _choice(value, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else allowed[0]


@dash.callback(
    Output("approvals-list", "children"),
    Output("approvals-investor", "options"),
    Output("approvals-count", "children"),
    Output("approvals-selected", "data"),
    Output("approvals-cursors", "data"),
    Output("approvals-page", "data"),
    Output("approvals-newer", "disabled"),
    Output("approvals-older", "disabled"),
    Input("approvals-investor", "value"),
    Input("approvals-version", "data"),
    Input("approvals-newer", "n_clicks"),
    Input("approvals-older", "n_clicks"),
    Input({"type": "approvals-item", "id": ALL}, "n_clicks"),
    Input("approvals-view", "value"),
    Input("approvals-people", "value"),
    State("approvals-selected", "data"),
    State("approvals-cursors", "data"),
    State("approvals-page", "data"),
)
def queue(investor_id, _version, _newer, _older, item_clicks, view, people, selected, cursors, page):
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "approvals-item":
        if not any(item_clicks or []):
            raise dash.exceptions.PreventUpdate
        selected = trigger["id"]  # checked against the page's items below
    view, people = _choice(view, VIEWS), _choice(people, PEOPLE)
    cursors = cursors if isinstance(cursors, list) and cursors else [None]
    page = page if isinstance(page, int) and 0 <= page < len(cursors) else 0
    if trigger == "approvals-older" and page + 1 < len(cursors):
        page += 1
    elif trigger == "approvals-newer" and page > 0:
        page -= 1
    elif trigger in ("approvals-investor", "approvals-view", "approvals-people"):
        cursors, page = [None], 0
    try:
        investor_id = parse_optional_id(investor_id, field="investor_id")
    except ValidationError:
        investor_id = None
    try:
        if view == "flat":
            result = queries.proposal_queue(
                status="pending", investor_id=investor_id, limit=PAGE_SIZE, cursor=cursors[page], people=people
            )
        else:
            result = queries.approval_groups(by=view, people=people, limit=PAGE_SIZE, cursor=cursors[page])
    except QueryError:  # a cursor from before a reload: start again
        cursors, page = [None], 0
        result = {"items": [], "next_cursor": None}
    items = result["items"]
    cursors = cursors[: page + 1] + ([result["next_cursor"]] if result["next_cursor"] else [])
    if view != "flat":
        selected = None
        listing = _group_list(items)
    else:
        if items and selected not in [i["id"] for i in items]:
            selected = items[0]["id"]
        elif not items:
            selected = None
        listing = _list(items, selected)
    options = [{"label": f"{i['name']} ({i['pending']})", "value": i["id"]} for i in queries.proposal_investors()]
    total = queries.pending_proposal_count()
    return (
        listing,
        options,
        f"{total:,} pending",
        selected,
        cursors,
        page,
        page == 0,
        result["next_cursor"] is None,
    )


@dash.callback(
    Output("approvals-flat-pane", "style"),
    Output("approvals-group-pane", "style"),
    Output("approvals-flat-actions", "style"),
    Output("approvals-group-actions", "style"),
    Output("approvals-investor", "disabled"),
    Output("approvals-group", "data"),
    Input("approvals-view", "value"),
)
def switch_view(view):
    """One pane per view; the investor filter is the flat view's (By investor is its own list)."""
    hidden, shown = {"display": "none"}, {}
    grouped = _choice(view, VIEWS) != "flat"
    return (
        hidden if grouped else shown,
        shown if grouped else hidden,
        hidden if grouped else shown,
        shown if grouped else hidden,
        grouped,
        None,
    )


@dash.callback(
    Output("approvals-help", "is_open"),
    Input("approvals-help-open", "n_clicks"),
    State("approvals-help", "is_open"),
    prevent_initial_call=True,
)
def toggle_help(_clicks, is_open):
    return not is_open


def _return_badge(p) -> list:
    """A graveyard investor who wrote again: marked, so the team can revive the relationship."""
    if p.get("kind") != "graveyard-return":
        return []
    return [
        html.Span(
            "Graveyard investor is back",
            className="badge bg-info text-dark ms-2",
            title="This investor is in the graveyard and wrote to the team again.",
        )
    ]


def _people_badges(known: int, new: int) -> list:
    badges = []
    if known:
        badges.append(html.Span(plural(known, "known contact"), className="badge bg-light text-dark border me-1"))
    if new:
        badges.append(html.Span(plural(new, "new person", "new people"), className="badge bg-warning text-dark me-1"))
    return badges


def _list(items, selected):
    if not items:
        return html.Div(empty("The queue is empty. New proposals appear as mail is captured."), className="px-3")
    rows = []
    for p in items:
        target = p["contact_name"] or p["contact_email"]
        rows.append(
            dbc.ListGroupItem(
                html.Div(
                    [
                        dbc.Checkbox(
                            id={"type": "approvals-check", "id": p["id"]}, value=False, className="me-2 mt-1 row-check"
                        ),
                        html.Div(
                            [
                                html.Div(
                                    [
                                        html.Span(p["investor_name"], className="fw-semibold"),
                                        *_return_badge(p),
                                        html.Span(
                                            local(p["sent_at"], "%d %b %H:%M"), className="small-muted float-end"
                                        ),
                                    ]
                                ),
                                html.Div(p["subject"] or "(no subject)", className="text-truncate"),
                                html.Div(
                                    [("new contact: " if p["new_contact"] else "") + (target or "")],
                                    className="small-muted text-truncate",
                                ),
                            ],
                            id={"type": "approvals-item", "id": p["id"]},
                            n_clicks=0,
                            className="flex-grow-1 queue-item row-open",
                            style={"minWidth": 0},
                        ),
                    ],
                    className="d-flex",
                ),
                className="approvals-row" + (" active-item" if p["id"] == selected else ""),
            )
        )
    return dbc.ListGroup(rows, flush=True, id="approvals-items")


def _group_id(g) -> dict:
    return {"type": "approvals-group-check", "by": g["by"], "key": g["key"]}


def _group_list(groups):
    if not groups:
        return html.Div(empty("Nothing to decide here."), className="px-3")
    rows = []
    for g in groups:
        key = {"by": g["by"], "key": g["key"]}
        rows.append(
            dbc.ListGroupItem(
                html.Div(
                    [
                        dbc.Checkbox(id=_group_id(g), value=False, className="me-2 mt-1 row-check"),
                        html.Div(
                            [
                                html.Div(
                                    [
                                        html.Span(g["label"], className="fw-semibold"),
                                        html.Span(
                                            local(g["latest_sent_at"], "%d %b %H:%M"), className="small-muted float-end"
                                        ),
                                    ],
                                    className="text-truncate",
                                ),
                                html.Div(
                                    [
                                        html.Span(plural(g["count"], "proposal"), className="me-2"),
                                        *_people_badges(g["known_contacts"], g["new_people"]),
                                        html.Span(
                                            g["investor"]["name"] if g["by"] == "thread" else g["latest_from"],
                                            className="small-muted",
                                        ),
                                    ],
                                    className="small text-truncate",
                                ),
                            ],
                            id={"type": "approvals-group-open", **key},
                            n_clicks=0,
                            className="flex-grow-1 queue-item row-open",
                            style={"minWidth": 0},
                        ),
                        html.Div(
                            [
                                dbc.Button(
                                    "✓",
                                    id={"type": "approvals-group-decide", "decision": "approve", **key},
                                    n_clicks=0,
                                    size="sm",
                                    color="success",
                                    outline=True,
                                    className="ms-2 row-approve",
                                    title="Approve this group (you confirm first)",
                                ),
                                dbc.Button(
                                    "✕",
                                    id={"type": "approvals-group-decide", "decision": "reject", **key},
                                    n_clicks=0,
                                    size="sm",
                                    color="secondary",
                                    outline=True,
                                    className="ms-1 row-reject",
                                    title="Reject this group (you confirm first)",
                                ),
                            ],
                            className="text-nowrap",
                        ),
                    ],
                    className="d-flex align-items-start",
                ),
                className="approvals-row",
            )
        )
    return dbc.ListGroup(rows, flush=True, id="approvals-groups")


@dash.callback(
    Output("approvals-group", "data", allow_duplicate=True),
    Input({"type": "approvals-group-open", "by": ALL, "key": ALL}, "n_clicks"),
    State("approvals-people", "value"),
    prevent_initial_call=True,
)
def open_group(clicks, people):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks or []):
        raise dash.exceptions.PreventUpdate
    return {"by": trigger.get("by"), "key": trigger.get("key"), "people": _choice(people, PEOPLE)}


def _preview_table(preview) -> html.Div:
    rows = [
        html.Tr(
            [
                html.Td(f"{p['from_name']} <{p['from_email']}>" if p["from_name"] else p["from_email"]),
                html.Td(p["subject"] or "(no subject)"),
                html.Td(local(p["sent_at"], "%d %b %Y %H:%M"), className="text-nowrap"),
                html.Td(
                    [html.Span("New person ", className="badge bg-warning text-dark me-1"), p["contact_email"]]
                    if p["new_contact"]
                    else [p["contact_name"] or "", html.Span(f" · {p['investor_name']}", className="small-muted")]
                ),
            ]
        )
        for p in preview["items"]
    ]
    head = html.Thead(html.Tr([html.Th("Sender"), html.Th("Subject"), html.Th("Date"), html.Th("Contact")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, className="small mb-0 approvals-members")


@dash.callback(
    Output("approvals-group-detail", "children"),
    Output("approvals-group-approve", "disabled"),
    Output("approvals-group-reject", "disabled"),
    Input("approvals-group", "data"),
    Input("approvals-version", "data"),
)
def group_detail(group, _version):
    if not isinstance(group, dict):
        return empty("Open a group to see its members."), True, True
    try:
        preview = queries.approval_group(group.get("by"), group.get("key"), group.get("people"))
    except QueryError:
        return empty("Open a group to see its members."), True, True
    if not preview["items"]:
        return empty("Nothing left to decide in this group."), True, True
    gmail = (
        [html.A("Open in Gmail", href=preview["gmail_url"], target="_blank", rel="noopener", className="small ms-2")]
        if preview["gmail_url"]
        else []
    )
    view = html.Div(
        [
            html.H5(preview["label"] or "", id="approvals-group-title"),
            html.Div(
                [
                    html.Span(plural(preview["count"], "proposal"), className="me-2"),
                    *_people_badges(preview["known_contacts"], preview["new_people"]),
                    *gmail,
                ],
                className="mb-2",
            ),
            _preview_table(preview),
        ]
    )
    return view, False, False


@dash.callback(
    Output("approvals-detail", "children"),
    Output("approvals-approve", "disabled"),
    Output("approvals-reject", "disabled"),
    Output("approvals-approve", "children"),
    Output("approvals-new-contact", "is_open"),
    Output("approvals-contact-name", "value"),
    Input("approvals-selected", "data"),
)
def detail(proposal_id):
    p = queries.proposal(proposal_id) if proposal_id else None  # None for anything but an id
    if p is None or p["status"] != "pending":
        return empty("Pick a proposal."), True, True, "Approve", False, ""
    email = queries.email_detail(p["email_id"]) or {}
    direction = email.get("direction")
    who = f"{p['from_name']} <{p['from_email']}>" if p["from_name"] else p["from_email"]
    recipients = ", ".join(r.get("email", "") for r in (email.get("to") or []) + (email.get("cc") or []))
    target = (
        [
            html.Span("New contact ", className="badge bg-warning text-dark me-1"),
            p["contact_email"],
            html.Div(
                "An unknown address at this investor's domain: approving creates the contact.", className="small-muted"
            ),
        ]
        if p["new_contact"]
        else [html.Span(p["contact_name"] or ""), html.Span(f" · {p['contact_email']}", className="small-muted")]
    )
    view = html.Div(
        [
            html.H5(p["subject"] or "(no subject)", id="approvals-subject"),
            html.Div(
                [
                    direction_badge(direction),
                    html.Span(local(p["sent_at"], "%A %d %B %Y %H:%M"), className="small-muted"),
                ],
                className="mb-2",
            ),
            dbc.Table(
                html.Tbody(
                    [
                        html.Tr([html.Th("From", className="w-25"), html.Td(who)]),
                        html.Tr([html.Th("To / Cc"), html.Td(recipients or "—")]),
                        html.Tr(
                            [
                                html.Th("Investor"),
                                html.Td(
                                    [
                                        dcc.Link(p["investor_name"], href=f"/investors/{p['investor_id']}"),
                                        *_return_badge(p),
                                    ]
                                ),
                            ]
                        ),
                        html.Tr([html.Th("Contact"), html.Td(target)]),
                        html.Tr([html.Th("Seen by"), html.Td(", ".join(p["mailboxes"]) or "no live copy")]),
                    ]
                ),
                size="sm",
                borderless=True,
            ),
            html.Div(p["snippet"], className="fst-italic text-muted mb-2"),
            html.Div(email.get("body_text") or "", className="email-body", id="approvals-body"),
            dcc.Link("Open the email", href=f"/email/{p['email_id']}", className="small"),
        ]
    )
    name = p["from_name"] if p["new_contact"] and p["from_email"] == p["contact_email"] else ""
    return (
        view,
        False,
        False,
        "Approve & create contact" if p["new_contact"] else "Approve",
        p["new_contact"],
        name or "",
    )


@dash.callback(
    Output("approvals-bulk-approve", "disabled"),
    Output("approvals-bulk-reject", "disabled"),
    Input({"type": "approvals-check", "id": ALL}, "value"),
)
def bulk_enabled(values):
    none = not any(values or [])
    return none, none


@dash.callback(
    Output({"type": "approvals-check", "id": ALL}, "value"),
    Output({"type": "approvals-group-check", "by": ALL, "key": ALL}, "value"),
    Input("approvals-all", "value"),
    State({"type": "approvals-check", "id": ALL}, "value"),
    State({"type": "approvals-group-check", "by": ALL, "key": ALL}, "value"),
    prevent_initial_call=True,
)
def select_all(checked, values, group_values):
    return [bool(checked)] * len(values or []), [bool(checked)] * len(group_values or [])


@dash.callback(
    Output("approvals-all", "value"),
    Input("approvals-list", "children"),
    prevent_initial_call=True,
)
def clear_select_all(_listing):
    """A new page starts with nothing ticked, so "select all" starts unticked too."""
    return False


@dash.callback(
    Output("approvals-version", "data"),
    Output("approvals-message", "children"),
    Input("approvals-approve", "n_clicks"),
    Input("approvals-reject", "n_clicks"),
    Input("approvals-bulk-approve", "n_clicks"),
    Input("approvals-bulk-reject", "n_clicks"),
    State("approvals-selected", "data"),
    State("approvals-contact-name", "value"),
    State({"type": "approvals-check", "id": ALL}, "value"),
    State({"type": "approvals-check", "id": ALL}, "id"),
    State("approvals-version", "data"),
    prevent_initial_call=True,
)
def decide(_a, _r, _ba, _br, selected, contact_name, checks, check_ids, version):
    trigger = ctx.triggered_id
    actor = acting_admin()
    if trigger in ("approvals-approve", "approvals-reject"):
        ids = [selected] if selected else []
    else:
        ids = [i.get("id") for i, v in zip(check_ids or [], checks or [], strict=False) if v and isinstance(i, dict)]
    if not ids:
        return dash.no_update, error_alert("Nothing selected.")
    try:
        if trigger in ("approvals-approve", "approvals-bulk-approve"):
            names = {ids[0]: contact_name} if trigger == "approvals-approve" and contact_name else None
            decision = crm_proposals.approve(ids, actor, now(), directory=runtime().directory, contact_names=names)
            made = f" and created {len(decision.contacts_created)} contact(s)" if decision.contacts_created else ""
            message = ok_alert(f"Approved {len(decision.approved)} proposal(s){made}.")
        else:
            decision = crm_proposals.reject(ids, actor, now())
            message = ok_alert(f"Rejected {len(decision.rejected)} proposal(s).")
    except ValidationError as exc:
        message = error_alert(f"Nothing was changed: {exc}")
    return (version or 0) + 1, message


# -- group decisions: preview, confirm, decide exactly that ------------------------------------------------
def _confirmation(decision: str, previews: list[dict], changed: bool):
    total = len({i for p in previews for i in p["member_ids"]})
    verb = "Approve" if decision == "approve" else "Reject"
    title = f"{verb} {plural(total, 'proposal')} in {plural(len(previews), 'group')}?"
    body = []
    if changed:
        body.append(
            dbc.Alert(
                "The groups changed since you looked (a proposal was decided elsewhere or a new one arrived). "
                "Nothing was decided: this is what they cover now.",
                color="warning",
                id="approvals-confirm-changed",
            )
        )
    if decision == "approve" and any(p["new_people"] for p in previews):
        body.append(
            html.Div("Approving a new person creates their contact under the investor.", className="small-muted mb-2")
        )
    for p in previews:
        body.append(
            html.H6([p["label"] or "", html.Span(f" · {plural(p['count'], 'proposal')}", className="small-muted")])
        )
        body.append(_preview_table(p) if p["items"] else empty("Nothing left to decide in this group."))
        if p["too_large"]:
            body.append(error_alert("This group is too large to decide at once: use the conversation view."))
    pending = {
        "decision": decision,
        "groups": [
            {"by": p["by"], "key": p["key"], "people": p["people"], "member_ids": p["member_ids"]}
            for p in previews
            if p["member_ids"]
        ],
    }
    can_go = bool(total) and not any(p["too_large"] for p in previews)
    return title, body, f"{verb} {plural(total, 'proposal')}", not can_go, pending


@dash.callback(
    Output("approvals-confirm", "is_open"),
    Output("approvals-confirm-title", "children"),
    Output("approvals-confirm-body", "children"),
    Output("approvals-confirm-go", "children"),
    Output("approvals-confirm-go", "disabled"),
    Output("approvals-pending", "data"),
    Output("approvals-message", "children", allow_duplicate=True),
    Input({"type": "approvals-group-decide", "decision": ALL, "by": ALL, "key": ALL}, "n_clicks"),
    Input("approvals-groups-approve", "n_clicks"),
    Input("approvals-groups-reject", "n_clicks"),
    Input("approvals-group-approve", "n_clicks"),
    Input("approvals-group-reject", "n_clicks"),
    State({"type": "approvals-group-check", "by": ALL, "key": ALL}, "value"),
    State({"type": "approvals-group-check", "by": ALL, "key": ALL}, "id"),
    State("approvals-group", "data"),
    State("approvals-people", "value"),
    prevent_initial_call=True,
)
def preview_decision(row_clicks, _ga, _gr, _oa, _or, checks, check_ids, opened, people):
    """Before any group decision: list exactly what it covers, in a confirmation."""
    acting_admin()
    trigger = ctx.triggered_id
    people = _choice(people, PEOPLE)
    if isinstance(trigger, dict):
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            raise dash.exceptions.PreventUpdate  # a row was drawn, not clicked
        decision = trigger.get("decision")
        groups = [(trigger.get("by"), trigger.get("key"))]
    elif trigger in ("approvals-group-approve", "approvals-group-reject"):
        decision = "approve" if trigger == "approvals-group-approve" else "reject"
        groups = [(opened.get("by"), opened.get("key"))] if isinstance(opened, dict) else []
        people = _choice(opened.get("people") if isinstance(opened, dict) else None, PEOPLE)
    elif trigger in ("approvals-groups-approve", "approvals-groups-reject"):
        decision = "approve" if trigger == "approvals-groups-approve" else "reject"
        groups = [
            (i.get("by"), i.get("key"))
            for i, v in zip(check_ids or [], checks or [], strict=False)
            if v and isinstance(i, dict)
        ]
    else:  # the list was redrawn: its row buttons changed, nobody pressed one
        raise dash.exceptions.PreventUpdate
    if decision not in ("approve", "reject") or not groups:
        return (False, dash.no_update, dash.no_update, dash.no_update, True, None, error_alert("Nothing selected."))
    try:
        previews = [queries.approval_group(by, key, people) for by, key in groups]
    except QueryError as exc:
        return (False, dash.no_update, dash.no_update, dash.no_update, True, None, error_alert(str(exc)))
    title, body, go, disabled, pending = _confirmation(decision, previews, changed=False)
    return True, title, body, go, disabled, pending, None


@dash.callback(
    Output("approvals-confirm", "is_open", allow_duplicate=True),
    Output("approvals-confirm-title", "children", allow_duplicate=True),
    Output("approvals-confirm-body", "children", allow_duplicate=True),
    Output("approvals-confirm-go", "children", allow_duplicate=True),
    Output("approvals-confirm-go", "disabled", allow_duplicate=True),
    Output("approvals-pending", "data", allow_duplicate=True),
    Output("approvals-message", "children", allow_duplicate=True),
    Output("approvals-version", "data", allow_duplicate=True),
    Input("approvals-confirm-go", "n_clicks"),
    Input("approvals-confirm-cancel", "n_clicks"),
    State("approvals-pending", "data"),
    State("approvals-version", "data"),
    prevent_initial_call=True,
)
def confirm_decision(_go, _cancel, pending, version):
    """Decide exactly what the confirmation listed; if it changed, show it as it is now."""
    actor = acting_admin()
    keep = dash.no_update
    if ctx.triggered_id == "approvals-confirm-cancel":
        return False, keep, keep, keep, keep, None, keep, keep
    if not isinstance(pending, dict):
        return False, keep, keep, keep, keep, None, error_alert("Nothing selected."), keep
    decision = pending.get("decision")
    try:
        result, covered = crm_proposals.decide_groups(
            decision, pending.get("groups"), actor, now(), directory=runtime().directory
        )
    except crm_proposals.GroupsChanged as exc:
        title, body, go, disabled, fresh = _confirmation(str(decision), exc.previews, changed=True)
        return True, title, body, go, disabled, fresh, keep, (version or 0) + 1
    except ValidationError as exc:
        return False, keep, keep, keep, keep, None, error_alert(f"Nothing was changed: {exc}"), (version or 0) + 1
    if decision == "approve":
        made = f" and created {len(result.contacts_created)} contact(s)" if result.contacts_created else ""
        text = f"Approved {plural(len(result.approved), 'proposal')} in {plural(len(covered), 'group')}{made}."
    else:
        text = f"Rejected {plural(len(result.rejected), 'proposal')} in {plural(len(covered), 'group')}."
    return False, keep, keep, keep, keep, None, ok_alert(text), (version or 0) + 1
