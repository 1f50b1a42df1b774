"""Exclusions: addresses and domains whose mail is never captured (privacy).

Adding one also purges the mail already captured that involves it (see `crm.exclusions`)."""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm.exclusions import add_exclusion, list_exclusions, remove_exclusion
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import empty, error_alert, local, now, ok_alert, page_header, runtime
from appsrc.store import queries

dash.register_page(__name__, path="/exclusions", name="Exclusions", order=50, title="Exclusions · IR Mail Desk")


def layout(**_kwargs):
    return html.Div(
        [
            page_header("Exclusions", "Addresses and domains whose mail this appliance never keeps."),
            dcc.Store(id="exclusions-version", data=0),
            html.Div(id="exclusions-message"),
            dbc.Card(
                dbc.CardBody(
                    [
                        dbc.Row(
                            [
                                dbc.Col(
                                    [
                                        dbc.Label("Address or domain"),
                                        dbc.Input(
                                            id="exclusions-value",
                                            placeholder="doctor@clinic.example or family.example",
                                            maxLength=320,
                                        ),
                                    ],
                                    md=5,
                                ),
                                dbc.Col(
                                    [dbc.Label("Why (optional)"), dbc.Input(id="exclusions-reason", maxLength=500)],
                                    md=5,
                                ),
                                dbc.Col(
                                    dcc.ConfirmDialogProvider(
                                        dbc.Button("Exclude", color="danger", className="mt-4"),
                                        id="exclusions-add",
                                        message="Exclude it? Mail already captured that involves it is deleted "
                                        "from this appliance now, "
                                        "and new mail involving it is never stored.",
                                    ),
                                    md=2,
                                ),
                            ],
                            className="g-2",
                        ),
                        html.P(
                            "Excluding deletes the captured emails involving the address or domain (their "
                            "investor links, "
                            "proposals and drafts go with them; activities already approved stay on the contact's "
                            "record). "
                            "Removing an exclusion applies to new mail; a full resync brings the older mail back.",
                            className="small-muted mt-2 mb-0",
                        ),
                    ]
                ),
                className="mb-3",
            ),
            dbc.Card(html.Div(id="exclusions-table", children=dbc.Spinner(color="primary"))),
        ]
    )


@dash.callback(Output("exclusions-table", "children"), Input("exclusions-version", "data"))
def table(_version):
    rows = list_exclusions()
    if not rows:
        return html.Div(empty("Nothing is excluded."), className="px-3")
    body = [
        html.Tr(
            [
                html.Td(r["value"], className="mono"),
                html.Td(r["kind"]),
                html.Td(r["reason"] or "—"),
                html.Td(f"{r['created_by'] or '—'} · {local(r['created_at'], '%d %b %Y')}", className="small-muted"),
                html.Td(
                    dbc.Button(
                        "Remove",
                        size="sm",
                        color="secondary",
                        outline=True,
                        id={"type": "exclusions-remove", "id": r["id"]},
                    ),
                    className="text-end",
                ),
            ]
        )
        for r in rows
    ]
    head = html.Thead(html.Tr([html.Th("Excluded"), html.Th("Kind"), html.Th("Why"), html.Th("Added"), html.Th("")]))
    return dbc.Table([head, html.Tbody(body)], hover=True, className="mb-0", id="exclusions-list")


@dash.callback(
    Output("exclusions-version", "data"),
    Output("exclusions-message", "children"),
    Output("exclusions-value", "value"),
    Input("exclusions-add", "submit_n_clicks"),
    Input({"type": "exclusions-remove", "id": ALL}, "n_clicks"),
    State("exclusions-value", "value"),
    State("exclusions-reason", "value"),
    State("exclusions-version", "data"),
    prevent_initial_call=True,
)
def change(_submit, remove_clicks, value, reason, version):
    trigger = ctx.triggered_id
    actor = acting_admin()
    rt = runtime()
    if trigger is None:
        raise dash.exceptions.PreventUpdate
    try:
        if isinstance(trigger, dict):
            if not any(remove_clicks or []):
                raise dash.exceptions.PreventUpdate
            removed = remove_exclusion(parse_id(trigger["id"], field="id"), now(), actor=actor)
            return (version or 0) + 1, ok_alert(f"{removed} is no longer excluded (new mail only)."), dash.no_update
        exclusion, purged = add_exclusion(
            value or "", now(), reason=reason or "", actor=actor, own_domains=frozenset(rt.own_domains())
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc)), dash.no_update
    queries.clear_cache()
    return ((version or 0) + 1, ok_alert(f"Excluded {exclusion.value}: {purged:,} captured email(s) deleted."), "")
