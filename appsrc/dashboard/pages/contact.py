"""One contact: name and addresses (editable), removal, and the approved activity timeline —
the CRM record that only approvals write to."""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from appsrc.crm.investors import remove_contact, update_contact
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import direction_badge, empty, error_alert, local, not_found, now, ok_alert, runtime
from appsrc.store import queries

dash.register_page(
    __name__, path_template="/contacts/<contact_id>", name="Contact", nav=False, title="Contact · IR Mail Desk"
)


def layout(contact_id=None, **_kwargs):
    return html.Div(
        [
            dcc.Store(id="contact-id", data=str(contact_id or "")),
            dcc.Store(id="contact-version", data=0),
            html.Div(id="contact-message"),
            html.Div(id="contact-header"),
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
                                        html.Div(
                                            [
                                                dbc.Button("Save", id="contact-save", color="primary", size="sm"),
                                                dcc.ConfirmDialogProvider(
                                                    dbc.Button(
                                                        "Remove contact", color="danger", outline=True, size="sm"
                                                    ),
                                                    id="contact-remove",
                                                    message="Remove this contact? Its approved activities stay; "
                                                    "its mail is rematched.",
                                                ),
                                            ],
                                            className="d-flex justify-content-between",
                                        ),
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
        ]
    )


def _id(value):
    """The id in the page's URL, or None when it is not one (the page then says "not found")."""
    try:
        return parse_id(value, field="contact_id")
    except ValidationError:
        return None


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
        return not_found("This contact"), "", "", None
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
                        html.Div(
                            f"approved by {a['created_by'] or '—'} on {local(a['created_at'], '%d %b %Y')}",
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


@dash.callback(
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-remove", "submit_n_clicks"),
    State("contact-id", "data"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def remove(_n, contact_id, version):
    actor = acting_admin()
    try:
        remove_contact(_id(contact_id) or 0, now(), directory=runtime().directory, actor=actor)
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    return (version or 0) + 1, ok_alert("Removed. Its approved activities stay on the investor's record.")
