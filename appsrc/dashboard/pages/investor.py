"""One investor: edit name, domains, graveyard and notes; its contacts (add one); the approved
activity timeline, where an activity can be corrected or its approval undone, and its CSV export;
its conversations (threads, with who is waiting) and the documents its mail carried, each paged;
its recent captured mail; and the record's care: merge duplicates into it, or delete it. Every
change rematches the mail it concerns.

A merged investor's old address keeps working: the page sends the browser on to the investor it
was merged into. The dialogs sit outside what `render` rebuilds, so a re-render never closes one.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm.activities import edit_activity
from appsrc.crm.investors import add_contact, update_investor
from appsrc.crm.proposals import undo
from appsrc.crm.record_care import delete_investor, investor_merged_into, merge_investors
from appsrc.crm.validation import ValidationError
from appsrc.dashboard import record_care_ui as care
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import direction_badge, empty, error_alert, local, now, ok_alert, plural, runtime
from appsrc.dashboard.conversation_ui import PAGE_SIZE, conversation_list, document_list, pager, turn_page
from appsrc.dashboard.record_care_ui import KEEP, short_day
from appsrc.store import queries

dash.register_page(
    __name__, path_template="/investors/<investor_id>", name="Investor", nav=False, title="Investor · IR Mail Desk"
)

TIMELINE_LIMIT = 50


def layout(investor_id=None, **_kwargs):
    return html.Div(
        [
            *care.record_page_top(
                "investor",
                investor_id,
                [care.merge_open_button("investor"), care.delete_open_button("investor")],
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Card(
                                [
                                    dbc.CardHeader("Details"),
                                    dbc.CardBody(
                                        [
                                            dbc.Label("Name"),
                                            dbc.Input(id="investor-name", maxLength=200, className="mb-2"),
                                            dbc.Label("Domains (separated by ; or ,)"),
                                            dbc.Input(id="investor-domains", className="mb-2"),
                                            dbc.Switch(
                                                id="investor-graveyard",
                                                label="Graveyard (hidden from pickers, no new proposals)",
                                                value=False,
                                                className="mb-2",
                                            ),
                                            dbc.Label("Notes"),
                                            dbc.Textarea(id="investor-notes", maxLength=5000, className="mb-2", rows=3),
                                            dbc.Button("Save", id="investor-save", color="primary", size="sm"),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Contacts"),
                                    dbc.CardBody(
                                        [
                                            html.Div(id="investor-contacts"),
                                            html.Hr(),
                                            html.H6("Add a contact"),
                                            dbc.Input(
                                                id="investor-contact-name",
                                                placeholder="Name",
                                                maxLength=200,
                                                className="mb-2",
                                                size="sm",
                                            ),
                                            dbc.Input(
                                                id="investor-contact-addresses",
                                                placeholder="address(es), separated by ;",
                                                className="mb-2",
                                                size="sm",
                                            ),
                                            dbc.Button(
                                                "Add contact", id="investor-contact-add", size="sm", color="secondary"
                                            ),
                                        ]
                                    ),
                                ],
                                className="mb-3",
                            ),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Card(
                                [
                                    dbc.CardHeader(
                                        [
                                            html.Span("Approved activity"),
                                            _export_link(_id(investor_id)),
                                        ],
                                        className="d-flex justify-content-between align-items-center",
                                    ),
                                    dbc.CardBody(html.Div(id="investor-timeline")),
                                ],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Conversations"),
                                    dbc.CardBody(
                                        [html.Div(id="investor-conversations"), pager("investor-conversations")]
                                    ),
                                ],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Documents exchanged"),
                                    dbc.CardBody([html.Div(id="investor-documents"), pager("investor-documents")]),
                                ],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [dbc.CardHeader("Recent captured mail"), dbc.CardBody(html.Div(id="investor-recent"))]
                            ),
                        ],
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
            care.merge_dialog(
                "investor",
                "Pick the records that are the same investor as this one. Their domains, contacts, links "
                "to captured mail, proposals and approved activities move here, and each duplicate "
                "disappears; links to its old page open this one. No captured email is deleted.",
            ),
            care.delete_dialog(
                "investor",
                [
                    "The investor is hidden everywhere: the investor list, pickers, search filters and "
                    "the approvals queue.",
                    "Its captured mail is kept, without the link to this investor; its pending "
                    "proposals are dropped. Approved activities are kept for a restore.",
                ],
            ),
            _edit_dialog(),
            _undo_dialog(),
        ]
    )


def _id(value):
    return care.record_id_of(value, "investor_id")


def _export_link(investor_id: int | None):
    """Downloads the approved activity timeline as CSV (the API's export, as the signed-in admin)."""
    if investor_id is None:
        return None
    return html.A(
        "Export CSV",
        href=f"/api/investors/{investor_id}/activities.csv",
        download=f"investor-{investor_id}-activities.csv",
        className="btn btn-sm btn-outline-secondary",
        id="investor-export",
        title="The approved activity timeline as a CSV file",
    )


@dash.callback(
    Output("investor-conversations", "children"),
    Output("investor-conversations-pager", "data"),
    Output("investor-conversations-newer", "disabled"),
    Output("investor-conversations-older", "disabled"),
    Input("investor-id", "data"),
    Input("investor-version", "data"),
    Input("investor-conversations-newer", "n_clicks"),
    Input("investor-conversations-older", "n_clicks"),
    State("investor-conversations-pager", "data"),
)
def conversations(investor_id, _version, _newer, _older, state):
    """The investor's conversations, newest first, a page at a time."""
    record = _id(investor_id)
    page, state, newer_off, older_off = turn_page(
        "investor-conversations",
        ctx.triggered_id,
        state,
        lambda cursor: queries.investor_conversations(record, limit=PAGE_SIZE, cursor=cursor) if record else None,
    )
    body = conversation_list(page["items"], "investor-conversation-list") if page else None
    return body, state, newer_off, older_off


@dash.callback(
    Output("investor-documents", "children"),
    Output("investor-documents-pager", "data"),
    Output("investor-documents-newer", "disabled"),
    Output("investor-documents-older", "disabled"),
    Input("investor-id", "data"),
    Input("investor-version", "data"),
    Input("investor-documents-newer", "n_clicks"),
    Input("investor-documents-older", "n_clicks"),
    State("investor-documents-pager", "data"),
)
def documents(investor_id, _version, _newer, _older, state):
    """Files the investor's mail carried, newest first: names and sizes, never contents."""
    record = _id(investor_id)
    page, state, newer_off, older_off = turn_page(
        "investor-documents",
        ctx.triggered_id,
        state,
        lambda cursor: queries.investor_documents(record, limit=PAGE_SIZE, cursor=cursor) if record else None,
    )
    body = document_list(page["items"], "investor-document-list") if page else None
    return body, state, newer_off, older_off


def _clicked(type_: str):
    """The id of the pattern-matched button of this type the admin just clicked, or None: new
    buttons rendered by a refresh fire the callback too, without a click."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or trigger.get("type") != type_:
        return None
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    return trigger.get("id")


@dash.callback(
    Output("investor-header", "children"),
    Output("investor-name", "value"),
    Output("investor-domains", "value"),
    Output("investor-graveyard", "value"),
    Output("investor-notes", "value"),
    Output("investor-contacts", "children"),
    Output("investor-timeline", "children"),
    Output("investor-recent", "children"),
    Input("investor-id", "data"),
    Input("investor-version", "data"),
)
def render(investor_id, _version):
    inv = queries.investor_detail(_id(investor_id)) if _id(investor_id) else None
    if inv is None:
        return _missing(_id(investor_id)), "", "", False, "", None, None, None
    header = html.Div(
        [
            html.H2(
                [
                    inv["name"],
                    dbc.Badge("graveyard", color="dark", className="ms-2 fs-6") if inv["graveyard"] else None,
                ],
                className="page-title",
                id="investor-title",
            ),
            html.P(
                [
                    f"{inv['emails']:,} captured email(s) · ",
                    dcc.Link("search its mail", href=f"/activity?investor_id={inv['id']}"),
                    " · ",
                    f"{inv['pending']:,} pending proposal(s)",
                ],
                className="page-subtitle",
            ),
        ]
    )
    contacts = (
        html.Ul(
            [
                html.Li(
                    [
                        dcc.Link(c["name"], href=f"/contacts/{c['id']}", className="fw-semibold"),
                        html.Span(
                            f" · {c['activities']} activit{'y' if c['activities'] == 1 else 'ies'}",
                            className="small-muted",
                        ),
                        html.Div(", ".join(c["addresses"]), className="small-muted"),
                    ],
                    className="mb-2",
                )
                for c in inv["contacts"]
            ],
            className="list-unstyled mb-0",
            id="investor-contact-list",
        )
        if inv["contacts"]
        else empty("No contacts.")
    )
    return (
        header,
        inv["name"],
        "; ".join(inv["domains"]),
        inv["graveyard"],
        inv["notes"],
        contacts,
        timeline(queries.activity_timeline(investor_id=inv["id"], limit=TIMELINE_LIMIT)["items"], show_contact=True),
        _recent(queries.recent_emails_of_investor(inv["id"])),
    )


def _missing(investor_id: int | None):
    return care.record_gone_notice(
        investor_id,
        "investor",
        merged_into=investor_merged_into,
        detail=queries.investor_detail,
        merged_tail=lambda _survivor: ". Opening it…",
        restore_what="it",
    )


@dash.callback(
    Output("investor-redirect", "href"),
    Output("investor-actions", "style"),
    Input("investor-id", "data"),
    Input("investor-version", "data"),
)
def page_state(investor_id, _version):
    """Old links keep working: a merged investor's page moves on to the one it was merged into.
    The record's actions show only on a live investor."""
    return care.page_state(
        _id(investor_id), "investor", merged_into=investor_merged_into, detail=queries.investor_detail
    )


def timeline(items, *, show_contact: bool):
    """Approved activities, newest first, each with its note and the admin's two corrections:
    edit the record, or undo the approval that wrote it."""
    if not items:
        return empty("No approved activity yet.")
    return html.Div(
        [
            html.Div(
                [
                    *care.activity_headline(a),
                    html.Div(a["note"], className="small activity-note") if a["note"] else None,
                    html.Div(
                        (
                            [dcc.Link(a["contact_name"], href=f"/contacts/{a['contact_id']}"), " · "]
                            if show_contact
                            else []
                        )
                        + [f"approved by {a['created_by'] or '—'}"]
                        + ([f" · edited {short_day(a['edited_at'])}"] if a["edited_at"] else []),
                        className="small-muted",
                    ),
                    html.Div(
                        [
                            dbc.Button(
                                "Edit",
                                id={"type": "investor-activity-edit", "id": a["id"]},
                                color="link",
                                size="sm",
                                className="p-0 me-3",
                            ),
                            dbc.Button(
                                "Undo approval",
                                id={"type": "investor-activity-undo", "id": a["id"]},
                                color="link",
                                size="sm",
                                className="p-0 text-warning",
                            )
                            if a["proposal_id"]
                            else None,
                        ]
                    ),
                ],
                className="timeline-item",
            )
            for a in items
        ],
        className="timeline",
        id="investor-timeline-items",
    )


def _recent(items):
    if not items:
        return empty("No captured mail.")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(local(i["sent_at"], "%d %b %Y"), className="small-muted me-2"),
                    direction_badge(i["direction"]),
                    dcc.Link(i["subject"] or "(no subject)", href=f"/email/{i['email_id']}"),
                ],
                className="mb-1",
            )
            for i in items
        ],
        className="list-unstyled mb-0",
    )


@dash.callback(
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input("investor-save", "n_clicks"),
    State("investor-id", "data"),
    State("investor-name", "value"),
    State("investor-domains", "value"),
    State("investor-graveyard", "value"),
    State("investor-notes", "value"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def save(_n, investor_id, name, domains, graveyard, notes, version):
    actor = acting_admin()
    rt = runtime()
    try:
        stats = update_investor(
            _id(investor_id) or 0,
            now(),
            directory=rt.directory,
            name=name or "",
            domains=domains or "",
            graveyard=bool(graveyard),
            notes=notes or "",
            actor=actor,
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    return (version or 0) + 1, care.saved_alert(stats)


@dash.callback(
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Output("investor-contact-name", "value"),
    Output("investor-contact-addresses", "value"),
    Input("investor-contact-add", "n_clicks"),
    State("investor-id", "data"),
    State("investor-contact-name", "value"),
    State("investor-contact-addresses", "value"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def new_contact(_n, investor_id, name, addresses, version):
    actor = acting_admin()
    try:
        contact, stats = add_contact(
            _id(investor_id) or 0, name or "", addresses or "", now(), directory=runtime().directory, actor=actor
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc)), dash.no_update, dash.no_update
    return (
        (version or 0) + 1,
        ok_alert(f"Added {contact.name}; {stats['emails']:,} captured email(s) rematched."),
        "",
        "",
    )


# -- merge duplicates ---------------------------------------------------------------------------
@dash.callback(
    Output("investor-merge-modal", "is_open"),
    Output("investor-merge-from", "options"),
    Output("investor-merge-from", "value"),
    Output("investor-merge-preview", "children"),
    Output("investor-merge-confirm", "disabled"),
    Output("investor-merge-previewed", "data"),
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input("investor-merge-open", "n_clicks"),
    Input("investor-merge-cancel", "n_clicks"),
    Input("investor-merge-check", "n_clicks"),
    Input("investor-merge-confirm", "n_clicks"),
    Input("investor-merge-from", "value"),
    State("investor-id", "data"),
    State("investor-merge-previewed", "data"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def merge_dialog(_open, _cancel, _check, _confirm, chosen, investor_id, previewed, version):
    """Open the dialog, preview a merge (a dry run: nothing changes), or merge. "Merge" merges
    exactly the investors last previewed; picking others asks for a new preview."""
    survivor_id = _id(investor_id)
    return care.merge_dialog_update(
        ctx.triggered_id,
        "investor",
        survivor_id,
        chosen,
        previewed,
        version,
        choices=lambda: [
            {"label": _investor_label(i), "value": i["id"]}
            for i in queries.list_investors(include_graveyard=True)
            if i["id"] != survivor_id
        ],
        merge=merge_investors,
        preview=_merge_preview,
        summary=_merged_summary,
    )


def _investor_label(investor: dict) -> str:
    """Name, graveyard mark and domains: two records of one LP usually differ in their domains."""
    label = investor["name"] + (" (graveyard)" if investor["graveyard"] else "")
    return label + (f" · {', '.join(investor['domains'])}" if investor["domains"] else "")


def _merge_preview(preview: dict) -> html.Div:
    """What each duplicate brings: its domains, contacts, and what is linked to it."""
    return care.merge_preview(preview, "investor", header=_duplicate_header, rows=_duplicate_rows)


def _duplicate_header(duplicate: dict) -> list:
    return [
        html.Span(duplicate["name"], className="fw-semibold"),
        dbc.Badge("graveyard", color="dark", className="ms-2") if duplicate["graveyard"] else None,
    ]


def _duplicate_rows(duplicate: dict) -> list[tuple[str, str]]:
    contacts = [f"{c['name']} ({', '.join(c['addresses']) or 'no address'})" for c in duplicate["contacts"]]
    return [
        ("Domains", ", ".join(duplicate["domains"]) or "none"),
        ("Contacts", "; ".join(contacts) or "none"),
        ("Links to captured emails", f"{duplicate['emails_linked']:,}"),
        ("Pending proposals", f"{duplicate['pending_proposals']:,}"),
        ("Decided proposals", f"{duplicate['decided_proposals']:,}"),
        ("Approved activities", f"{duplicate['activities']:,}"),
    ]


def _merged_summary(result: dict) -> str:
    moved = result["from"]
    return care.merged_summary(
        result,
        [
            plural(sum(len(d["domains"]) for d in moved), "domain"),
            plural(sum(len(d["contacts"]) for d in moved), "contact"),
            plural(sum(d["emails_linked"] for d in moved), "email link"),
            plural(sum(d["pending_proposals"] + d["decided_proposals"] for d in moved), "proposal"),
            plural(sum(d["activities"] for d in moved), "approved activity", "approved activities"),
        ],
    )


# -- delete --------------------------------------------------------------------------------------
@dash.callback(
    Output("investor-delete-modal", "is_open"),
    Output("investor-delete-name", "children"),
    Output("investor-delete-error", "children"),
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input("investor-delete-open", "n_clicks"),
    Input("investor-delete-cancel", "n_clicks"),
    Input("investor-delete-confirm", "n_clicks"),
    State("investor-id", "data"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def delete_dialog(_open, _cancel, _confirm, investor_id, version):
    trigger = ctx.triggered_id
    record_id = _id(investor_id)
    if trigger == "investor-delete-cancel":
        return False, KEEP, None, KEEP, KEEP
    if trigger == "investor-delete-open":
        inv = queries.investor_detail(record_id) if record_id else None
        if inv is None:
            return False, KEEP, None, KEEP, error_alert("This investor no longer exists.")
        return True, inv["name"], None, KEEP, KEEP
    if trigger != "investor-delete-confirm":
        raise dash.exceptions.PreventUpdate
    inv = queries.investor_detail(record_id) if record_id else None
    try:
        result = delete_investor(record_id or 0, now(), actor=acting_admin())
    except ValidationError as exc:
        return KEEP, KEEP, error_alert(f"Nothing was deleted: {exc}"), KEEP, KEEP
    queries.clear_cache()
    name = inv["name"] if inv else "The investor"
    message = care.deleted_notice(
        "investor",
        f"{name} is deleted: hidden everywhere, its captured mail kept "
        f"({plural(result['links_removed'], 'email link')} and "
        f"{plural(result['pending_proposals_removed'], 'pending proposal')} removed). You can restore it until "
        f"{short_day(result['restorable_until'])} under ",
    )
    return False, KEEP, None, (version or 0) + 1, message


# -- correct an activity -------------------------------------------------------------------------
def _edit_dialog() -> dbc.Modal:
    return care.dialog(
        "investor-edit",
        "Edit activity",
        [
            html.Div(id="investor-edit-summary", className="fw-semibold mb-1"),
            html.P(
                "This corrects the fund's record of the email; the email itself never changes.",
                className="small-muted",
            ),
            dbc.Label("Note", html_for="investor-edit-note"),
            dbc.Textarea(id="investor-edit-note", maxLength=5000, rows=3, className="mb-2"),
            dbc.Label("Date", html_for="investor-edit-date"),
            dbc.Input(id="investor-edit-date", type="date", className="mb-2"),
            dbc.Label("Contact", html_for="investor-edit-contact"),
            dcc.Dropdown(id="investor-edit-contact", options=[], clearable=False),
            html.Div(id="investor-edit-error", className="mt-2"),
        ],
        [dbc.Button("Save", id="investor-edit-save", color="primary")],
        store_id="investor-edit-target",
    )


def _timeline_item(investor_id: int | None, activity_id) -> dict | None:
    """The activity as the page's timeline shows it (the buttons only exist for those)."""
    if investor_id is None:
        return None
    items = queries.activity_timeline(investor_id=investor_id, limit=TIMELINE_LIMIT * 4)["items"]
    return next((a for a in items if a["id"] == activity_id), None)


@dash.callback(
    Output("investor-edit-modal", "is_open"),
    Output("investor-edit-target", "data"),
    Output("investor-edit-summary", "children"),
    Output("investor-edit-note", "value"),
    Output("investor-edit-date", "value"),
    Output("investor-edit-contact", "options"),
    Output("investor-edit-contact", "value"),
    Output("investor-edit-error", "children"),
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input({"type": "investor-activity-edit", "id": ALL}, "n_clicks"),
    Input("investor-edit-cancel", "n_clicks"),
    Input("investor-edit-save", "n_clicks"),
    State("investor-edit-note", "value"),
    State("investor-edit-date", "value"),
    State("investor-edit-contact", "value"),
    State("investor-edit-target", "data"),
    State("investor-id", "data"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def edit_dialog(_edit_clicks, _cancel, _save, note, day, contact_id, target, investor_id, version):
    """Open the editor on one activity, or save what the admin changed (only what changed: an
    untouched date keeps its time of day)."""
    trigger = ctx.triggered_id
    if trigger == "investor-edit-cancel":
        return False, None, KEEP, KEEP, KEEP, KEEP, KEEP, None, KEEP, KEEP
    clicked = _clicked("investor-activity-edit")
    if clicked is not None:
        item = _timeline_item(_id(investor_id), clicked)
        if item is None:
            return (KEEP,) * 9 + (error_alert("That activity is no longer on this investor's record."),)
        inv = queries.investor_detail(item["investor_id"]) or {"contacts": []}
        options = [{"label": c["name"], "value": c["id"]} for c in inv["contacts"]]
        if all(o["value"] != item["contact_id"] for o in options):
            options.insert(0, {"label": item["contact_name"], "value": item["contact_id"]})
        original = {
            "id": item["id"],
            "note": item["note"] or "",
            "day": local(item["occurred_at"], "%Y-%m-%d"),
            "time": local(item["occurred_at"], "%H:%M:%S"),
            "contact_id": item["contact_id"],
        }
        return (
            True,
            original,
            item["summary"],
            original["note"],
            original["day"],
            options,
            item["contact_id"],
            None,
            KEEP,
            KEEP,
        )
    if trigger != "investor-edit-save" or not isinstance(target, dict):
        raise dash.exceptions.PreventUpdate
    changes = {}
    if (note or "").strip() != (target.get("note") or "").strip():
        changes["note"] = note or ""
    if day != target.get("day"):
        changes["occurred_at"] = care.on_day(day, target.get("time") or "12:00:00")
    if contact_id != target.get("contact_id"):
        changes["contact_id"] = contact_id
    if not changes:
        return False, None, KEEP, KEEP, KEEP, KEEP, KEEP, None, KEEP, ok_alert("Nothing changed.")
    try:
        edit_activity(target.get("id"), changes, now(), actor=acting_admin())
    except ValidationError as exc:
        return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert(f"Nothing was saved: {exc}"), KEEP, KEEP
    return False, None, KEEP, KEEP, KEEP, KEEP, KEEP, None, (version or 0) + 1, ok_alert("The activity is updated.")


# -- undo an approval ----------------------------------------------------------------------------
def _undo_dialog() -> dbc.Modal:
    return care.dialog(
        "investor-undo",
        "Undo this approval?",
        [
            html.P(id="investor-undo-text", className="fw-semibold"),
            html.P(
                "The activity is withdrawn from the contact's record and the proposal goes back to the "
                "Approvals queue, where it can be approved again or rejected. The approval and its undoing "
                "both stay in the audit log."
            ),
            dbc.Checkbox(
                id="investor-undo-whole",
                value=False,
                label="Undo the whole bulk action: every proposal decided together with this one goes back "
                "to the queue too",
            ),
            html.Div(id="investor-undo-error", className="mt-2"),
        ],
        [dbc.Button("Undo approval", id="investor-undo-confirm", color="warning")],
        store_id="investor-undo-target",
    )


@dash.callback(
    Output("investor-undo-modal", "is_open"),
    Output("investor-undo-target", "data"),
    Output("investor-undo-text", "children"),
    Output("investor-undo-whole", "value"),
    Output("investor-undo-error", "children"),
    Output("investor-version", "data", allow_duplicate=True),
    Output("investor-message", "children", allow_duplicate=True),
    Input({"type": "investor-activity-undo", "id": ALL}, "n_clicks"),
    Input("investor-undo-cancel", "n_clicks"),
    Input("investor-undo-confirm", "n_clicks"),
    State("investor-undo-whole", "value"),
    State("investor-undo-target", "data"),
    State("investor-id", "data"),
    State("investor-version", "data"),
    prevent_initial_call=True,
)
def undo_dialog(_undo_clicks, _cancel, _confirm, whole_action, target, investor_id, version):
    trigger = ctx.triggered_id
    if trigger == "investor-undo-cancel":
        return False, None, KEEP, False, None, KEEP, KEEP
    clicked = _clicked("investor-activity-undo")
    if clicked is not None:
        item = _timeline_item(_id(investor_id), clicked)
        if item is None or not item["proposal_id"]:
            return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert("That approval can no longer be undone here.")
        text = f"“{item['summary']}” on {item['contact_name']}'s record, approved by {item['created_by'] or '—'}."
        return True, {"proposal_id": item["proposal_id"]}, text, False, None, KEEP, KEEP
    if trigger != "investor-undo-confirm" or not isinstance(target, dict):
        raise dash.exceptions.PreventUpdate
    try:
        result = undo(
            target.get("proposal_id"),
            acting_admin(),
            now(),
            directory=runtime().directory,
            whole_action=bool(whole_action),
        )
    except ValidationError as exc:
        return KEEP, KEEP, KEEP, KEEP, error_alert(f"Nothing was undone: {exc}"), KEEP, KEEP
    queries.clear_cache()
    message = (
        f"Undone: {plural(len(result.undone), 'proposal')} back in the Approvals queue, "
        f"{plural(len(result.activities_withdrawn), 'activity', 'activities')} withdrawn."
    )
    return False, None, KEEP, False, None, (version or 0) + 1, ok_alert(message)
