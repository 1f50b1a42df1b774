"""One investor: edit name, domains, graveyard and notes; its contacts (add one); the approved
activity timeline; its recent captured mail. Every change rematches the mail it concerns."""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from appsrc.crm.investors import add_contact, update_investor
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import direction_badge, empty, error_alert, local, not_found, now, ok_alert, runtime
from appsrc.store import queries

dash.register_page(
    __name__, path_template="/investors/<investor_id>", name="Investor", nav=False, title="Investor · IR Mail Desk"
)


def layout(investor_id=None, **_kwargs):
    return html.Div(
        [
            dcc.Store(id="investor-id", data=str(investor_id or "")),
            dcc.Store(id="investor-version", data=0),
            html.Div(id="investor-message"),
            html.Div(id="investor-header"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Card(
                                [
                                    dbc.CardHeader("Details"),
                                    dbc.CardBody(
                                        [
                                            dbc.Label("Name"),
                                            dbc.Input(id="investor-name", maxLength=200, className="mb-2"),
                                            dbc.Label("Domains (separated by ; or ,)"),
                                            dbc.Input(id="investor-domains", className="mb-2"),
                                            dbc.Switch(
                                                id="investor-graveyard",
                                                label="Graveyard (hidden from pickers, no new proposals)",
                                                value=False,
                                                className="mb-2",
                                            ),
                                            dbc.Label("Notes"),
                                            dbc.Textarea(id="investor-notes", maxLength=5000, className="mb-2", rows=3),
                                            dbc.Button("Save", id="investor-save", color="primary", size="sm"),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Contacts"),
                                    dbc.CardBody(
                                        [
                                            html.Div(id="investor-contacts"),
                                            html.Hr(),
                                            html.H6("Add a contact"),
                                            dbc.Input(
                                                id="investor-contact-name",
                                                placeholder="Name",
                                                maxLength=200,
                                                className="mb-2",
                                                size="sm",
                                            ),
                                            dbc.Input(
                                                id="investor-contact-addresses",
                                                placeholder="address(es), separated by ;",
                                                className="mb-2",
                                                size="sm",
                                            ),
                                            dbc.Button(
                                                "Add contact", id="investor-contact-add", size="sm", color="secondary"
                                            ),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            ),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Card(
                                [dbc.CardHeader("Approved activity"), dbc.CardBody(html.Div(id="investor-timeline"))],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [dbc.CardHeader("Recent captured mail"), dbc.CardBody(html.Div(id="investor-recent"))]
                            ),
                        ],
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
        ]
    )


def _id(value):
    """The id in the page's URL, or None when it is not one (the page then says "not found")."""
    try:
        return parse_id(value, field="investor_id")
    except ValidationError:
        return None


@dash.callback(
    Output("investor-header", "children"),
    Output("investor-name", "value"),
    Output("investor-domains", "value"),
    Output("investor-graveyard", "value"),
    Output("investor-notes", "value"),
    Output("investor-contacts", "children"),
    Output("investor-timeline", "children"),
    Output("investor-recent", "children"),
    Input("investor-id", "data"),
    Input("investor-version", "data"),
)
def render(investor_id, _version):
    inv = queries.investor_detail(_id(investor_id)) if _id(investor_id) else None
    if inv is None:
        return not_found("This investor"), "", "", False, "", None, None, None
    header = html.Div(
        [
            html.H2(
                [
                    inv["name"],
                    dbc.Badge("graveyard", color="dark", className="ms-2 fs-6") if inv["graveyard"] else None,
                ],
                className="page-title",
                id="investor-title",
            ),
            html.P(
                [
                    f"{inv['emails']:,} captured email(s) · ",
                    dcc.Link("search its mail", href=f"/activity?investor_id={inv['id']}"),
                    " · ",
                    f"{inv['pending']:,} pending proposal(s)",
                ],
                className="page-subtitle",
            ),
        ]
    )
    contacts = (
        html.Ul(
            [
                html.Li(
                    [
                        dcc.Link(c["name"], href=f"/contacts/{c['id']}", className="fw-semibold"),
                        html.Span(
                            f" · {c['activities']} activit{'y' if c['activities'] == 1 else 'ies'}",
                            className="small-muted",
                        ),
                        html.Div(", ".join(c["addresses"]), className="small-muted"),
                    ],
                    className="mb-2",
                )
                for c in inv["contacts"]
            ],
            className="list-unstyled mb-0",
        )
        if inv["contacts"]
        else empty("No contacts.")
    )
    return (
        header,
        inv["name"],
        "; ".join(inv["domains"]),
        inv["graveyard"],
        inv["notes"],
        contacts,
        timeline(queries.activity_timeline(investor_id=inv["id"], limit=50)["items"], show_contact=True),
        _recent(queries.recent_emails_of_investor(inv["id"])),
    )


def timeline(items, *, show_contact: bool):
    if not items:
        return empty("No approved activity yet.")
    return html.Div(
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
                    html.Div(
                        (
                            [dcc.Link(a["contact_name"], href=f"/contacts/{a['contact_id']}"), " · "]
                            if show_contact
                            else []
                        )
                        + [f"approved by {a['created_by'] or '—'}"],
                        className="small-muted",
                    ),
                ],
                className="timeline-item",
            )
            for a in items
        ],
        className="timeline",
    )


def _recent(items):
    if not items:
        return empty("No captured mail.")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(local(i["sent_at"], "%d %b %Y"), className="small-muted me-2"),
                    direction_badge(i["direction"]),
                    dcc.Link(i["subject"] or "(no subject)", href=f"/email/{i['email_id']}"),
                ],
                className="mb-1",
            )
            for i in items
        ],
        className="list-unstyled mb-0",
    )


@dash.callback(
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input("investor-save", "n_clicks"),
    State("investor-id", "data"),
    State("investor-name", "value"),
    State("investor-domains", "value"),
    State("investor-graveyard", "value"),
    State("investor-notes", "value"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def save(_n, investor_id, name, domains, graveyard, notes, version):
    actor = acting_admin()
    rt = runtime()
    try:
        stats = update_investor(
            _id(investor_id) or 0,
            now(),
            directory=rt.directory,
            name=name or "",
            domains=domains or "",
            graveyard=bool(graveyard),
            notes=notes or "",
            actor=actor,
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    note = "Saved."
    if stats["emails"]:
        note += f" Rematched {stats['emails']:,} captured email(s)."
    return (version or 0) + 1, ok_alert(note)


@dash.callback(
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Output("investor-contact-name", "value"),
    Output("investor-contact-addresses", "value"),
    Input("investor-contact-add", "n_clicks"),
    State("investor-id", "data"),
    State("investor-contact-name", "value"),
    State("investor-contact-addresses", "value"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def new_contact(_n, investor_id, name, addresses, version):
    actor = acting_admin()
    try:
        contact, stats = add_contact(
            _id(investor_id) or 0, name or "", addresses or "", now(), directory=runtime().directory, actor=actor
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc)), dash.no_update, dash.no_update
    return (
        (version or 0) + 1,
        ok_alert(f"Added {contact.name}; {stats['emails']:,} captured email(s) rematched."),
        "",
        "",
    )
