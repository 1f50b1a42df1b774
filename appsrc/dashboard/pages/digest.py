"""The daily digest: the schedule (on/off, send hour in the fund's local time), "Send Test Digest
Email" and "Send Digest Now" as background jobs with their status, the preview exactly as the
admins receive it, and the history of every attempt.

The service and its jobs are the ones the admin API uses (`digest_service()`, `digest_jobs()`):
one send-now and one test email at a time across the API and the dashboard. The preview's HTML is
shown in a sandboxed `iframe` (`srcDoc`), never injected into the dashboard's own page.
"""

from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from appsrc.app_services import digest_jobs, digest_service
from appsrc.crm import audit
from appsrc.dashboard.access import acting_admin, current_user
from appsrc.dashboard.components import (
    empty,
    error_alert,
    local,
    now,
    ok_alert,
    page_header,
    plural,
    tz_name,
)
from appsrc.digest.jobs import JobBusy
from appsrc.digest.policy import PolicyError, update_digest_policy
from appsrc.mail.mailer import RecipientNotAllowed, active_admin_addresses
from appsrc.store import queries

dash.register_page(__name__, path="/digest", name="Digest", order=65, title="Digest · IR Mail Desk")

POLL_MS = 1_000
HISTORY_LIMIT = 50
KIND_LABELS = {"scheduled": "Scheduled", "send-now": "Send now", "test": "Test email"}
STATUS_COLORS = {
    "sent": "success",
    "pending": "info",
    "failed": "danger",
    "interrupted": "warning",
    "unconfirmed": "warning",
}
SOURCE_HELP = {
    "database": "Saved by an admin on this page.",
    "environment": "From the appliance's configuration (CRM_DIGEST_ENABLED / CRM_DIGEST_SEND_HOUR) until an "
    "admin saves it here.",
    "default": "The default (off, 18:00) until an admin saves it here.",
}


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Daily digest",
                "One internal email a day to the fund's active admins: each teammate's "
                "investor mail in a paragraph, then activity by investor. It is the only "
                "mail the appliance sends, and never to investors.",
            ),
            dcc.Store(id="digest-version", data=0),  # the schedule changed
            dcc.Store(id="digest-runs-version", data=0),  # a job started
            dcc.Interval(id="digest-poll", interval=POLL_MS, disabled=True),
            html.Div(id="digest-message"),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Schedule"),
                                dbc.CardBody(
                                    [
                                        dbc.Switch(id="digest-enabled", label="Send the daily digest", value=False),
                                        dbc.Label(
                                            "Send at (the fund's local time)",
                                            html_for="digest-hour",
                                            className="mt-2 mb-1",
                                        ),
                                        dcc.Dropdown(
                                            id="digest-hour",
                                            options=[],
                                            value=None,
                                            clearable=False,
                                            searchable=False,
                                            className="mb-3",
                                        ),
                                        dbc.Button("Save schedule", id="digest-save", color="primary"),
                                        html.Div(id="digest-schedule", className="mt-3"),
                                    ]
                                ),
                            ],
                            className="h-100",
                        ),
                        lg=5,
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Send on demand"),
                                dbc.CardBody(
                                    [
                                        html.H6("Test email", className="mb-1"),
                                        html.P(
                                            "A short test message, to check that the digest can be delivered. "
                                            "Only active "
                                            "admins can receive it.",
                                            className="small-muted mb-2",
                                        ),
                                        dcc.Dropdown(
                                            id="digest-test-recipients",
                                            options=[],
                                            value=[],
                                            multi=True,
                                            placeholder="Recipients (active admins)",
                                            className="mb-2",
                                        ),
                                        dbc.Button(
                                            "Send Test Digest Email",
                                            id="digest-send-test",
                                            color="secondary",
                                            outline=True,
                                        ),
                                        html.Div(id="digest-test-status", className="mt-2"),
                                        html.Hr(),
                                        html.H6("Digest now", className="mb-1"),
                                        html.P(
                                            "The real digest of the last 24 hours, to every active admin, right away. "
                                            "The daily schedule is not affected.",
                                            className="small-muted mb-2",
                                        ),
                                        dbc.Button(
                                            "Send Digest Now", id="digest-send-now", color="primary", outline=True
                                        ),
                                        html.Div(id="digest-now-status", className="mt-2"),
                                    ]
                                ),
                            ],
                            className="h-100",
                        ),
                        lg=7,
                    ),
                ],
                className="g-3 mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("Preview"),
                    dbc.CardBody(
                        [
                            dbc.Row(
                                [
                                    dbc.Col(
                                        dbc.RadioItems(
                                            id="digest-preview-window",
                                            inline=True,
                                            value="next",
                                            options=[
                                                {"label": "Next scheduled digest", "value": "next"},
                                                {"label": "Last 24 hours (what Send Digest Now sends)", "value": "24h"},
                                            ],
                                        ),
                                        md="auto",
                                    ),
                                    # Off until asked: with it on, every visit would cost one LLM call per teammate.
                                    dbc.Col(
                                        dbc.Switch(
                                            id="digest-preview-llm", label="Paragraphs by the local LLM", value=False
                                        ),
                                        md="auto",
                                    ),
                                    dbc.Col(
                                        dbc.Button(
                                            "Refresh preview",
                                            id="digest-preview-refresh",
                                            size="sm",
                                            color="secondary",
                                            outline=True,
                                        ),
                                        md="auto",
                                    ),
                                ],
                                className="g-3 align-items-center mb-2",
                            ),
                            dcc.Loading(html.Div(id="digest-preview"), type="default"),
                        ]
                    ),
                ],
                className="mb-3",
            ),
            dbc.Card([dbc.CardHeader("History"), html.Div(id="digest-history", children=dbc.Spinner(color="primary"))]),
        ]
    )


def hour_label(hour: int, zone: str) -> str:
    return f"{hour:02d}:00 ({zone})"


# -- the schedule ---------------------------------------------------------------------------------------
@dash.callback(
    Output("digest-enabled", "value"),
    Output("digest-hour", "options"),
    Output("digest-hour", "value"),
    Output("digest-schedule", "children"),
    Output("digest-test-recipients", "options"),
    Output("digest-test-recipients", "value"),
    Input("digest-version", "data"),
    State("digest-test-recipients", "value"),
)
def load_schedule(_version, chosen):
    service = digest_service()
    status = service.status()
    policy = status["policy"]
    zone = tz_name()
    hours = [{"label": hour_label(h, zone), "value": h} for h in range(24)]
    admins = active_admin_addresses()
    user = current_user()
    me = user.email.strip().lower() if user is not None else ""
    recipients = [a for a in (chosen or []) if a in admins] or ([me] if me in admins else admins[:1])
    return (
        policy["enabled"],
        hours,
        policy["send_hour"],
        _schedule_summary(status, zone),
        [{"label": a, "value": a} for a in admins],
        recipients,
    )


def _schedule_summary(status: dict, zone: str) -> html.Div:
    policy = status["policy"]
    at = hour_label(policy["send_hour"], zone)
    recipients = status["recipients"]
    if not policy["enabled"]:
        headline = [
            dbc.Badge("off", color="secondary", className="me-2"),
            f"No scheduled digest. Turn it on to send it every day at {at}.",
        ]
    else:
        headline = [dbc.Badge("on", color="success", className="me-2"), f"Every day at {at}."]
    today = {
        "due": "due now: the worker sends it within a minute.",
        "already sent (or claimed) today": f"already sent; the next one goes tomorrow at {at}.",
        "disabled": "nothing will be sent.",
    }.get(status["reason"], status["reason"])
    if status["reason"].startswith("before"):
        today = f"goes out at {at}."
    lines = [
        html.Div(headline, id="digest-schedule-headline"),
        html.Div(f"Today ({status['local_date']}): {today}", className="small-muted mt-1"),
        html.Div(
            f"To {plural(len(recipients), 'active admin')}: {', '.join(recipients) or 'nobody'}",
            className="small-muted",
        ),
        html.Div(f"Last scheduled digest covered mail up to {local(status['last_sent_at'])}", className="small-muted")
        if status["last_sent_at"]
        else None,
        html.Div(SOURCE_HELP.get(policy["source"], ""), className="small-muted"),
    ]
    if not recipients:
        lines.append(
            dbc.Alert(
                "There is no active admin, so no digest can be sent.", color="warning", className="py-2 mt-2 mb-0"
            )
        )
    return html.Div(lines)


# -- actions: save the schedule, start a job --------------------------------------------------------------
@dash.callback(
    Output("digest-version", "data"),
    Output("digest-runs-version", "data"),
    Output("digest-message", "children"),
    Input("digest-save", "n_clicks"),
    Input("digest-send-test", "n_clicks"),
    Input("digest-send-now", "n_clicks"),
    State("digest-enabled", "value"),
    State("digest-hour", "value"),
    State("digest-test-recipients", "value"),
    State("digest-version", "data"),
    State("digest-runs-version", "data"),
    prevent_initial_call=True,
)
def act(save, test, send_now, enabled, hour, recipients, version, runs_version):
    trigger = ctx.triggered_id
    if trigger not in ("digest-save", "digest-send-test", "digest-send-now") or not (save or test or send_now):
        raise dash.exceptions.PreventUpdate
    actor = acting_admin()
    service = digest_service()
    if trigger == "digest-save":
        try:
            policy = update_digest_policy(
                {"enabled": enabled, "send_hour": hour},
                now(),
                actor=actor,
                env_enabled=service.env_enabled,
                env_send_hour=service.env_send_hour,
            )
        except PolicyError as exc:
            return dash.no_update, dash.no_update, error_alert(f"Not saved: {exc}.")
        state = (
            f"on: every day at {hour_label(policy.send_hour, tz_name())}"
            if policy.enabled
            else "off: no scheduled digest"
        )
        return (version or 0) + 1, dash.no_update, ok_alert(f"Schedule saved. The daily digest is {state}.")
    kind = "test" if trigger == "digest-send-test" else "send-now"
    wanted = None
    if kind == "test":
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            return dash.no_update, dash.no_update, error_alert("Choose the test email's recipients.")
        wanted = recipients
    try:
        run = digest_jobs().start(kind, requested_by=actor, recipients=wanted)
    except JobBusy as exc:
        return (
            dash.no_update,
            (runs_version or 0) + 1,
            dbc.Alert(
                f"A {KIND_LABELS[kind].lower()} is already running (started {local(exc.run.created_at)}); "
                "its status is below.",
                color="warning",
                dismissable=True,
                className="py-2",
            ),
        )
    except RecipientNotAllowed as exc:
        return dash.no_update, dash.no_update, error_alert(f"Nothing sent: {exc}.")
    audit.record(
        f"digest.{kind.replace('-', '_')}",
        now(),
        actor=actor,
        target_type="digest_run",
        target_id=run.id,
        detail={"recipients": list(run.recipients)},
    )
    what = (
        f"Test email to {', '.join(run.recipients)}"
        if kind == "test"
        else f"Digest of the last 24 hours to {plural(len(run.recipients), 'active admin')}"
    )
    return dash.no_update, (runs_version or 0) + 1, ok_alert(f"{what}: sending… (status below).")


# -- job status and history (polled only while an attempt is pending) -------------------------------------
@dash.callback(
    Output("digest-history", "children"),
    Output("digest-test-status", "children"),
    Output("digest-now-status", "children"),
    Output("digest-poll", "disabled"),
    Input("digest-runs-version", "data"),
    Input("digest-poll", "n_intervals"),
)
def runs(_version, _n):
    items = queries.digest_runs(limit=HISTORY_LIMIT)
    running = any(r["status"] == "pending" and _recent(r) for r in items)
    latest = {kind: next((r for r in items if r["kind"] == kind), None) for kind in ("test", "send-now")}
    return (
        _history(items),
        _job_status(latest["test"], "digest-test-state"),
        _job_status(latest["send-now"], "digest-now-state"),
        not running,
    )


def _recent(run: dict) -> bool:
    """A pending attempt still running (an older one belongs to a stopped process: the worker marks
    it interrupted), so the page does not poll forever."""
    created = datetime.fromisoformat(run["created_at"].replace("Z", "+00:00"))
    return created >= now() - digest_service().stale_after


ERROR_KIND_NOTES = {
    "permanent": "needs a fix (retried hourly)",
    "transient": "retried shortly",
    "ambiguous": "may have been delivered: not resent",
}


def _status_badge(status: str, error_kind: str | None = None):
    badge = dbc.Badge(status, color=STATUS_COLORS.get(status, "light"), className="text-uppercase")
    note = ERROR_KIND_NOTES.get(error_kind or "")
    return html.Span([badge, html.Div(note, className="small-muted")]) if note else badge


def _job_status(run: dict | None, id_: str):
    if run is None:
        return html.Div("Not run yet.", className="small-muted", id=id_)
    if run["status"] == "pending":
        return html.Div(
            [
                dbc.Spinner(size="sm", color="primary", spinner_class_name="me-2"),
                f"Sending… (started {local(run['created_at'], '%H:%M:%S')} by {run['requested_by'] or '—'})",
            ],
            className="small",
            id=id_,
        )
    when = local(run["finished_at"] or run["created_at"])
    detail = [
        _status_badge(run["status"], run.get("error_kind")),
        " ",
        f"{when}"
        + (f" via {run['transport']}" if run["transport"] else "")
        + f" to {', '.join(run['recipients']) or '—'}",
    ]
    if run["error"]:
        detail.append(html.Div(run["error"], className="text-danger small mono mt-1"))
    return html.Div(detail, className="small", id=id_)


def _window(run: dict) -> str:
    if not run["window_start"]:
        return "—"
    return f"{local(run['window_start'], '%d %b %H:%M')} → {local(run['window_end'], '%d %b %H:%M')}"


def _history(items: list[dict]):
    if not items:
        return html.Div(empty("No digest has been sent yet."), className="px-3")
    rows = [
        html.Tr(
            [
                html.Td(local(r["created_at"]), className="text-nowrap small"),
                html.Td(KIND_LABELS.get(r["kind"], r["kind"]), className="small"),
                html.Td(_window(r), className="text-nowrap small"),
                html.Td(", ".join(r["recipients"]) or "—", className="small text-break"),
                html.Td(r["transport"] or "—", className="small"),
                html.Td(_status_badge(r["status"], r.get("error_kind"))),
                html.Td(r["error"] or "", className="small mono text-break"),
                html.Td(r["requested_by"] or "schedule", className="small"),
            ],
            id={"type": "digest-run", "id": r["id"]},
        )
        for r in items
    ]
    header = html.Thead(
        html.Tr(
            [
                html.Th(f"When ({tz_name()})"),
                html.Th("Kind"),
                html.Th("Window"),
                html.Th("Recipients"),
                html.Th("Transport"),
                html.Th("Status"),
                html.Th("Error"),
                html.Th("By"),
            ]
        )
    )
    return dbc.Table(
        [header, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0", id="digest-history-table"
    )


# -- the preview ---------------------------------------------------------------------------------------
@dash.callback(
    Output("digest-preview", "children"),
    Input("digest-preview-refresh", "n_clicks"),
    Input("digest-preview-window", "value"),
    Input("digest-preview-llm", "value"),
)
def preview(_n, window, use_llm):
    if window not in ("next", "24h"):
        return error_alert("Choose which digest to preview.")
    service = digest_service()
    digest = service.preview(window=window, use_llm=bool(use_llm))
    llm = digest["llm"]
    if not use_llm:
        llm_note = "Paragraphs are the count-only fallback (the local LLM is off for this preview)."
    elif service.chat_fn is None:
        llm_note = "No local LLM is configured (CRM_LLM_URL): paragraphs are count-only."
    elif llm["fallbacks"]:
        llm_note = (
            f"The local LLM wrote {llm['calls'] - llm['fallbacks']} of {llm['calls']} paragraphs; "
            "the others are count-only (it failed or was too slow)."
        )
    else:
        llm_note = f"The local LLM wrote {plural(llm['calls'], 'paragraph')}."
    facts = dbc.Table(
        html.Tbody(
            [
                html.Tr(
                    [html.Th("Subject", className="w-25"), html.Td(digest["subject"], id="digest-preview-subject")]
                ),
                html.Tr([html.Th("To"), html.Td(", ".join(digest["recipients"]) or "nobody (no active admin)")]),
                html.Tr(
                    [
                        html.Th("Window"),
                        html.Td(f"{local(digest['window_start'])} → {local(digest['window_end'])} ({tz_name()})"),
                    ]
                ),
                html.Tr(
                    [
                        html.Th("Content"),
                        html.Td(
                            f"{plural(digest['email_count'], 'email')}, "
                            f"{plural(digest['investor_count'], 'investor')}, "
                            f"{digest['user_count']} of {plural(digest['team_size'], 'teammate')} active"
                        ),
                    ]
                ),
            ]
        ),
        size="sm",
        borderless=True,
        className="mb-2",
    )
    return html.Div(
        [
            facts,
            html.Div(llm_note, className="small-muted mb-2"),
            # The HTML exactly as sent, isolated: an empty sandbox (no scripts, no forms, no same-origin).
            html.Iframe(
                srcDoc=digest["html"],
                sandbox="",
                title="Digest preview",
                id="digest-preview-frame",
                className="digest-frame",
            ),
            html.Details(
                [html.Summary("Plain-text version"), html.Pre(digest["body"], className="email-body mt-2")],
                className="mt-2",
            ),
        ]
    )
