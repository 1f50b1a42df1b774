"""People: what is stored about one person outside the fund, its export, and its erasure when
they ask for it (see `crm.people`). Erasing cannot be undone, so the dialog asks for the address
to be typed again before its button wakes up."""

from urllib.parse import quote

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from appsrc.crm.people import EXPORT_FILENAME, erase_person, find_person
from appsrc.crm.validation import ValidationError
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import empty, error_alert, kpi, local, now, page_header, plural, runtime

dash.register_page(__name__, path="/people", name="People", order=55, title="People · IR Mail Desk")

# (count's name, one, many, card label)
COUNTED = (
    ("emails", "email", "emails", "Emails"),
    ("activities", "activity", "activities", "Activities"),
    ("proposals", "proposal", "proposals", "Proposals"),
    ("contacts", "contact record", "contact records", "Contact records"),
    ("bare_sightings", "bare sighting", "bare sightings", "Bare sightings"),
)


def _figures(counts: dict) -> str:
    return ", ".join(plural(counts[name], one, many) for name, one, many, _label in COUNTED)


def _erase_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Erase this person's data")),
            dbc.ModalBody(
                [
                    html.P(
                        "Their emails (in every mailbox), the approved activities and proposals of those emails, "
                        "their bare sightings and their address on contact records are deleted now. Capture will "
                        "not fetch these messages again. This cannot be undone; export first if they asked for a "
                        "copy."
                    ),
                    dbc.Label("Type the address again to confirm", html_for="people-erase-typed"),
                    dbc.Input(id="people-erase-typed", maxLength=320, autoComplete="off"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="people-erase-cancel", color="secondary", outline=True),
                    dbc.Button("Erase", id="people-erase", color="danger", disabled=True),
                ]
            ),
        ],
        id="people-erase-modal",
        is_open=False,
    )


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "People",
                "What this appliance stores about one person outside the fund: find it, export it, erase it.",
            ),
            dcc.Store(id="people-found", data=None),  # the address last found, as the CRM cleaned it
            dcc.Store(id="people-version", data=0),
            html.Div(id="people-message"),
            dbc.Card(
                dbc.CardBody(
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Email address", html_for="people-address"),
                                    dbc.Input(
                                        id="people-address",
                                        placeholder="jane.roe@acme.example",
                                        maxLength=320,
                                    ),
                                ],
                                md=6,
                            ),
                            dbc.Col(dbc.Button("Find", id="people-find", color="primary", className="mt-4"), md=2),
                            dbc.Col(
                                html.Div(
                                    [
                                        html.Div(id="people-export", className="d-inline-block"),
                                        dbc.Button(
                                            "Erase…",
                                            id="people-erase-open",
                                            color="danger",
                                            outline=True,
                                            disabled=True,
                                        ),
                                    ],
                                    className="d-flex gap-2 justify-content-end mt-4",
                                ),
                                md=4,
                            ),
                        ],
                        className="g-2",
                    )
                ),
                className="mb-3",
            ),
            html.Div(id="people-result"),
            _erase_dialog(),
        ]
    )


def _export_link(address: str) -> html.A:
    return html.A(
        "Export (zip)",
        href=f"/api/people/{quote(address, safe='@')}/export",
        download=EXPORT_FILENAME,
        className="btn btn-outline-primary",
        id="people-export-link",
    )


def _result(found: dict) -> html.Div:
    counts = found["counts"]
    cards = dbc.Row(
        [dbc.Col(kpi(label, f"{counts[name]:,}")) for name, _one, _many, label in COUNTED], className="g-2 mb-3"
    )
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(e["subject"] or "(no subject)", href=f"/email/{e['id']}")),
                html.Td(local(e["sent_at"]), className="small-muted text-nowrap"),
                html.Td(", ".join(e["mailboxes"]) or "—", className="mono small"),
            ]
        )
        for e in found["emails"]
    ]
    emails = (
        dbc.Table(
            [html.Thead(html.Tr([html.Th("Subject"), html.Th("Date"), html.Th("Mailboxes")])), html.Tbody(rows)],
            hover=True,
            className="mb-0",
            id="people-emails",
        )
        if rows
        else html.Div(empty("No stored email involves this address."), className="px-3")
    )
    contacts = [
        html.Li(
            f"{c['name'] or '(no name)'} · {c['investor_name']}" + (" (removed)" if c["deleted"] else ""),
        )
        for c in found["contacts"]
    ]
    return html.Div(
        [
            html.P(f"{found['address']}: {_figures(counts)}.", id="people-summary"),
            cards,
            html.Div([html.H5("On contact records"), html.Ul(contacts)]) if contacts else None,
            html.P(
                f"Showing the newest {len(found['emails']):,}; the export holds them all.",
                className="small-muted",
            )
            if found["truncated"]
            else None,
            dbc.Card(emails),
        ]
    )


@dash.callback(
    Output("people-result", "children"),
    Output("people-found", "data"),
    Output("people-export", "children"),
    Output("people-erase-open", "disabled"),
    Input("people-find", "n_clicks"),
    Input("people-address", "n_submit"),
    Input("people-version", "data"),
    State("people-address", "value"),
    State("people-found", "data"),
    prevent_initial_call=True,
)
def search(_find, _submit, _version, value, last_found):
    if ctx.triggered_id is None:
        raise dash.exceptions.PreventUpdate
    if ctx.triggered_id == "people-version" and last_found:
        value = last_found  # after an erasure: what is left of the address just erased
    if not (value or "").strip():
        return error_alert("Enter an email address."), None, None, True
    try:
        found = find_person(value, own_domains=runtime().own_domains())
    except ValidationError as exc:
        return error_alert(str(exc)), None, None, True
    return _result(found), found["address"], _export_link(found["address"]), False


@dash.callback(
    Output("people-erase", "disabled"),
    Input("people-erase-typed", "value"),
    Input("people-found", "data"),
)
def arm_erase(typed, found):
    """The button wakes up only when the address typed again is the one found."""
    return not found or (typed or "").strip().lower() != found


@dash.callback(
    Output("people-erase-modal", "is_open"),
    Output("people-erase-typed", "value"),
    Output("people-message", "children"),
    Output("people-version", "data"),
    Input("people-erase-open", "n_clicks"),
    Input("people-erase-cancel", "n_clicks"),
    Input("people-erase", "n_clicks"),
    State("people-erase-typed", "value"),
    State("people-found", "data"),
    State("people-version", "data"),
    prevent_initial_call=True,
)
def erase_dialog(_open, _cancel, _erase, typed, found, version):
    trigger = ctx.triggered_id
    actor = acting_admin()
    if trigger is None:
        raise dash.exceptions.PreventUpdate
    if trigger == "people-erase-open":
        return bool(found), "", dash.no_update, dash.no_update
    if trigger == "people-erase-cancel":
        return False, "", dash.no_update, dash.no_update
    if not found or (typed or "").strip().lower() != found:
        return True, dash.no_update, error_alert("Type the address exactly as found to erase it."), dash.no_update
    rt = runtime()
    try:
        erased = erase_person(
            found, now(), own_domains=rt.own_domains(), directory=rt.directory, confirm=True, actor=actor
        )
    except ValidationError as exc:
        return False, "", error_alert(str(exc)), dash.no_update
    scrubbed = erased.get("audit_entries", 0)
    verb = "names" if scrubbed == 1 else "name"
    named = f" {plural(scrubbed, 'audit entry', 'audit entries')} no longer {verb} them." if scrubbed else ""
    alert = dbc.Alert(
        f"Erased: {_figures(erased)}.{named}", color="success", dismissable=True, className="py-2", id="people-erased"
    )
    return False, "", alert, (version or 0) + 1
