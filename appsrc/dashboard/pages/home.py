"""Overview: the admins' figures at a glance; for a team member, their own mailbox's health.

The only page a team member (non-admin) may use: the dashboard itself is for admins, but every
teammate's mailbox is captured, so they can see that theirs is syncing and fix what it needs.
"""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from appsrc.dashboard.access import current_user, member_callback
from appsrc.dashboard.cards import mailbox_card
from appsrc.dashboard.components import empty, kpi, local, page_header, plural
from appsrc.store import queries

dash.register_page(__name__, path="/", name="Overview", order=0, access="member", title="IR Mail Desk")


def layout(**_kwargs):
    return html.Div(
        [
            dcc.Interval(id="home-refresh", interval=15_000),
            html.Div(id="home-content", children=dbc.Spinner(color="primary")),
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
    errors = o["mailboxes_in_error"]
    return html.Div(
        [
            page_header("Overview", "Captured investor mail, approvals waiting for you and mailbox health."),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Link(
                            kpi(
                                "Pending approvals",
                                f"{o['pending_proposals']:,}",
                                "home-kpi-pending",
                                "text-warning" if o["pending_proposals"] else "",
                            ),
                            href="/approvals",
                            className="text-decoration-none",
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dcc.Link(
                            kpi("Captured emails", f"{o['emails']:,}", "home-kpi-emails"),
                            href="/activity",
                            className="text-decoration-none",
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dcc.Link(
                            kpi("Active investors", f"{o['investors']:,}", "home-kpi-investors"),
                            href="/investors",
                            className="text-decoration-none",
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dcc.Link(
                            kpi(
                                "Mailboxes in error",
                                f"{len(errors)} / {o['mailboxes']}",
                                "home-kpi-errors",
                                "text-danger" if errors else "text-success",
                            ),
                            href="/mailboxes",
                            className="text-decoration-none",
                        ),
                        md=3,
                    ),
                ],
                className="g-3 mb-4",
            ),
            dbc.Row(
                [
                    dbc.Col(dbc.Card([dbc.CardHeader("What needs you"), dbc.CardBody(_todo(o))]), lg=6),
                    dbc.Col(dbc.Card([dbc.CardHeader("Recent decisions"), dbc.CardBody(_recent())]), lg=6),
                ],
                className="g-3",
            ),
        ]
    )


def _todo(o):
    items = []
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
