"""Users: team members and admins. Add, make admin, deactivate, reset a password; API tokens;
the audit log. Every change is audited. The last active admin cannot be demoted or deactivated."""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm.users import add_user, reset_password, revoke_token, update_user
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import empty, error_alert, local, now, ok_alert, page_header, runtime
from appsrc.store import queries

dash.register_page(__name__, path="/users", name="Users", order=70, title="Users · IR Mail Desk")


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Users",
                "Every team member's mailbox is captured; admins also use this dashboard and get the daily digest.",
            ),
            dcc.Store(id="users-version", data=0),
            html.Div(id="users-message"),
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H5("Add a team member"),
                        dbc.Row(
                            [
                                dbc.Col(
                                    dbc.Input(
                                        id="users-new-email",
                                        type="email",
                                        placeholder="name@fund.example",
                                        maxLength=320,
                                    ),
                                    md=3,
                                ),
                                dbc.Col(dbc.Input(id="users-new-name", placeholder="Name", maxLength=200), md=3),
                                dbc.Col(
                                    dbc.Input(
                                        id="users-new-password",
                                        type="password",
                                        placeholder="Password (admins; ≥ 10)",
                                        autoComplete="new-password",
                                    ),
                                    md=3,
                                ),
                                dbc.Col(
                                    dbc.Switch(id="users-new-admin", label="Admin", value=False), md=1, className="pt-2"
                                ),
                                dbc.Col(dbc.Button("Add", id="users-add", color="primary"), md=2),
                            ],
                            className="g-2",
                        ),
                    ]
                ),
                className="mb-3",
            ),
            dbc.Card(
                [dbc.CardHeader("Team"), html.Div(id="users-table", children=dbc.Spinner(color="primary"))],
                className="mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("API tokens (made with `python -m appsrc users token EMAIL`)"),
                    html.Div(id="users-tokens"),
                ],
                className="mb-3",
            ),
            dbc.Card([dbc.CardHeader("Audit log"), html.Div(id="users-audit")]),
        ]
    )


@dash.callback(
    Output("users-table", "children"),
    Output("users-tokens", "children"),
    Output("users-audit", "children"),
    Input("users-version", "data"),
)
def render(_version):
    users = queries.list_users()
    rows = []
    for u in users:
        uid = u["id"]
        actions = html.Div(
            [
                dbc.Button(
                    "Remove admin" if u["is_admin"] else "Make admin",
                    size="sm",
                    color="secondary",
                    outline=True,
                    id={"type": "users-admin", "id": uid},
                    className="me-1",
                ),
                dbc.Button(
                    "Reactivate" if not u["is_active"] else "Deactivate",
                    size="sm",
                    color="success" if not u["is_active"] else "warning",
                    outline=True,
                    id={"type": "users-active", "id": uid},
                    className="me-1",
                ),
                dbc.Button(
                    "Reset password", size="sm", color="secondary", outline=True, id={"type": "users-reset", "id": uid}
                ),
            ],
            className="text-end text-nowrap",
        )
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Div(u["name"] or "—", className="fw-semibold"),
                            html.Div(u["email"], className="small-muted"),
                        ]
                    ),
                    html.Td(
                        [
                            dbc.Badge("admin", color="primary", className="me-1")
                            if u["is_admin"]
                            else dbc.Badge("member", color="light", text_color="dark", className="me-1 border"),
                            dbc.Badge("inactive", color="secondary") if not u["is_active"] else None,
                        ]
                    ),
                    html.Td("set" if u["has_password"] else "none", className="small"),
                    html.Td(actions),
                ]
            )
        )
    team = (
        dbc.Table(
            [
                html.Thead(html.Tr([html.Th("Member"), html.Th("Role"), html.Th("Password"), html.Th("")])),
                html.Tbody(rows),
            ],
            hover=True,
            responsive=True,
            className="mb-0",
            id="users-list",
        )
        if rows
        else html.Div(empty("No users."), className="px-3")
    )
    tokens = queries.list_tokens()
    token_table = (
        dbc.Table(
            [
                html.Thead(
                    html.Tr([html.Th("User"), html.Th("Label"), html.Th("Created"), html.Th("Last used"), html.Th("")])
                ),
                html.Tbody(
                    [
                        html.Tr(
                            [
                                html.Td(t["user_email"]),
                                html.Td(t["label"]),
                                html.Td(local(t["created_at"])),
                                html.Td(local(t["last_used_at"])),
                                html.Td(
                                    dbc.Button(
                                        "Revoke",
                                        size="sm",
                                        color="danger",
                                        outline=True,
                                        id={"type": "users-revoke", "id": t["id"]},
                                    ),
                                    className="text-end",
                                ),
                            ]
                        )
                        for t in tokens
                    ]
                ),
            ],
            size="sm",
            className="mb-0",
        )
        if tokens
        else html.Div(empty("No active tokens."), className="px-3")
    )
    events = queries.audit_log(limit=50)["items"]
    audit = (
        dbc.Table(
            [
                html.Thead(html.Tr([html.Th("When"), html.Th("Who"), html.Th("What"), html.Th("Target")])),
                html.Tbody(
                    [
                        html.Tr(
                            [
                                html.Td(local(e["at"]), className="text-nowrap small"),
                                html.Td(e["actor"], className="small"),
                                html.Td(e["action"], className="mono"),
                                html.Td(f"{e['target_type']} {e['target_id']}".strip(), className="small"),
                            ]
                        )
                        for e in events
                    ]
                ),
            ],
            size="sm",
            responsive=True,
            className="mb-0",
            id="users-audit-table",
        )
        if events
        else html.Div(empty("Nothing yet."), className="px-3")
    )
    return team, token_table, audit


@dash.callback(
    Output("users-version", "data"),
    Output("users-message", "children"),
    Output("users-new-password", "value"),
    Input("users-add", "n_clicks"),
    Input({"type": "users-admin", "id": ALL}, "n_clicks"),
    Input({"type": "users-active", "id": ALL}, "n_clicks"),
    Input({"type": "users-reset", "id": ALL}, "n_clicks"),
    Input({"type": "users-revoke", "id": ALL}, "n_clicks"),
    State("users-new-email", "value"),
    State("users-new-name", "value"),
    State("users-new-password", "value"),
    State("users-new-admin", "value"),
    State("users-version", "data"),
    prevent_initial_call=True,
)
def change(_add, admin_clicks, active_clicks, reset_clicks, revoke_clicks, email, name, password, make_admin, version):
    trigger = ctx.triggered_id
    actor = acting_admin()
    if trigger is None:
        raise dash.exceptions.PreventUpdate
    if isinstance(trigger, dict) and not any(
        (admin_clicks or []) + (active_clicks or []) + (reset_clicks or []) + (revoke_clicks or [])
    ):
        raise dash.exceptions.PreventUpdate
    message = None
    try:
        if trigger == "users-add":
            if make_admin and not password:
                raise ValidationError("an admin needs a password to sign in", field="password")
            user = add_user(
                email or "",
                name or "",
                now(),
                is_admin=bool(make_admin),
                password=password or None,
                actor=actor,
                own_domains=runtime().own_domains(),
            )
            message = ok_alert(f"Added {user.email}; their mailbox will be captured from the next sync.")
        elif trigger["type"] == "users-admin":
            target = _user(trigger["id"])
            user = update_user(
                target["id"],
                now(),
                is_admin=not target["is_admin"],
                actor=actor,
                own_domains=runtime().own_domains(),
            )
            message = ok_alert(f"{user.email} is {'now an admin' if user.is_admin else 'no longer an admin'}.")
        elif trigger["type"] == "users-active":
            target = _user(trigger["id"])
            if target["id"] == actor.id and target["is_active"]:
                raise ValidationError("you cannot deactivate yourself", field="user_id")
            user = update_user(target["id"], now(), is_active=not target["is_active"], actor=actor)
            message = ok_alert(
                f"{user.email} is {'active' if user.is_active else 'deactivated (signed out everywhere)'}."
            )
        elif trigger["type"] == "users-reset":
            user, new_password = reset_password(parse_id(trigger["id"], field="user_id"), now(), actor=actor)
            message = dbc.Alert(
                [
                    f"New password for {user.email} (shown once; they are signed out everywhere): ",
                    html.Code(new_password, id="users-new-password-shown"),
                ],
                color="info",
                dismissable=True,
            )
        elif trigger["type"] == "users-revoke":
            revoke_token(parse_id(trigger["id"], field="token_id"), now(), actor=actor)
            message = ok_alert("Token revoked.")
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc)), dash.no_update
    return (version or 0) + 1, message, ""


def _user(user_id) -> dict:
    user_id = parse_id(user_id, field="user_id")
    for u in queries.list_users():
        if u["id"] == user_id:
            return u
    raise ValidationError("no such user", field="user_id")
