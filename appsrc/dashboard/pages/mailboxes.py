"""Mailboxes: the fund's capture scope, then per team mailbox its lifecycle (active, paused,
deactivated, removed), sync state, backfill progress, counters, the last error with its fix, and
the admin's actions: "Sync now" (which asks the worker; it never syncs inside the web request),
pause, resume and remove.

The two dialogs (reducing mail to bare sightings, removing a mailbox) live outside the cards: the
5-second refresh rebuilds the cards, and must neither close an open dialog nor wipe what the
admin typed in it. Actions ask for a refresh by bumping the interval's counter.
"""

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm.capture_policy import ConfirmationNeeded, policy, set_scope
from appsrc.crm.mailboxes import pause, remove, request_sync, resume
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.cards import mailbox_card
from appsrc.dashboard.components import empty, error_alert, now, ok_alert, page_header, plural
from appsrc.store import queries

dash.register_page(__name__, path="/mailboxes", name="Mailboxes", order=60, title="Mailboxes · IR Mail Desk")

ACTIONS = ("pause", "resume", "remove")
SCOPE_NAMES = {"investors": "Investor mail only", "all": "All external mail"}
KEEP = dash.no_update


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Mailboxes",
                "What is captured, and the capture health of every team mailbox. Refreshes every 5 seconds.",
            ),
            dcc.Interval(id="mailboxes-refresh", interval=5_000),
            dcc.Store(id="mailboxes-scope-version", data=0),
            _scope_card(),
            html.Div(id="mailboxes-message"),
            html.Div(id="mailboxes-cards", children=dbc.Spinner(color="primary")),
            _scope_dialog(),
            _remove_dialog(),
        ]
    )


# -- the capture scope --------------------------------------------------------------------------
def _scope_card() -> dbc.Card:
    """Data-free: the scope, its options and their meaning are loaded by `scope_view`."""
    return dbc.Card(
        [
            dbc.CardHeader("Capture scope"),
            dbc.CardBody(
                [
                    html.Div(id="mailboxes-scope-now", className="mb-1"),
                    html.Div(id="mailboxes-scope-counts", className="small-muted mb-3"),
                    dbc.RadioItems(id="mailboxes-scope-choice", options=[], value=None, className="mb-2"),
                    html.P(
                        "Switching to all external mail fetches the emails kept without content again, in full, "
                        "in the background. Switching to investor mail only asks you to confirm first when it "
                        "would delete the content of emails already stored.",
                        className="small-muted mb-2",
                    ),
                    dbc.Button("Apply", id="mailboxes-scope-apply", color="primary", size="sm"),
                    html.Div(id="mailboxes-scope-message", className="mt-2"),
                ]
            ),
        ],
        className="mb-3",
        id="mailboxes-scope-card",
    )


def _scope_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Keep investor mail only?")),
            dbc.ModalBody(id="mailboxes-scope-dialog-text"),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="mailboxes-scope-cancel", color="secondary", outline=True),
                    dbc.Button("Reduce emails", id="mailboxes-scope-confirm", color="danger"),
                ]
            ),
        ],
        id="mailboxes-scope-dialog",
        is_open=False,
        backdrop="static",
    )


@dash.callback(
    Output("mailboxes-scope-now", "children"),
    Output("mailboxes-scope-choice", "options"),
    Output("mailboxes-scope-choice", "value"),
    Input("mailboxes-scope-version", "data"),
)
def scope_view(_version):
    """The scope as it is and what each one means: on load and after a change, never on the
    refresh, so a choice not yet applied stays chosen."""
    now_ = policy()
    options = [
        {
            "label": html.Span([html.Strong(SCOPE_NAMES.get(scope, scope)), html.Div(help_, className="small-muted")]),
            "value": scope,
        }
        for scope, help_ in now_["scopes"].items()
    ]
    stated = html.Span(
        ["Capturing now: ", html.Strong(SCOPE_NAMES.get(now_["scope"], now_["scope"]), id="mailboxes-scope-current")]
    )
    return stated, options, now_["scope"]


@dash.callback(
    Output("mailboxes-scope-dialog", "is_open"),
    Output("mailboxes-scope-dialog-text", "children"),
    Output("mailboxes-scope-confirm", "children"),
    Output("mailboxes-scope-message", "children"),
    Output("mailboxes-scope-version", "data"),
    Input("mailboxes-scope-apply", "n_clicks"),
    Input("mailboxes-scope-confirm", "n_clicks"),
    Input("mailboxes-scope-cancel", "n_clicks"),
    State("mailboxes-scope-choice", "value"),
    State("mailboxes-scope-version", "data"),
    prevent_initial_call=True,
)
def apply_scope(_apply, _confirm, _cancel, chosen, version):
    """Apply the chosen scope. Reducing stored mail opens the dialog instead, and only its
    confirm button reduces (it always means `investors`, whatever the radio shows by then)."""
    trigger = ctx.triggered_id
    if trigger == "mailboxes-scope-cancel":
        return False, KEEP, KEEP, KEEP, KEEP
    if trigger not in ("mailboxes-scope-apply", "mailboxes-scope-confirm"):
        raise dash.exceptions.PreventUpdate
    confirming = trigger == "mailboxes-scope-confirm"
    try:
        change = set_scope("investors" if confirming else chosen, now(), confirm=confirming, actor=acting_admin())
    except ConfirmationNeeded as exc:
        count = exc.counts.get("emails_reduced") or policy()["emails_out_of_scope"]
        return True, _reduction_text(count), f"Reduce {plural(count, 'email')}", None, KEEP
    except ValidationError as exc:
        return False, KEEP, KEEP, error_alert(str(exc)), KEEP
    queries.clear_cache()
    return False, KEEP, KEEP, ok_alert(_scope_result(change.as_dict())), (version or 0) + 1


def _reduction_text(count: int) -> list:
    return [
        html.P(
            [
                "Switching to investor mail only deletes the content of ",
                html.Strong(plural(count, "email"), id="mailboxes-scope-dialog-count"),
                " that are not investor mail.",
            ]
        ),
        html.P(
            "Each one is kept as a bare sighting: who wrote to whom and when, with no subject, body or attachment "
            "names, and it no longer shows in search. If its people later become investors or contacts, it is "
            "fetched again from Gmail and stored in full."
        ),
        html.P(
            "Switching back to all external mail fetches them again from Gmail, as long as the mailboxes still "
            "hold them.",
            className="small-muted mb-0",
        ),
    ]


def _scope_result(change: dict) -> str:
    name = SCOPE_NAMES.get(change["scope"], change["scope"]).lower()
    if not change["changed"]:
        return f"Already capturing {name}: nothing changed."
    if change["scope"] == "investors":
        reduced = change["emails_reduced"]
        return f"Now capturing {name}." + (
            f" {plural(reduced, 'email')} reduced to bare sightings (who and when, no content)." if reduced else ""
        )
    queued = change["refetch_queued"]
    return f"Now capturing {name}." + (
        f" {plural(queued, 'email')} kept without content will be fetched in full in the background, at Gmail's "
        "quota pace."
        if queued
        else ""
    )


# -- the mailboxes ------------------------------------------------------------------------------
@dash.callback(
    Output("mailboxes-cards", "children"),
    Output("mailboxes-message", "children"),
    Output("mailboxes-scope-counts", "children"),
    Input("mailboxes-refresh", "n_intervals"),
    Input({"type": "mailboxes-sync", "id": ALL}, "n_clicks"),
)
def render(_n, clicks):
    """The cards and the bare-sighting totals, every 5 seconds and after an action; "Sync now"."""
    message = None
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "mailboxes-sync" and any(clicks or []):
        try:
            account = request_sync(parse_id(trigger["id"], field="account_id"), now(), actor=acting_admin())
            message = ok_alert(f"Sync requested for {account.address}: the worker starts it within seconds.")
        except ValidationError as exc:
            message = error_alert(str(exc))
    mailboxes = queries.list_mailboxes()
    message = message if message is not None else KEEP
    bare, queued = sum(m["bare"] for m in mailboxes), sum(m["refetch_pending"] for m in mailboxes)
    counts = f"{plural(bare, 'email')} kept without content (bare sightings) · {queued:,} queued to be fetched in full"
    if not mailboxes:
        return (
            empty("No mailboxes yet: add team members on the Users page or with `python -m appsrc users add`."),
            message,
            counts,
        )
    cards = [
        dbc.Col(
            mailbox_card(
                m,
                allow_sync=True,
                button_id={"type": "mailboxes-sync", "id": m["id"]},
                action_ids={action: {"type": f"mailboxes-{action}", "id": m["id"]} for action in ACTIONS},
            ),
            xl=4,
            lg=6,
        )
        for m in mailboxes
    ]
    return dbc.Row(cards, className="g-3"), message, counts


@dash.callback(
    Output("mailboxes-message", "children", allow_duplicate=True),
    Output("mailboxes-refresh", "n_intervals"),
    Input({"type": "mailboxes-pause", "id": ALL}, "n_clicks"),
    Input({"type": "mailboxes-resume", "id": ALL}, "n_clicks"),
    State("mailboxes-refresh", "n_intervals"),
    prevent_initial_call=True,
)
def pause_or_resume(pause_clicks, resume_clicks, refreshes):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any((pause_clicks or []) + (resume_clicks or [])):
        raise dash.exceptions.PreventUpdate
    try:
        account_id = parse_id(trigger.get("id"), field="account_id")
        if trigger.get("type") == "mailboxes-pause":
            account = pause(account_id, now(), actor=acting_admin())
            message = f"{account.address} is paused: no Gmail calls until you resume it."
        else:
            account = resume(account_id, now(), actor=acting_admin())
            message = f"{account.address} is captured again: the worker picks it up within seconds."
    except ValidationError as exc:
        return error_alert(str(exc)), KEEP
    return ok_alert(message), (refreshes or 0) + 1


def _remove_dialog() -> dbc.Modal:
    return dbc.Modal(
        [
            dcc.Store(id="mailboxes-remove-target", data=None),
            dbc.ModalHeader(dbc.ModalTitle(["Remove ", html.Span(id="mailboxes-remove-address"), "?"])),
            dbc.ModalBody(
                [
                    html.P("Capture of this mailbox stops, and what it gave is deleted:"),
                    html.Ul(
                        [
                            html.Li(
                                "its captured emails and those kept without content are deleted from this appliance;"
                            ),
                            html.Li("an email another team mailbox also holds stays;"),
                            html.Li(
                                "emails with decisions on them (approved or rejected activities) stay as history, "
                                "hidden from search and the approval queue;"
                            ),
                            html.Li("resuming the mailbox later starts a new backfill from Gmail."),
                        ]
                    ),
                    html.P("Nothing changes in Gmail itself.", className="small-muted"),
                    dbc.Label("Type the mailbox's address to confirm", html_for="mailboxes-remove-typed"),
                    dbc.Input(id="mailboxes-remove-typed", value="", autocomplete="off", maxLength=320),
                    html.Div(id="mailboxes-remove-error", className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id="mailboxes-remove-cancel", color="secondary", outline=True),
                    dbc.Button("Remove mailbox", id="mailboxes-remove-confirm", color="danger", disabled=True),
                ]
            ),
        ],
        id="mailboxes-remove-dialog",
        is_open=False,
        backdrop="static",
    )


@dash.callback(
    Output("mailboxes-remove-dialog", "is_open"),
    Output("mailboxes-remove-target", "data"),
    Output("mailboxes-remove-address", "children"),
    Output("mailboxes-remove-typed", "value"),
    Output("mailboxes-remove-error", "children"),
    Output("mailboxes-message", "children", allow_duplicate=True),
    Output("mailboxes-refresh", "n_intervals", allow_duplicate=True),
    Input({"type": "mailboxes-remove", "id": ALL}, "n_clicks"),
    Input("mailboxes-remove-cancel", "n_clicks"),
    Input("mailboxes-remove-confirm", "n_clicks"),
    State("mailboxes-remove-typed", "value"),
    State("mailboxes-remove-target", "data"),
    State("mailboxes-refresh", "n_intervals"),
    prevent_initial_call=True,
)
def removal(open_clicks, _cancel, _confirm, typed, target, refreshes):
    """Open the dialog for one mailbox, close it, or remove the mailbox once its address is typed
    (the server checks the address again: the button's state is only a convenience)."""
    trigger = ctx.triggered_id
    if trigger == "mailboxes-remove-cancel":
        return False, None, KEEP, "", None, KEEP, KEEP
    if isinstance(trigger, dict):
        if not any(open_clicks or []):
            raise dash.exceptions.PreventUpdate
        try:
            account_id = parse_id(trigger.get("id"), field="account_id")
        except ValidationError as exc:
            return KEEP, KEEP, KEEP, KEEP, KEEP, error_alert(str(exc)), KEEP
        mailbox = next((m for m in queries.list_mailboxes() if m["id"] == account_id), None)
        if mailbox is None:
            return KEEP, KEEP, KEEP, KEEP, KEEP, error_alert("That mailbox no longer exists."), KEEP
        return True, {"id": mailbox["id"], "address": mailbox["address"]}, mailbox["address"], "", None, KEEP, KEEP
    if trigger != "mailboxes-remove-confirm" or not isinstance(target, dict):
        raise dash.exceptions.PreventUpdate
    try:
        counts = remove(parse_id(target.get("id"), field="account_id"), typed, now(), actor=acting_admin())
    except ValidationError as exc:
        return KEEP, KEEP, KEEP, KEEP, error_alert(str(exc)), KEEP, KEEP
    queries.clear_cache()
    return False, None, KEEP, "", None, ok_alert(_removed(target.get("address", ""), counts)), (refreshes or 0) + 1


def _removed(address: str, counts: dict) -> str:
    kept = counts["emails_kept_as_history"]
    return (
        f"{address} is removed: {plural(counts['sightings_removed'], 'captured email')} and "
        f"{counts['bare_removed']:,} kept without content removed from it; "
        f"{plural(counts['emails_deleted'], 'email')} no other mailbox holds deleted"
        + (f", {kept:,} with decisions kept as history" if kept else "")
        + "."
    )


@dash.callback(
    Output("mailboxes-remove-confirm", "disabled"),
    Input("mailboxes-remove-typed", "value"),
    Input("mailboxes-remove-target", "data"),
)
def removal_ready(typed, target):
    """The remove button is enabled once the address typed is the mailbox's own."""
    address = target.get("address") if isinstance(target, dict) else None
    return not (address and isinstance(typed, str) and typed.strip().lower() == str(address).lower())
