"""One email: headers, body, which mailboxes hold it (live or deleted), investor links, its
proposals (decided here too), the activities approved from it and the drafts made for it.

Actions on the email live in `email_actions()`: the reply-draft feature adds its "Draft reply"
button there (and its callback in this module), beside the drafts already listed.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import proposals as crm_proposals
from appsrc.crm.investors import rematch
from appsrc.crm.validation import ValidationError
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import (
    direction_badge,
    empty,
    error_alert,
    local,
    not_found,
    now,
    ok_alert,
    runtime,
    status_badge,
)
from appsrc.store import queries

dash.register_page(__name__, path_template="/email/<email_id>", name="Email", nav=False,
                   title="Email · IR Mail Desk")


def layout(email_id=None, **_kwargs):
    return html.Div([
        dcc.Store(id="email-id", data=str(email_id or "")),
        dcc.Store(id="email-version", data=0),
        html.Div(id="email-message"),
        html.Div(id="email-content", children=dbc.Spinner(color="primary")),
    ])


def _people(people: list[dict]) -> str:
    return ", ".join(f"{p.get('name')} <{p.get('email')}>" if p.get("name") else str(p.get("email", ""))
                     for p in people) or "—"


def email_actions(detail: dict) -> list:
    """Buttons acting on this email. The reply-draft feature adds "Draft reply" here."""
    return [
        dcc.Link(dbc.Button("Back to activity", color="secondary", outline=True, size="sm"), href="/activity"),
    ]


@dash.callback(Output("email-content", "children"), Input("email-id", "data"), Input("email-version", "data"))
def render(email_id, _version):
    try:
        detail = queries.email_detail(int(email_id))
    except (TypeError, ValueError):
        detail = None
    if detail is None:
        return not_found("This email")
    sender = f"{detail['from_name']} <{detail['from_email']}>" if detail["from_name"] else detail["from_email"]
    headers = dbc.Table(html.Tbody([
        html.Tr([html.Th("From", className="w-25"), html.Td(sender or "—")]),
        html.Tr([html.Th("To"), html.Td(_people(detail["to"]))]),
        html.Tr([html.Th("Cc"), html.Td(_people(detail["cc"]))]),
        html.Tr([html.Th("Reply-To"), html.Td(_people(detail["reply_to"]))]) if detail["reply_to"] else None,
        html.Tr([html.Th("Date"), html.Td(f"{local(detail['sent_at'], '%A %d %B %Y %H:%M')} "
                                          f"({runtime().settings.timezone})")]),
        html.Tr([html.Th("Message-ID"), html.Td(detail["message_id"] or "(none)", className="mono")]),
        html.Tr([html.Th("Attachments"), html.Td(", ".join(
            f"{a.get('filename') or '(unnamed)'} ({a.get('content_type')}, {int(a.get('size') or 0):,} bytes)"
            for a in detail["attachments"]))]) if detail["attachments"] else None,
    ]), size="sm", borderless=True, className="mb-0")
    body = html.Div([
        html.Div(detail["body_text"] or detail["snippet"] or "(empty body)", className="email-body", id="email-body"),
        html.Div("The body was truncated when it was captured.", className="small-muted mt-1")
        if detail["body_truncated"] else None,
    ])
    title = html.Div([
        html.H3(detail["subject"] or "(no subject)", className="page-title", id="email-subject"),
        html.Div([direction_badge(detail["direction"]),
                  dbc.Badge("bulk: " + (detail["bulk_reason"] or "yes"), color="secondary", className="me-1")
                  if detail["is_bulk"] else None,
                  dbc.Badge("deleted in every mailbox", color="danger") if not detail["live"] else None],
                 className="mb-2"),
    ])
    return dbc.Row([
        dbc.Col([
            html.Div([title, html.Div(email_actions(detail), className="d-flex gap-2", id="email-actions")],
                     className="d-flex justify-content-between align-items-start flex-wrap"),
            dbc.Card([dbc.CardBody(headers)], className="mb-3"),
            dbc.Card([dbc.CardHeader("Body"), dbc.CardBody(body)], className="mb-3"),
        ], lg=8),
        dbc.Col([
            dbc.Card([dbc.CardHeader("Investors"), dbc.CardBody(_investors(detail))], className="mb-3"),
            dbc.Card([dbc.CardHeader("Proposed activities"), dbc.CardBody(_proposals(detail))], className="mb-3"),
            dbc.Card([dbc.CardHeader("Mailboxes"), dbc.CardBody(_sightings(detail))], className="mb-3"),
            dbc.Card([dbc.CardHeader("Reply drafts"), dbc.CardBody(_drafts(detail))], className="mb-3",
                     id="email-drafts"),
        ], lg=4),
    ])


def _investors(detail):
    if not detail["investors"]:
        return empty("Not linked to any investor.")
    items = []
    for link in detail["investors"]:
        who = (dcc.Link(link["contact_name"], href=f"/contacts/{link['contact_id']}") if link["contact_id"]
               else html.Span("no contact yet", className="small-muted"))
        items.append(html.Li([
            dcc.Link(link["investor_name"], href=f"/investors/{link['investor_id']}", className="fw-semibold"),
            dbc.Badge("graveyard", color="dark", className="ms-1") if link["graveyard"] else None,
            html.Div([who, html.Span(f" · {link['matched_address']}", className="small-muted")]),
        ], className="mb-2"))
    return html.Ul(items, className="list-unstyled mb-0")


def _proposals(detail):
    if not detail["proposals"]:
        return empty("No proposal (bulk mail, graveyard investors and unmatched mail get none).")
    items = []
    for p in detail["proposals"]:
        target = p["contact_name"] or f"new contact {p['contact_email']}"
        buttons = None
        if p["status"] == "pending":
            buttons = html.Div([
                dbc.Button("Approve & create contact" if p["new_contact"] else "Approve", size="sm", color="success",
                           id={"type": "email-approve", "id": p["id"]}, className="me-1"),
                dbc.Button("Reject", size="sm", color="secondary", outline=True, id={"type": "email-reject", "id": p["id"]}),
            ], className="mt-1")
        items.append(html.Li([
            status_badge(p["status"]), " ", html.Span(p["investor_name"], className="fw-semibold"), " → ", target,
            html.Div(f"by {p['decided_by']} · {local(p['decided_at'])}", className="small-muted")
            if p["decided_at"] else None,
            buttons,
        ], className="mb-2"))
    for a in detail["activities"]:
        items.append(html.Li(["Activity on ", dcc.Link(a["contact_name"], href=f"/contacts/{a['contact_id']}"),
                              html.Span(f" · approved by {a['created_by'] or '—'}", className="small-muted")],
                             className="small"))
    return html.Ul(items, className="list-unstyled mb-0")


def _sightings(detail):
    rows = [html.Tr([
        html.Td(s["address"]),
        html.Td(dbc.Badge("live", color="success") if s["live"] else dbc.Badge(f"deleted {local(s['deleted_at'])}",
                                                                                 color="secondary")),
        html.Td(", ".join(label.replace("CATEGORY_", "").lower() for label in s["labels"]),
                className="small-muted text-break"),
    ]) for s in detail["sightings"]]
    return dbc.Table(html.Tbody(rows), size="sm", className="mb-0") if rows else empty("In no mailbox.")


def _drafts(detail):
    if not detail["drafts"]:
        return empty("No reply drafted yet.")
    return html.Ul([html.Li([
        html.Div(f"In {d['mailbox']} · {local(d['created_at'])}"),
        html.Div(f"To {_people(d['to'])}" + (f"; cc {_people(d['cc'])}" if d["cc"] else ""), className="small-muted"),
        html.Div(f"{'written by the local model' if d['body_source'] == 'llm' else 'written by ' + (d['created_by'] or 'an admin')}",
                 className="small-muted"),
    ], className="mb-2") for d in detail["drafts"]], className="list-unstyled mb-0")


@dash.callback(
    Output("email-version", "data"),
    Output("email-message", "children"),
    Input({"type": "email-approve", "id": ALL}, "n_clicks"),
    Input({"type": "email-reject", "id": ALL}, "n_clicks"),
    State("email-version", "data"),
    prevent_initial_call=True,
)
def decide(approve_clicks, reject_clicks, version):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any((approve_clicks or []) + (reject_clicks or [])):
        return dash.no_update, dash.no_update
    actor = acting_admin()
    try:
        if trigger["type"] == "email-approve":
            decision = crm_proposals.approve(int(trigger["id"]), actor, now())
            if decision.affected_addresses:
                rematch(runtime().directory(), now(), addresses=decision.affected_addresses)
            message = ok_alert("Approved: the activity is on the contact's record.")
        else:
            crm_proposals.reject(int(trigger["id"]), actor, now())
            message = ok_alert("Rejected.")
    except ValidationError as exc:
        message = error_alert(str(exc))
    return (version or 0) + 1, message
