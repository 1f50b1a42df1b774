"""Approvals: the queue of proposed activities with the email in view.

Pick a proposal on the left to read it on the right (who wrote to whom, which investor and
contact, which team mailboxes saw it, the snippet and the body), then approve or reject it; or
tick several and decide them at once (all or nothing). An unknown sender at an investor's domain
is approved with "Approve & create contact". Approving is the only way an activity reaches a
contact's record; every decision is audited.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import proposals as crm_proposals
from appsrc.crm.validation import ValidationError, parse_optional_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import direction_badge, empty, error_alert, local, now, ok_alert, page_header, runtime
from appsrc.store import queries

dash.register_page(__name__, path="/approvals", name="Approvals", order=20, title="Approvals · IR Mail Desk")

PAGE_SIZE = 25


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
            html.Div(id="approvals-message"),
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
                                                className="mt-2",
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
                            dbc.Card(
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
                                                        "Approve",
                                                        id="approvals-approve",
                                                        color="success",
                                                        className="me-2",
                                                        disabled=True,
                                                    ),
                                                    dbc.Button(
                                                        "Reject",
                                                        id="approvals-reject",
                                                        color="secondary",
                                                        outline=True,
                                                        disabled=True,
                                                    ),
                                                ]
                                            ),
                                        ]
                                    ),
                                ],
                                className="sticky-top",
                                style={"top": "1rem"},
                            ),
                        ],
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
        ]
    )


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
    State("approvals-selected", "data"),
    State("approvals-cursors", "data"),
    State("approvals-page", "data"),
)
def queue(investor_id, _version, _newer, _older, item_clicks, selected, cursors, page):
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "approvals-item":
        if not any(item_clicks or []):
            raise dash.exceptions.PreventUpdate
        selected = trigger["id"]  # checked against the page's items below
    cursors = cursors if isinstance(cursors, list) and cursors else [None]
    page = page if isinstance(page, int) and 0 <= page < len(cursors) else 0
    if trigger == "approvals-older" and page + 1 < len(cursors):
        page += 1
    elif trigger == "approvals-newer" and page > 0:
        page -= 1
    elif trigger == "approvals-investor":
        cursors, page = [None], 0
    try:
        investor_id = parse_optional_id(investor_id, field="investor_id")
    except ValidationError:
        investor_id = None
    result = queries.proposal_queue(status="pending", investor_id=investor_id, limit=PAGE_SIZE, cursor=cursors[page])
    items = result["items"]
    cursors = cursors[: page + 1] + ([result["next_cursor"]] if result["next_cursor"] else [])
    if items and selected not in [i["id"] for i in items]:
        selected = items[0]["id"]
    elif not items:
        selected = None
    options = [{"label": f"{i['name']} ({i['pending']})", "value": i["id"]} for i in queries.proposal_investors()]
    total = queries.pending_proposal_count()
    return (
        _list(items, selected),
        options,
        f"{total:,} pending",
        selected,
        cursors,
        page,
        page == 0,
        result["next_cursor"] is None,
    )


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
                        dbc.Checkbox(id={"type": "approvals-check", "id": p["id"]}, value=False, className="me-2 mt-1"),
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
                            className="flex-grow-1 queue-item",
                            style={"minWidth": 0},
                        ),
                    ],
                    className="d-flex",
                ),
                className="active-item" if p["id"] == selected else "",
            )
        )
    return dbc.ListGroup(rows, flush=True, id="approvals-items")


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
    Input("approvals-all", "value"),
    State({"type": "approvals-check", "id": ALL}, "value"),
    prevent_initial_call=True,
)
def select_all(checked, values):
    return [bool(checked)] * len(values or [])


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
