"""One contact: name and addresses (editable), the approved activity timeline — the CRM record
that only approvals write to — the conversations the person took part in (paged), and the
record's care: merge duplicates into it, record that the person moved to another firm, or
delete it.

A merged contact's old address keeps working: the page sends the browser on to the contact it
was merged into. The dialogs sit outside what `render` rebuilds, so a re-render never closes one.
"""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from appsrc.crm.investors import update_contact
from appsrc.crm.record_care import contact_merged_into, delete_contact, merge_contacts, move_contact
from appsrc.crm.validation import ValidationError
from appsrc.dashboard import record_care_ui as care
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import empty, error_alert, now, ok_alert, plural, runtime
from appsrc.dashboard.conversation_ui import PAGE_SIZE, conversation_list, pager, turn_page
from appsrc.dashboard.record_care_ui import KEEP, short_day
from appsrc.store import queries

dash.register_page(
    __name__, path_template="/contacts/<contact_id>", name="Contact", nav=False, title="Contact · IR Mail Desk"
)


def layout(contact_id=None, **_kwargs):
    return html.Div(
        [
            *care.record_page_top(
                "contact",
                contact_id,
                [
                    care.merge_open_button("contact"),
                    dbc.Button(
                        "Moved to another firm…", id="contact-move-open", color="secondary", outline=True, size="sm"
                    ),
                    care.delete_open_button("contact"),
                ],
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Details"),
                                dbc.CardBody(
                                    [
                                        dbc.Label("Name"),
                                        dbc.Input(id="contact-name", maxLength=200, className="mb-2"),
                                        dbc.Label("Addresses (separated by ;)"),
                                        dbc.Textarea(id="contact-addresses", rows=2, className="mb-2"),
                                        dbc.Button("Save", id="contact-save", color="primary", size="sm"),
                                    ]
                                ),
                            ]
                        ),
                        lg=4,
                    ),
                    dbc.Col(
                        [
                            dbc.Card(
                                [dbc.CardHeader("Activity timeline"), dbc.CardBody(html.Div(id="contact-timeline"))],
                                className="mb-3",
                            ),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Conversations"),
                                    dbc.CardBody(
                                        [html.Div(id="contact-conversations"), pager("contact-conversations")]
                                    ),
                                ]
                            ),
                        ],
                        lg=8,
                    ),
                ],
                className="g-3",
            ),
            care.merge_dialog(
                "contact",
                "Pick the records that are the same person as this one. Their addresses, links to captured "
                "mail, proposals and approved activities move here, and each duplicate disappears; links to "
                "its old page open this one. No captured email is deleted.",
            ),
            _move_dialog(),
            care.delete_dialog(
                "contact",
                [
                    "The contact is hidden everywhere, and no longer proposed for new mail.",
                    "Its captured mail is kept and matched again by the investor's domains; its approved "
                    "activities stay on the investor's record.",
                ],
            ),
        ]
    )


def _id(value):
    return care.record_id_of(value, "contact_id")


@dash.callback(
    Output("contact-conversations", "children"),
    Output("contact-conversations-pager", "data"),
    Output("contact-conversations-newer", "disabled"),
    Output("contact-conversations-older", "disabled"),
    Input("contact-id", "data"),
    Input("contact-version", "data"),
    Input("contact-conversations-newer", "n_clicks"),
    Input("contact-conversations-older", "n_clicks"),
    State("contact-conversations-pager", "data"),
)
def conversations(contact_id, _version, _newer, _older, state):
    """The conversations this person took part in, newest first, a page at a time."""
    record = _id(contact_id)
    page, state, newer_off, older_off = turn_page(
        "contact-conversations",
        ctx.triggered_id,
        state,
        lambda cursor: queries.contact_conversations(record, limit=PAGE_SIZE, cursor=cursor) if record else None,
    )
    body = conversation_list(page["items"], "contact-conversation-list") if page else None
    return body, state, newer_off, older_off


@dash.callback(
    Output("contact-header", "children"),
    Output("contact-name", "value"),
    Output("contact-addresses", "value"),
    Output("contact-timeline", "children"),
    Input("contact-id", "data"),
    Input("contact-version", "data"),
)
def render(contact_id, _version):
    contact = queries.contact_detail(_id(contact_id)) if _id(contact_id) else None
    if contact is None:
        return _missing(_id(contact_id)), "", "", None
    header = html.Div(
        [
            html.H2(contact["name"], className="page-title", id="contact-title"),
            html.P(
                [
                    dcc.Link(contact["investor_name"], href=f"/investors/{contact['investor_id']}"),
                    dbc.Badge("graveyard", color="dark", className="ms-2") if contact["graveyard"] else None,
                    html.Span(" · " + ", ".join(contact["addresses"])),
                ],
                className="page-subtitle",
            ),
        ]
    )
    items = queries.activity_timeline(contact_id=contact["id"], limit=100)["items"]
    if items:
        body = html.Div(
            [
                html.Div(
                    [
                        *care.activity_headline(a),
                        html.Div(a["snippet"] or "", className="small text-muted"),
                        html.Div(a["note"], className="small activity-note") if a["note"] else None,
                        html.Div(
                            f"approved by {a['created_by'] or '—'} on {short_day(a['created_at'])}"
                            + (f" · edited {short_day(a['edited_at'])}" if a["edited_at"] else "")
                            + (f" · at {a['investor_name']}" if a["investor_id"] != contact["investor_id"] else ""),
                            className="small-muted",
                        ),
                    ],
                    className="timeline-item",
                )
                for a in items
            ],
            className="timeline",
            id="contact-timeline-items",
        )
    else:
        body = empty("No approved activity yet: approve proposals for this contact on the Approvals page.")
    return header, contact["name"], "; ".join(contact["addresses"]), body


def _missing(contact_id: int | None):
    return care.record_gone_notice(
        contact_id,
        "contact",
        merged_into=contact_merged_into,
        detail=queries.contact_detail,
        merged_tail=lambda survivor: f" ({survivor['investor_name']}). Opening it…",
        restore_what="the contact",
    )


@dash.callback(
    Output("contact-redirect", "href"),
    Output("contact-actions", "style"),
    Input("contact-id", "data"),
    Input("contact-version", "data"),
)
def page_state(contact_id, _version):
    """Old links keep working: a merged contact's page moves on to the one it was merged into.
    The record's actions show only on a live contact."""
    return care.page_state(_id(contact_id), "contact", merged_into=contact_merged_into, detail=queries.contact_detail)


@dash.callback(
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-save", "n_clicks"),
    State("contact-id", "data"),
    State("contact-name", "value"),
    State("contact-addresses", "value"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def save(_n, contact_id, name, addresses, version):
    actor = acting_admin()
    try:
        stats = update_contact(
            _id(contact_id) or 0,
            now(),
            directory=runtime().directory,
            name=name or "",
            addresses=addresses or "",
            actor=actor,
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    return (version or 0) + 1, care.saved_alert(stats)


# -- merge duplicates ---------------------------------------------------------------------------
def _contact_choices(exclude: int | None) -> list[dict]:
    """Every live contact of every live investor, labelled with the firm and addresses so that two
    people of the same name can be told apart."""
    options = []
    for c in queries.contact_choices(exclude=exclude):
        label = f"{c['name']} · {c['investor_name']}" + (f" · {', '.join(c['addresses'])}" if c["addresses"] else "")
        options.append({"label": label, "value": c["id"]})
    return sorted(options, key=lambda o: o["label"].casefold())


@dash.callback(
    Output("contact-merge-modal", "is_open"),
    Output("contact-merge-from", "options"),
    Output("contact-merge-from", "value"),
    Output("contact-merge-preview", "children"),
    Output("contact-merge-confirm", "disabled"),
    Output("contact-merge-previewed", "data"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-merge-open", "n_clicks"),
    Input("contact-merge-cancel", "n_clicks"),
    Input("contact-merge-check", "n_clicks"),
    Input("contact-merge-confirm", "n_clicks"),
    Input("contact-merge-from", "value"),
    State("contact-id", "data"),
    State("contact-merge-previewed", "data"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def merge_dialog(_open, _cancel, _check, _confirm, chosen, contact_id, previewed, version):
    """Open the dialog, preview a merge (a dry run: nothing changes), or merge. "Merge" merges
    exactly the contacts last previewed; picking others asks for a new preview."""
    survivor_id = _id(contact_id)
    return care.merge_dialog_update(
        ctx.triggered_id,
        "contact",
        survivor_id,
        chosen,
        previewed,
        version,
        choices=lambda: _contact_choices(survivor_id),
        merge=merge_contacts,
        preview=_merge_preview,
        summary=_merged_summary,
    )


def _merge_preview(preview: dict) -> html.Div:
    """What each duplicate brings: its firm, addresses, and what is linked to it."""
    return care.merge_preview(
        preview,
        "contact",
        header=lambda duplicate: html.Span(duplicate["name"], className="fw-semibold"),
        rows=lambda duplicate: [
            ("At", duplicate["investor_name"]),
            ("Addresses", ", ".join(duplicate["addresses"]) or "none"),
            ("Approved activities", f"{duplicate['activities']:,}"),
            ("Pending proposals", f"{duplicate['pending_proposals']:,}"),
        ],
    )


def _merged_summary(result: dict) -> str:
    moved = result["from"]
    return care.merged_summary(
        result,
        [
            plural(sum(len(d["addresses"]) for d in moved), "address", "addresses"),
            plural(sum(d["activities"] for d in moved), "approved activity", "approved activities"),
            plural(sum(d["pending_proposals"] for d in moved), "pending proposal"),
        ],
    )


# -- moved to another firm -----------------------------------------------------------------------
def _move_dialog() -> dbc.Modal:
    return care.dialog(
        "contact-move",
        "Moved to another firm",
        [
            html.P(
                [
                    "Record that ",
                    html.Strong(id="contact-move-name"),
                    " joined another investor. Their mail and approved activities from that day on go to "
                    "the new firm; what came before stays with ",
                    html.Strong(id="contact-move-from"),
                    ".",
                ]
            ),
            dbc.Label("New firm", html_for="contact-move-investor"),
            dcc.Dropdown(id="contact-move-investor", options=[], placeholder="Pick the investor…"),
            dbc.Label("Since", html_for="contact-move-since", className="mt-2"),
            dbc.Input(id="contact-move-since", type="date"),
            html.Div(id="contact-move-error", className="mt-2"),
        ],
        [dbc.Button("Move contact", id="contact-move-confirm", color="primary")],
    )


@dash.callback(
    Output("contact-move-modal", "is_open"),
    Output("contact-move-name", "children"),
    Output("contact-move-from", "children"),
    Output("contact-move-investor", "options"),
    Output("contact-move-investor", "value"),
    Output("contact-move-since", "value"),
    Output("contact-move-error", "children"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-move-open", "n_clicks"),
    Input("contact-move-cancel", "n_clicks"),
    Input("contact-move-confirm", "n_clicks"),
    State("contact-id", "data"),
    State("contact-move-investor", "value"),
    State("contact-move-since", "value"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def move_dialog(_open, _cancel, _confirm, contact_id, investor_id, since, version):
    trigger = ctx.triggered_id
    record_id = _id(contact_id)
    if trigger == "contact-move-cancel":
        return False, KEEP, KEEP, KEEP, None, KEEP, None, KEEP, KEEP
    contact = queries.contact_detail(record_id) if record_id else None
    if trigger == "contact-move-open":
        if contact is None:
            return (KEEP,) * 8 + (error_alert("This contact no longer exists."),)
        options = [
            {"label": i["name"] + (" (graveyard)" if i["graveyard"] else ""), "value": i["id"]}
            for i in queries.list_investors(include_graveyard=True)
            if i["id"] != contact["investor_id"]
        ]
        today = now().astimezone(runtime().settings.tz).date().isoformat()
        return True, contact["name"], contact["investor_name"], options, None, today, None, KEEP, KEEP
    if trigger != "contact-move-confirm":
        raise dash.exceptions.PreventUpdate
    if investor_id is None:
        return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert("Pick the firm they joined."), KEEP, KEEP
    try:
        result = move_contact(
            record_id or 0,
            investor_id,
            care.on_day(since, "00:00:00"),  # from the start of that day: mail sent that day is the new firm's
            now(),
            directory=runtime().directory,
            actor=acting_admin(),
        )
    except ValidationError as exc:
        return KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, error_alert(f"Nothing was moved: {exc}"), KEEP, KEEP
    queries.clear_cache()
    target = queries.investor_detail(result["to_investor_id"])
    name = contact["name"] if contact else "The contact"
    message = (
        f"{name} moved to {target['name'] if target else 'the new firm'} from {short_day(result['since'])}: "
        f"{plural(result['activities_moved'], 'approved activity', 'approved activities')} from that day on went "
        f"with them; {plural(result['rematched']['emails'], 'captured email')} rematched."
    )
    return False, KEEP, KEEP, KEEP, None, KEEP, None, (version or 0) + 1, ok_alert(message)


# -- delete --------------------------------------------------------------------------------------
@dash.callback(
    Output("contact-delete-modal", "is_open"),
    Output("contact-delete-name", "children"),
    Output("contact-delete-error", "children"),
    Output("contact-version", "data", allow_duplicate=True),
    Output("contact-message", "children", allow_duplicate=True),
    Input("contact-delete-open", "n_clicks"),
    Input("contact-delete-cancel", "n_clicks"),
    Input("contact-delete-confirm", "n_clicks"),
    State("contact-id", "data"),
    State("contact-version", "data"),
    prevent_initial_call=True,
)
def delete_dialog(_open, _cancel, _confirm, contact_id, version):
    trigger = ctx.triggered_id
    record_id = _id(contact_id)
    if trigger == "contact-delete-cancel":
        return False, KEEP, None, KEEP, KEEP
    contact = queries.contact_detail(record_id) if record_id else None
    if trigger == "contact-delete-open":
        if contact is None:
            return False, KEEP, None, KEEP, error_alert("This contact no longer exists.")
        return True, contact["name"], None, KEEP, KEEP
    if trigger != "contact-delete-confirm":
        raise dash.exceptions.PreventUpdate
    try:
        result = delete_contact(record_id or 0, now(), directory=runtime().directory, actor=acting_admin())
    except ValidationError as exc:
        return KEEP, KEEP, error_alert(f"Nothing was deleted: {exc}"), KEEP, KEEP
    queries.clear_cache()
    message = care.deleted_notice(
        "contact",
        f"{contact['name'] if contact else 'The contact'} is deleted: hidden everywhere, its captured mail "
        f"kept. You can restore it until {short_day(result['restorable_until'])} under ",
    )
    return False, KEEP, None, (version or 0) + 1, message
