"""Overview: the admins' figures at a glance; for a team member, their own mailbox's health.

The only page a team member (non-admin) may use: the dashboard itself is for admins, but every
teammate's mailbox is captured, so they can see that theirs is syncing and fix what it needs,
and keep private correspondents out of capture ("Kept out of capture", for admins too: their
mailboxes are captured like everyone's). That section sits outside the refreshed content, so
the refresh never wipes what someone is typing; its callback acts only for the signed-in user.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import member_exclusions
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import current_user, member_callback
from appsrc.dashboard.cards import mailbox_card
from appsrc.dashboard.components import (
    empty,
    error_alert,
    kpi,
    local,
    now,
    ok_alert,
    page_header,
    plural,
    runtime,
    tz_name,
)
from appsrc.store import queries
from appsrc.store.queries.awaiting import awaiting_summary

dash.register_page(__name__, path="/", name="Overview", order=0, access="member", title="IR Mail Desk")


def layout(**_kwargs):
    return html.Div(
        [
            dcc.Interval(id="home-refresh", interval=15_000),
            html.Div(id="home-content", children=dbc.Spinner(color="primary")),
            kept_out_section(current_user()),
        ]
    )


@dash.callback(Output("home-content", "children"), Input("home-refresh", "n_intervals"))
@member_callback
def render(_n):
    user = current_user()
    if user is None:
        return empty("Signed out.")
    if not user.is_admin:
        return member_view(user)
    return admin_view()


def member_view(user):
    mailboxes = queries.mailboxes_of_user(user.id)
    return html.Div(
        [
            page_header(
                f"Hello {user.name or user.email}",
                "Your mailbox is captured for the fund's investor-relations CRM. The dashboard itself "
                "is for admins; here is how your mailbox's capture is doing.",
            ),
            dbc.Row([dbc.Col(mailbox_card(m, allow_sync=False), lg=6) for m in mailboxes])
            if mailboxes
            else empty("No mailbox is registered for you yet."),
        ]
    )


def admin_view():
    o = queries.overview()
    waiting = awaiting_summary(now(), tz_name())
    errors = o["mailboxes_in_error"]
    cards = [
        (
            "/approvals",
            kpi(
                "Pending approvals",
                f"{o['pending_proposals']:,}",
                "home-kpi-pending",
                "text-warning" if o["pending_proposals"] else "",
            ),
        ),
        ("/awaiting-reply", _waiting_card(waiting)),
        ("/activity", kpi("Captured emails", f"{o['emails']:,}", "home-kpi-emails")),
        ("/investors", kpi("Active investors", f"{o['investors']:,}", "home-kpi-investors")),
        (
            "/mailboxes",
            kpi(
                "Mailboxes in error",
                f"{len(errors)} / {o['mailboxes']}",
                "home-kpi-errors",
                "text-danger" if errors else "text-success",
            ),
        ),
    ]
    return html.Div(
        [
            page_header("Overview", "Captured investor mail, approvals waiting for you and mailbox health."),
            dbc.Row(
                [
                    dbc.Col(dcc.Link(card, href=href, className="text-decoration-none"), md=4, lg=True)
                    for href, card in cards
                ],
                className="g-3 mb-4",
            ),
            dbc.Row(
                [
                    dbc.Col(dbc.Card([dbc.CardHeader("What needs you"), dbc.CardBody(_todo(o, waiting))]), lg=6),
                    dbc.Col(dbc.Card([dbc.CardHeader("Recent decisions"), dbc.CardBody(_recent())]), lg=6),
                ],
                className="g-3",
            ),
        ]
    )


def _waiting_line(waiting: dict) -> str:
    """ "Waiting on us: 3 LPs" (the conversations too when there are more of them)."""
    line = f"Waiting on us: {plural(waiting['lps'], 'LP')}"
    if waiting["cases"] > waiting["lps"]:
        line += f" ({plural(waiting['cases'], 'conversation')})"
    return line


def _waiting_card(waiting: dict) -> dbc.Card:
    return kpi(
        "Waiting on us",
        plural(waiting["lps"], "LP"),
        "home-kpi-waiting",
        "text-warning" if waiting["lps"] else "text-success",
    )


def _todo(o, waiting):
    items = []
    if waiting["lps"]:
        items.append(html.Li([dcc.Link(_waiting_line(waiting), href="/awaiting-reply"), "."], id="home-waiting"))
    if o["pending_proposals"]:
        items.append(
            html.Li(
                [
                    dcc.Link(
                        plural(o["pending_proposals"], "proposed activity", "proposed activities"), href="/approvals"
                    ),
                    " waiting for approval.",
                ]
            )
        )
    for m in o["mailboxes_in_error"]:
        items.append(
            html.Li(
                [
                    html.Strong(m["address"]),
                    f": {m['last_error']}",
                    html.Div(m["last_error_fix"] or "", className="small-muted"),
                ]
            )
        )
    if o["mailboxes_backfilling"]:
        items.append(
            html.Li(
                [
                    plural(o["mailboxes_backfilling"], "mailbox", "mailboxes"),
                    " still backfilling: ",
                    dcc.Link("see progress", href="/mailboxes"),
                    ".",
                ]
            )
        )
    return (
        html.Ul(items, className="mb-0")
        if items
        else empty("Nothing: every mailbox is syncing and the queue is empty.")
    )


def _recent():
    events = queries.audit_log(limit=8, action_prefix="proposal.")["items"]
    if not events:
        return empty("No approvals or rejections yet.")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(local(e["at"]), className="small-muted me-2"),
                    e["actor"],
                    " ",
                    "approved" if e["action"].endswith("approve") else "rejected",
                    " proposal #",
                    e["target_id"],
                ]
            )
            for e in events
        ],
        className="list-unstyled mb-0",
    )


# -- "Kept out of capture": the signed-in user's own exclusions ------------------------------------
def kept_out_section(user) -> dbc.Card:
    """The user's own exclusions (none while Dash validates the layout, with nobody signed in)."""
    return dbc.Card(
        [
            dbc.CardHeader("Kept out of capture"),
            dbc.CardBody(
                [
                    html.P(
                        "Mail with these addresses or domains (your spouse, your doctor) is never captured from "
                        "your mailbox, what was already captured from it is removed when you add one, and only "
                        "you see this list."
                    ),
                    dbc.InputGroup(
                        [
                            dbc.Input(
                                id="home-kept-out-value",
                                placeholder="name@example.com or example.com",
                                maxLength=320,
                                autocomplete="off",
                            ),
                            dbc.Button("Add", id="home-kept-out-add", color="primary"),
                        ],
                        className="mb-2",
                    ),
                    html.Div(
                        "A copy a colleague received in their own mailbox is theirs and stays. Investors' domains "
                        "and contacts cannot be kept out this way: ask an admin. Removing an entry applies to mail "
                        "arriving from then on.",
                        className="small-muted mb-2",
                    ),
                    html.Div(id="home-kept-out-message"),
                    html.Div(
                        _kept_out_list(member_exclusions.list_for(user) if user is not None else []),
                        id="home-kept-out-list",
                    ),
                ]
            ),
        ],
        className="mt-4",
        id="home-kept-out",
    )


def _kept_out_list(rows: list[dict]):
    if not rows:
        return empty("Nothing is kept out of capture from your mailbox.")
    return dbc.Table(
        html.Tbody(
            [
                html.Tr(
                    [
                        html.Td(r["value"], className="mono"),
                        html.Td(r["kind"], className="small-muted"),
                        html.Td(f"added {local(r['created_at'], '%d %b %Y')}", className="small-muted"),
                        html.Td(
                            dbc.Button(
                                "Remove",
                                id={"type": "home-kept-out-remove", "id": r["id"]},
                                size="sm",
                                color="secondary",
                                outline=True,
                            ),
                            className="text-end",
                        ),
                    ]
                )
                for r in rows
            ]
        ),
        size="sm",
        hover=True,
        className="mb-0",
        id="home-kept-out-table",
    )


@dash.callback(
    Output("home-kept-out-list", "children"),
    Output("home-kept-out-message", "children"),
    Output("home-kept-out-value", "value"),
    Output("home-refresh", "n_intervals"),
    Input("home-kept-out-add", "n_clicks"),
    Input("home-kept-out-value", "n_submit"),
    Input({"type": "home-kept-out-remove", "id": ALL}, "n_clicks"),
    State("home-kept-out-value", "value"),
    State("home-refresh", "n_intervals"),
    prevent_initial_call=True,
)
@member_callback
def kept_out(_add, _submit, remove_clicks, value, refreshes):
    """Add or remove one of the signed-in user's own exclusions; whose list it is comes from the
    session, never from the browser. The mailbox card above is refreshed at once (its counts)."""
    user = current_user()
    trigger = ctx.triggered_id
    if user is None or trigger is None:
        raise dash.exceptions.PreventUpdate
    keep = dash.no_update
    try:
        if isinstance(trigger, dict):
            if not any(remove_clicks or []):
                raise dash.exceptions.PreventUpdate
            exclusion_id = parse_id(trigger.get("id"), field="id")
            removed = next((r["value"] for r in member_exclusions.list_for(user) if r["id"] == exclusion_id), None)
            member_exclusions.remove(user, exclusion_id, now())
            message, cleared = f"{removed} is no longer kept out: mail arriving from now on is captured again.", keep
        else:
            exclusion, counts = member_exclusions.add(user, value or "", now(), directory=runtime().directory)
            message, cleared = _kept_out_added(exclusion.value, counts), ""
    except ValidationError as exc:
        return keep, error_alert(str(exc)), keep, keep
    queries.clear_cache()
    return _kept_out_list(member_exclusions.list_for(user)), ok_alert(message), cleared, (refreshes or 0) + 1


def _kept_out_added(value: str, counts: dict) -> str:
    removed = []
    if counts["sightings_removed"]:
        removed.append(plural(counts["sightings_removed"], "captured email"))
    if counts["bare_removed"]:
        removed.append(f"{plural(counts['bare_removed'], 'email')} kept without content")
    done = f"Removed from your mailbox: {' and '.join(removed)}." if removed else "Nothing had been captured with it."
    return f"{value} is kept out of capture from now on. {done}"
