"""Mailboxes: per team mailbox, sync state, backfill progress, counters, the last error with its
fix, and "Sync now" (which asks the worker; it never syncs inside the web request)."""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, ctx, dcc, html

from appsrc.crm.mailboxes import request_sync
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.cards import mailbox_card
from appsrc.dashboard.components import empty, error_alert, now, ok_alert, page_header
from appsrc.store import queries

dash.register_page(__name__, path="/mailboxes", name="Mailboxes", order=60, title="Mailboxes · IR Mail Desk")


def layout(**_kwargs):
    return html.Div(
        [
            page_header("Mailboxes", "Capture health of every team mailbox. Refreshes every 5 seconds."),
            html.Div(id="mailboxes-message"),
            dcc.Interval(id="mailboxes-refresh", interval=5_000),
            html.Div(id="mailboxes-cards", children=dbc.Spinner(color="primary")),
        ]
    )


@dash.callback(
    Output("mailboxes-cards", "children"),
    Output("mailboxes-message", "children"),
    Input("mailboxes-refresh", "n_intervals"),
    Input({"type": "mailboxes-sync", "id": ALL}, "n_clicks"),
)
def render(_n, clicks):
    message = None
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "mailboxes-sync" and any(clicks or []):
        try:
            account = request_sync(parse_id(trigger["id"], field="account_id"), now(), actor=acting_admin())
            message = ok_alert(f"Sync requested for {account.address}: the worker starts it within seconds.")
        except ValidationError as exc:
            message = error_alert(str(exc))
    mailboxes = queries.list_mailboxes()
    if not mailboxes:
        return empty(
            "No mailboxes yet: add team members on the Users page or with `python -m appsrc users add`."
        ), message
    cards = [
        dbc.Col(mailbox_card(m, allow_sync=True, button_id={"type": "mailboxes-sync", "id": m["id"]}), xl=4, lg=6)
        for m in mailboxes
    ]
    return dbc.Row(cards, className="g-3"), message if message is not None else dash.no_update
