"""One email: headers, body, attachments (names and sizes), its conversation (every message of
the thread in time order, the mailboxes holding each with an "Open in Gmail" link per mailbox),
which mailboxes hold it (live or deleted), investor links, its proposals (decided here too), the
activities approved from it and the drafts made for it.

Actions on the email live in `email_actions()`. "Draft reply" opens a dialog: pick the mailbox
(default: the teammate who received it), see the exact To/Cc and subject, write the body (or have
the local LLM write it into the editable box), then "Create draft" saves it as a Gmail draft in that
mailbox (`drafts.create` only: nothing is ever sent) and links to it. Bad input creates nothing.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm import proposals as crm_proposals
from appsrc.crm.drafts import (
    MAX_BODY_CHARS,
    DraftError,
    DraftNotRecorded,
    DraftUnconfirmed,
    create_reply_draft,
    plan_reply,
    suggest_body,
)
from appsrc.crm.validation import ValidationError, parse_id
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
from appsrc.dashboard.conversation_ui import attachment_list, gmail_links
from appsrc.llm import LlmConfig
from appsrc.store import queries

dash.register_page(__name__, path_template="/email/<email_id>", name="Email", nav=False, title="Email · IR Mail Desk")


def layout(email_id=None, **_kwargs):
    return html.Div(
        [
            dcc.Store(id="email-id", data=str(email_id or "")),
            dcc.Store(id="email-version", data=0),
            html.Div(id="email-message"),
            html.Div(id="email-content", children=dbc.Spinner(color="primary")),
            _draft_dialog(),
        ]
    )


def _people(people: list) -> str:
    """Header people ({email, name}) or plain addresses (a Draft's to/cc), as one line."""
    return (
        ", ".join(
            p
            if isinstance(p, str)
            else f"{p.get('name')} <{p.get('email')}>"
            if p.get("name")
            else str(p.get("email", ""))
            for p in people
        )
        or "—"
    )


def email_actions(detail: dict) -> list:
    """Buttons acting on this email."""
    return [
        dbc.Button(
            "Draft reply",
            id={"type": "email-draft-open", "id": detail["email_id"]},
            color="primary",
            size="sm",
            disabled=not detail["live"],
            title="Save a reply-all as a Gmail draft (never sent)"
            if detail["live"]
            else "No team mailbox holds a live copy of this email any more",
        ),
        dcc.Link(dbc.Button("Back to activity", color="secondary", outline=True, size="sm"), href="/activity"),
    ]


@dash.callback(Output("email-content", "children"), Input("email-id", "data"), Input("email-version", "data"))
def render(email_id, _version):
    try:
        detail = queries.email_detail(parse_id(email_id, field="email_id"))
    except ValidationError:
        detail = None
    if detail is None:
        return not_found("This email")
    sender = f"{detail['from_name']} <{detail['from_email']}>" if detail["from_name"] else detail["from_email"]
    headers = dbc.Table(
        html.Tbody(
            [
                html.Tr([html.Th("From", className="w-25"), html.Td(sender or "—")]),
                html.Tr([html.Th("To"), html.Td(_people(detail["to"]))]),
                html.Tr([html.Th("Cc"), html.Td(_people(detail["cc"]))]),
                html.Tr([html.Th("Reply-To"), html.Td(_people(detail["reply_to"]))]) if detail["reply_to"] else None,
                html.Tr(
                    [
                        html.Th("Date"),
                        html.Td(f"{local(detail['sent_at'], '%A %d %B %Y %H:%M')} ({runtime().settings.timezone})"),
                    ]
                ),
                html.Tr([html.Th("Message-ID"), html.Td(detail["message_id"] or "(none)", className="mono")]),
            ]
        ),
        size="sm",
        borderless=True,
        className="mb-0",
    )
    body = html.Div(
        [
            html.Div(
                detail["body_text"] or detail["snippet"] or "(empty body)", className="email-body", id="email-body"
            ),
            html.Div("The body was truncated when it was captured.", className="small-muted mt-1")
            if detail["body_truncated"]
            else None,
        ]
    )
    title = html.Div(
        [
            html.H3(detail["subject"] or "(no subject)", className="page-title", id="email-subject"),
            html.Div(
                [
                    direction_badge(detail["direction"]),
                    dbc.Badge("bulk: " + (detail["bulk_reason"] or "yes"), color="secondary", className="me-1")
                    if detail["is_bulk"]
                    else None,
                    dbc.Badge("deleted in every mailbox", color="danger") if not detail["live"] else None,
                ],
                className="mb-2",
            ),
            html.Div(
                [html.Span("Open in Gmail: ", className="small-muted"), *gmail_links(detail["gmail_links"])],
                id="email-gmail-links",
                className="mb-2 small",
            )
            if detail["gmail_links"]
            else None,
        ]
    )
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.Div(
                        [title, html.Div(email_actions(detail), className="d-flex gap-2", id="email-actions")],
                        className="d-flex justify-content-between align-items-start flex-wrap",
                    ),
                    dbc.Card([dbc.CardBody(headers)], className="mb-3"),
                    dbc.Card([dbc.CardHeader("Body"), dbc.CardBody(body)], className="mb-3"),
                    dbc.Card(
                        [
                            dbc.CardHeader(f"Attachments ({len(detail['attachments'])})"),
                            dbc.CardBody(
                                [
                                    attachment_list(detail["attachments"], id_="email-attachments"),
                                    html.Div(
                                        "Names and sizes only: the files stay in Gmail.", className="small-muted mt-1"
                                    ),
                                ]
                            ),
                        ],
                        className="mb-3",
                    )
                    if detail["attachments"]
                    else None,
                    dbc.Card(
                        [dbc.CardHeader(_thread_title(detail)), dbc.CardBody(_thread(detail))],
                        className="mb-3",
                    ),
                ],
                lg=8,
            ),
            dbc.Col(
                [
                    dbc.Card([dbc.CardHeader("Investors"), dbc.CardBody(_investors(detail))], className="mb-3"),
                    dbc.Card(
                        [dbc.CardHeader("Proposed activities"), dbc.CardBody(_proposals(detail))], className="mb-3"
                    ),
                    dbc.Card([dbc.CardHeader("Mailboxes"), dbc.CardBody(_sightings(detail))], className="mb-3"),
                    dbc.Card(
                        [dbc.CardHeader("Reply drafts"), dbc.CardBody(_drafts(detail))],
                        className="mb-3",
                        id="email-drafts",
                    ),
                ],
                lg=4,
            ),
        ]
    )


def _thread_title(detail) -> str:
    count = detail["thread_count"]
    title = f"Conversation · {count} message{'s' if count != 1 else ''}"
    return title + (f" (the {len(detail['thread'])} around this one)" if detail["thread_truncated"] else "")


def _thread(detail):
    """The conversation in time order: each message's direction, sender, date, the mailboxes
    holding it (each opens its own Gmail copy) and its proposals; this email is marked, the
    others link to their pages."""
    messages = []
    for m in detail["thread"]:
        sender = f"{m['from_name']} <{m['from']}>" if m["from_name"] else m["from"]
        subject = m["subject"] or "(no subject)"
        messages.append(
            html.Div(
                [
                    html.Div(
                        [
                            direction_badge(m["direction"]),
                            html.Span(sender, className="fw-semibold me-2 thread-sender"),
                            html.Span(local(m["sent_at"]), className="small-muted me-2"),
                            dbc.Badge("this email", color="primary", className="me-1") if m["current"] else None,
                            *[
                                html.Span([status_badge(p["status"]), f" {p['investor_name']}"], className="me-2 small")
                                for p in m["proposals"]
                            ],
                        ]
                    ),
                    html.Div(
                        html.Span(subject, className="thread-subject")
                        if m["current"]
                        else dcc.Link(subject, href=f"/email/{m['id']}", className="thread-subject")
                    ),
                    html.Div(m["snippet"], className="small text-muted text-break") if m["snippet"] else None,
                    html.Div(
                        [html.Span("Open in Gmail: ", className="small-muted"), *gmail_links(m["gmail_links"])]
                        if m["gmail_links"]
                        else html.Span("No mailbox holds it any more.", className="small-muted"),
                        className="small",
                    ),
                ],
                className="thread-message thread-current" if m["current"] else "thread-message",
                **{"data-email-id": str(m["id"]), "aria-current": "true" if m["current"] else "false"},
            )
        )
    return html.Div(messages, id="email-thread")


def _investors(detail):
    if not detail["investors"]:
        return empty("Not linked to any investor.")
    items = []
    for link in detail["investors"]:
        who = (
            dcc.Link(link["contact_name"], href=f"/contacts/{link['contact_id']}")
            if link["contact_id"]
            else html.Span("no contact yet", className="small-muted")
        )
        items.append(
            html.Li(
                [
                    dcc.Link(link["investor_name"], href=f"/investors/{link['investor_id']}", className="fw-semibold"),
                    dbc.Badge("graveyard", color="dark", className="ms-1") if link["graveyard"] else None,
                    html.Div([who, html.Span(f" · {link['matched_address']}", className="small-muted")]),
                ],
                className="mb-2",
            )
        )
    return html.Ul(items, className="list-unstyled mb-0")


def _proposals(detail):
    if not detail["proposals"]:
        return empty("No proposal (bulk mail, graveyard investors and unmatched mail get none).")
    items = []
    for p in detail["proposals"]:
        target = p["contact_name"] or f"new contact {p['contact_email']}"
        buttons = None
        if p["status"] == "pending":
            buttons = html.Div(
                [
                    dbc.Button(
                        "Approve & create contact" if p["new_contact"] else "Approve",
                        size="sm",
                        color="success",
                        id={"type": "email-approve", "id": p["id"]},
                        className="me-1",
                    ),
                    dbc.Button(
                        "Reject", size="sm", color="secondary", outline=True, id={"type": "email-reject", "id": p["id"]}
                    ),
                ],
                className="mt-1",
            )
        items.append(
            html.Li(
                [
                    status_badge(p["status"]),
                    " ",
                    html.Span(p["investor_name"], className="fw-semibold"),
                    " → ",
                    target,
                    html.Div(f"by {p['decided_by']} · {local(p['decided_at'])}", className="small-muted")
                    if p["decided_at"]
                    else None,
                    buttons,
                ],
                className="mb-2",
            )
        )
    for a in detail["activities"]:
        items.append(
            html.Li(
                [
                    "Activity on ",
                    dcc.Link(a["contact_name"], href=f"/contacts/{a['contact_id']}"),
                    html.Span(f" · approved by {a['created_by'] or '—'}", className="small-muted"),
                ],
                className="small",
            )
        )
    return html.Ul(items, className="list-unstyled mb-0")


def _sightings(detail):
    rows = [
        html.Tr(
            [
                html.Td(s["address"]),
                html.Td(
                    dbc.Badge("live", color="success")
                    if s["live"]
                    else dbc.Badge(f"deleted {local(s['deleted_at'])}", color="secondary")
                ),
                html.Td(
                    ", ".join(label.replace("CATEGORY_", "").lower() for label in s["labels"]),
                    className="small-muted text-break",
                ),
                html.Td(gmail_links([s], label=lambda _address: "Open in Gmail") if s["live"] else None),
            ]
        )
        for s in detail["sightings"]
    ]
    return dbc.Table(html.Tbody(rows), size="sm", className="mb-0") if rows else empty("In no mailbox.")


def _drafts(detail):
    if not detail["drafts"]:
        return empty("No reply drafted yet.")
    return html.Ul(
        [
            html.Li(
                [
                    html.Div(f"In {d['mailbox']} · {local(d['created_at'])}"),
                    html.Div(
                        f"To {_people(d['to'])}" + (f"; cc {_people(d['cc'])}" if d["cc"] else ""),
                        className="small-muted",
                    ),
                    html.Div(
                        "written by the local model"
                        if d["body_source"] == "llm"
                        else "written by " + (d["created_by"] or "an admin"),
                        className="small-muted",
                    ),
                ],
                className="mb-2",
            )
            for d in detail["drafts"]
        ],
        className="list-unstyled mb-0",
    )


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
            crm_proposals.approve([trigger["id"]], actor, now(), directory=runtime().directory)
            message = ok_alert("Approved: the activity is on the contact's record.")
        else:
            crm_proposals.reject([trigger["id"]], actor, now())
            message = ok_alert("Rejected.")
    except ValidationError as exc:
        message = error_alert(str(exc))
    return (version or 0) + 1, message


# -- "Draft reply" --------------------------------------------------------------------------------------
LLM_BUTTON = "Write with the local LLM"


def _draft_dialog() -> dbc.Modal:
    """The reply dialog (data-free: the plan is loaded when it opens)."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Draft a reply")),
            dbc.ModalBody(
                [
                    dcc.Store(id="email-draft-suggestion", data=None),  # the LLM's last text, to record who wrote it
                    dbc.Label("Save the draft in the mailbox of", html_for="email-draft-mailbox", className="mb-1"),
                    dbc.Select(id="email-draft-mailbox", options=[], value=None),
                    html.Div(
                        "Defaults to the teammate who received it; only mailboxes holding a live copy can reply.",
                        className="small-muted mb-3",
                    ),
                    html.Div(id="email-draft-plan"),
                    dbc.Label("Reply", html_for="email-draft-body", className="mb-1"),
                    dbc.Textarea(
                        id="email-draft-body",
                        rows=9,
                        maxLength=MAX_BODY_CHARS,
                        value="",
                        placeholder="Write the reply here, or let the local LLM write a first version you can "
                        "edit. The original message is quoted below it in the draft.",
                    ),
                    html.Div(
                        [
                            dbc.Button(
                                LLM_BUTTON, id="email-draft-suggest", color="secondary", outline=True, size="sm"
                            ),
                            html.Span(
                                "Review and edit before creating: nothing is sent.", className="small-muted ms-2"
                            ),
                        ],
                        className="mt-2",
                    ),
                    html.Div(id="email-draft-suggest-message", className="mt-2"),
                    html.Div(id="email-draft-result", className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    html.Span(
                        "Creates a draft in Gmail only; a teammate reviews and sends it from Gmail.",
                        className="small-muted me-auto",
                    ),
                    dbc.Button("Close", id="email-draft-close", color="secondary", outline=True),
                    dbc.Button("Create draft", id="email-draft-create", color="primary", disabled=True),
                ]
            ),
        ],
        id="email-draft-modal",
        is_open=False,
        size="lg",
        backdrop="static",
    )  # the result sits above the buttons


def _person(p: dict) -> str:
    return f"{p['name']} <{p['email']}>" if p.get("name") else p["email"]


def _plan_view(plan) -> html.Div:
    """Exactly what the draft will carry: the recipients and subject as they will be sent."""
    rows = [
        html.Tr([html.Th("From", className="w-25"), html.Td(plan.mailbox, id="email-draft-from")]),
        html.Tr([html.Th("To"), html.Td(", ".join(_person(p) for p in plan.to), id="email-draft-to")]),
        html.Tr([html.Th("Cc"), html.Td(", ".join(_person(p) for p in plan.cc) or "—", id="email-draft-cc")]),
        html.Tr([html.Th("Subject"), html.Td(plan.subject, id="email-draft-subject")]),
    ]
    note = (
        None
        if plan.threads
        else dbc.Alert(
            "The original has no Message-ID, so Gmail may show this reply as a new conversation instead of "
            "in the original thread.",
            color="warning",
            className="py-2 small",
            id="email-draft-thread-note",
        )
    )
    bcc_note = (
        dbc.Alert(
            f"{plan.mailbox} is not among the original's recipients (it was Bcc'd, or got it through a list): "
            "replying to all shows everyone above that it received the message.",
            color="warning",
            className="py-2 small",
            id="email-draft-bcc-note",
        )
        if plan.bcc_only
        else None
    )
    reply_to_note = (
        dbc.Alert(
            f"Replies go to {', '.join(plan.reply_to_elsewhere)} (the original's Reply-To), not to the "
            f"sender's domain: make sure it really is them before sending anything.",
            color="warning",
            className="py-2 small",
            id="email-draft-reply-to-note",
        )
        if plan.reply_to_elsewhere
        else None
    )
    return html.Div(
        [dbc.Table(html.Tbody(rows), size="sm", borderless=True, className="mb-2"), note, bcc_note, reply_to_note],
        className="mb-2",
    )


def _draft_error(exc: DraftError, prefix: str = "No draft created") -> dbc.Alert:
    return dbc.Alert(
        [
            html.Div(f"{prefix}: {exc}."),
            html.Div([html.Strong("Fix: "), exc.fix], className="mt-1") if exc.fix else None,
        ],
        color="danger",
        className="py-2 mb-2",
    )


def _email_id(value) -> int:
    try:
        return parse_id(value, field="email_id")
    except ValidationError:
        raise DraftError("this email was not found", status=404, field="email_id") from None


@dash.callback(
    Output("email-draft-modal", "is_open"),
    Output("email-draft-mailbox", "options"),
    Output("email-draft-mailbox", "value"),
    Output("email-draft-plan", "children"),
    Output("email-draft-body", "value"),
    Output("email-draft-suggestion", "data"),
    Output("email-draft-suggest-message", "children"),
    Output("email-draft-result", "children"),
    Output("email-draft-create", "disabled"),
    Input({"type": "email-draft-open", "id": ALL}, "n_clicks"),
    Input("email-draft-close", "n_clicks"),
    Input("email-draft-mailbox", "value"),
    State("email-id", "data"),
    prevent_initial_call=True,
)
def draft_plan(open_clicks, _close, mailbox, email_id):
    """Open (plan for the default mailbox), switch mailbox (plan for it), or close the dialog."""
    trigger = ctx.triggered_id
    keep = dash.no_update
    if trigger == "email-draft-close":
        return False, keep, keep, keep, keep, keep, keep, keep, keep
    opening = isinstance(trigger, dict)
    if opening and not any(open_clicks or []):
        raise dash.exceptions.PreventUpdate
    if not opening and trigger != "email-draft-mailbox":
        raise dash.exceptions.PreventUpdate
    reset = ("", None, None, None) if opening else (keep, keep, None, None)
    try:
        plan = plan_reply(_email_id(email_id), None if opening else (mailbox or None), settings=runtime().settings)
    except DraftError as exc:
        return (
            True,
            keep if not opening else [],
            keep if not opening else None,
            _draft_error(exc, "No reply can be drafted"),
            *reset,
            True,
        )
    options = [{"label": address, "value": address} for address in plan.mailboxes]
    return True, options, plan.mailbox, _plan_view(plan), *reset, False


@dash.callback(
    Output("email-draft-body", "value", allow_duplicate=True),
    Output("email-draft-suggestion", "data", allow_duplicate=True),
    Output("email-draft-suggest-message", "children", allow_duplicate=True),
    Input("email-draft-suggest", "n_clicks"),
    State("email-id", "data"),
    State("email-draft-mailbox", "value"),
    prevent_initial_call=True,
    running=[
        (Output("email-draft-suggest", "disabled"), True, False),
        (Output("email-draft-suggest", "children"), "Writing…", LLM_BUTTON),
    ],
)
def draft_suggest(clicks, email_id, mailbox):
    """The local LLM writes a body into the editable box; when it is down, say so (nothing changes)."""
    if not clicks:
        raise dash.exceptions.PreventUpdate
    try:
        settings = runtime().settings
        plan = plan_reply(_email_id(email_id), mailbox or None, settings=settings)
        body = suggest_body(plan, LlmConfig.from_settings(settings))
    except DraftError as exc:
        text = str(exc)
        return (
            dash.no_update,
            dash.no_update,
            dbc.Alert(
                f"{text[:1].upper()}{text[1:]}." if exc.status == 503 else f"No suggestion: {text}.",
                color="warning",
                className="py-2 mb-0",
                id="email-draft-llm-down",
            ),
        )
    return (
        body,
        body,
        dbc.Alert(
            "Written by the local LLM: read it and edit it as needed before creating the draft.",
            color="info",
            className="py-2 mb-0 small",
        ),
    )


@dash.callback(
    Output("email-draft-result", "children", allow_duplicate=True),
    Output("email-draft-create", "disabled", allow_duplicate=True),
    Output("email-version", "data", allow_duplicate=True),
    Output("email-draft-suggest-message", "children", allow_duplicate=True),
    Input("email-draft-create", "n_clicks"),
    State("email-id", "data"),
    State("email-draft-mailbox", "value"),
    State("email-draft-body", "value"),
    State("email-draft-suggestion", "data"),
    State("email-version", "data"),
    prevent_initial_call=True,
    running=[(Output("email-draft-create", "disabled"), True, False)],
)
def draft_create(clicks, email_id, mailbox, body, suggestion, version):
    """Save the reply as a Gmail draft in the chosen mailbox (never sent) and link to it."""
    if not clicks:
        raise dash.exceptions.PreventUpdate
    actor = acting_admin()
    keep = dash.no_update
    if not isinstance(body, str) or not body.strip():
        return (
            dbc.Alert(
                "Write the reply (or use the local LLM) before creating the draft.",
                color="warning",
                className="py-2 mb-0",
            ),
            keep,
            keep,
            keep,
        )
    if not isinstance(mailbox, str) or not mailbox:
        return error_alert("Choose the mailbox the draft is saved in."), keep, keep, keep
    source = "llm" if isinstance(suggestion, str) and body.strip() == suggestion.strip() else "admin"
    try:
        created = create_reply_draft(
            runtime(), _email_id(email_id), mailbox=mailbox, body=body, actor=actor, now=now(), body_source=source
        )
    except DraftNotRecorded as exc:  # it exists in Gmail: no second click may make another
        return _draft_error(exc, "Created in Gmail but not recorded"), True, keep, keep
    except DraftUnconfirmed as exc:  # it may exist: the same
        return _draft_error(exc, "Gmail did not confirm"), True, keep, keep
    except DraftError as exc:
        return _draft_error(exc), keep, keep, keep
    cc = f"; cc {', '.join(created['cc'])}" if created["cc"] else ""
    return (
        dbc.Alert(
            [
                html.Div([html.Strong("Draft saved"), f" in {created['mailbox']}'s Gmail — nothing was sent."]),
                html.Div(f"To {', '.join(created['to'])}{cc}", className="small"),
                html.A(
                    "Open the draft in Gmail ↗",
                    href=created["gmail_url"],
                    target="_blank",
                    rel="noopener noreferrer",
                    className="alert-link",
                    id="email-draft-link",
                ),
            ],
            color="success",
            className="py-2 mb-0",
            id="email-draft-created",
        ),
        True,
        (version or 0) + 1,
        None,
    )
