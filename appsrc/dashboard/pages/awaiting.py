"""Awaiting reply: investors who wrote and have had no answer from the team for the policy's
business days, oldest wait first (the rule: `store/queries/awaiting.py`).

A teammate's reply takes a case off the list as soon as capture stores it. "Handled" closes a
case until the investor writes again; "Snooze" hides it until the chosen day. Both are listed
under "Handled and snoozed" with an Undo. The policy (business days, lookback) is edited here.
"""

from datetime import timedelta

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import awaiting as crm_awaiting
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import (
    empty,
    error_alert,
    investor_badges,
    local,
    now,
    ok_alert,
    page_header,
    plural,
    tz_name,
)
from appsrc.store import queries
from appsrc.store.queries import awaiting

dash.register_page(
    __name__, path="/awaiting-reply", name="Awaiting reply", order=25, title="Awaiting reply · IR Mail Desk"
)


def _default_snooze() -> str:
    """A week from today, local."""
    return (now().astimezone(_zone()) + timedelta(days=7)).date().isoformat()


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz_name())


def layout(**_kwargs):
    policy = awaiting.awaiting_policy()
    return html.Div(
        [
            page_header(
                "Awaiting reply",
                "Investors who wrote and have had no answer from the team for a while, oldest wait first. "
                "A teammate's reply takes a case off this list as soon as it is captured.",
            ),
            dcc.Store(id="awaiting-version", data=0),
            dcc.Interval(id="awaiting-refresh", interval=60_000),
            html.Div(id="awaiting-message"),
            dbc.Card(
                dbc.CardBody(
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Waiting for at least (business days)", html_for="awaiting-days"),
                                    dbc.Input(
                                        id="awaiting-days",
                                        type="number",
                                        min=awaiting.BUSINESS_DAYS_RANGE[0],
                                        max=awaiting.BUSINESS_DAYS_RANGE[1],
                                        step=1,
                                        value=policy["business_days"],
                                    ),
                                ],
                                md=3,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Looking back (calendar days)", html_for="awaiting-lookback"),
                                    dbc.Input(
                                        id="awaiting-lookback",
                                        type="number",
                                        min=awaiting.LOOKBACK_DAYS_RANGE[0],
                                        max=awaiting.LOOKBACK_DAYS_RANGE[1],
                                        step=1,
                                        value=policy["lookback_days"],
                                    ),
                                ],
                                md=3,
                            ),
                            dbc.Col(
                                dbc.Button("Save policy", id="awaiting-policy-save", color="secondary", outline=True),
                                md=2,
                                className="d-flex align-items-end",
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Snooze until", html_for="awaiting-snooze-until"),
                                    dbc.Input(id="awaiting-snooze-until", type="date", value=_default_snooze()),
                                ],
                                md=4,
                            ),
                        ],
                        className="g-2",
                    )
                ),
                className="mb-3",
            ),
            html.P(
                "Business days are Monday to Friday in the fund's time zone; mail older than the lookback is "
                "not listed. Bulk mail never waits; graveyard investors' mail waits like any other.",
                className="small-muted",
            ),
            dbc.Card(html.Div(id="awaiting-table", children=dbc.Spinner(color="primary")), className="mb-4"),
            html.H5("Handled and snoozed"),
            dbc.Card(html.Div(id="awaiting-marks")),
        ]
    )


def _table(result: dict):
    items = result["items"]
    if not items:
        return html.Div(empty("No investor is waiting on a reply."), className="px-3")
    rows = [
        html.Tr(
            [
                html.Td(investor_badges([i["investor"]] if i["investor"] else [])),
                html.Td([html.Div(i["contact_name"] or "—"), html.Div(i["contact_email"], className="small mono")]),
                html.Td(
                    [
                        dcc.Link(i["subject"] or "(no subject)", href=f"/email/{i['email_id']}"),
                        html.Div(plural(i["open_messages"], "message") + " unanswered", className="small-muted")
                        if i["open_messages"] > 1
                        else None,
                    ]
                ),
                html.Td(local(i["waiting_since"]), className="small-muted text-nowrap"),
                html.Td(str(i["business_days"]), className="text-end awaiting-days"),
                html.Td(
                    html.A("Open in Gmail", href=i["gmail_url"], target="_blank", rel="noopener noreferrer")
                    if i["gmail_url"]
                    else "—"
                ),
                html.Td(
                    html.Div(
                        [
                            dbc.Button(
                                "Handled",
                                id={"type": "awaiting-handled", "id": i["email_id"]},
                                size="sm",
                                color="success",
                                outline=True,
                                className="awaiting-handled",
                            ),
                            dbc.Button(
                                "Snooze",
                                id={"type": "awaiting-snooze", "id": i["email_id"]},
                                size="sm",
                                color="secondary",
                                outline=True,
                                className="awaiting-snooze",
                            ),
                        ],
                        className="d-flex gap-1 justify-content-end",
                    )
                ),
            ],
            id=f"awaiting-row-{i['email_id']}",
        )
        for i in items
    ]
    head = html.Thead(
        html.Tr(
            [
                html.Th("Investor"),
                html.Th("Contact"),
                html.Th("Subject"),
                html.Th("Waiting since"),
                html.Th("Business days", className="text-end"),
                html.Th(""),
                html.Th(""),
            ]
        )
    )
    more = (
        html.Div(f"Showing the {len(items)} longest waits of {result['total']:,}.", className="small-muted px-3 pb-2")
        if result["truncated"]
        else None
    )
    return html.Div([dbc.Table([head, html.Tbody(rows)], hover=True, className="mb-0", id="awaiting-list"), more])


def _marks(marks: list[dict]):
    if not marks:
        return html.Div(empty("Nothing is marked handled or snoozed."), className="px-3")
    rows = [
        html.Tr(
            [
                html.Td(
                    dcc.Link(m["subject"] or "(no subject)", href=f"/email/{m['email_id']}")
                    if m["email_id"]
                    else m["subject"] or "—"
                ),
                html.Td(m["contact_email"] or "—", className="small mono"),
                html.Td(
                    [
                        "handled"
                        if m["state"] == "handled"
                        else f"snoozed until {local(m['snoozed_until'], '%d %b %Y')}",
                        html.Span(" · they wrote again", className="small-muted awaiting-reopened")
                        if m["reopened"]
                        else None,
                    ]
                ),
                html.Td(f"{m['marked_by'] or '—'} · {local(m['marked_at'], '%d %b %Y')}", className="small-muted"),
                html.Td(
                    dbc.Button(
                        "Undo",
                        id={"type": "awaiting-undo", "id": m["email_id"]},
                        size="sm",
                        color="secondary",
                        outline=True,
                    )
                    if m["email_id"]
                    else None,
                    className="text-end",
                ),
            ]
        )
        for m in marks
    ]
    return dbc.Table(html.Tbody(rows), size="sm", hover=True, className="mb-0", id="awaiting-marks-list")


@dash.callback(
    Output("awaiting-table", "children"),
    Output("awaiting-marks", "children"),
    Input("awaiting-version", "data"),
    Input("awaiting-refresh", "n_intervals"),
)
def render(_version, _n):
    moment = now()
    return _table(awaiting.awaiting_cases(moment, tz_name())), _marks(awaiting.awaiting_marks(moment))


@dash.callback(
    Output("awaiting-version", "data"),
    Output("awaiting-message", "children"),
    Input("awaiting-policy-save", "n_clicks"),
    Input({"type": "awaiting-handled", "id": ALL}, "n_clicks"),
    Input({"type": "awaiting-snooze", "id": ALL}, "n_clicks"),
    Input({"type": "awaiting-undo", "id": ALL}, "n_clicks"),
    State("awaiting-days", "value"),
    State("awaiting-lookback", "value"),
    State("awaiting-snooze-until", "value"),
    State("awaiting-version", "data"),
    prevent_initial_call=True,
)
def act(_save, handled_clicks, snooze_clicks, undo_clicks, days, lookback, until, version):
    """Handled, Snooze, Undo or the policy; who acts comes from the session."""
    trigger = ctx.triggered_id
    actor = acting_admin()
    if trigger is None:
        raise dash.exceptions.PreventUpdate
    moment, zone = now(), tz_name()
    try:
        if trigger == "awaiting-policy-save":
            policy = crm_awaiting.update_policy(
                {"business_days": _number(days), "lookback_days": _number(lookback)},
                moment,
                actor=actor,
            )
            message = (
                f"Saved: cases are listed after {plural(policy['business_days'], 'business day')}, "
                f"looking back {policy['lookback_days']} days."
            )
        else:
            clicks = {
                "awaiting-handled": handled_clicks,
                "awaiting-snooze": snooze_clicks,
                "awaiting-undo": undo_clicks,
            }
            if not isinstance(trigger, dict) or not any(clicks.get(trigger.get("type")) or []):
                raise dash.exceptions.PreventUpdate
            email_id = parse_id(trigger.get("id"), field="email_id")
            if trigger["type"] == "awaiting-handled":
                crm_awaiting.mark_handled(email_id, moment, zone, actor=actor)
                message = "Marked handled: it comes back if the investor writes again (Undo below)."
            elif trigger["type"] == "awaiting-snooze":
                done = crm_awaiting.snooze(email_id, until, moment, zone, actor=actor)
                message = f"Snoozed until {done['until']}: it comes back then if still unanswered (Undo below)."
            else:
                crm_awaiting.clear_mark(email_id, moment, actor=actor)
                message = "Undone: the case is back if it is still waiting."
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    except crm_awaiting.NotWaiting as exc:
        return (version or 0) + 1, error_alert(f"{exc} (the list was out of date; it is refreshed).")
    queries.clear_cache()
    return (version or 0) + 1, ok_alert(message)


def _number(value):
    """A whole number from a number input (which sends floats such as 2.0); anything else goes to
    the policy's own validation, which names the field."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
