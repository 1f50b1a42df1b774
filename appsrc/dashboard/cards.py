"""Cards shared by several pages (a page module must never import another page module: Dash
executes page modules itself, and a second import would register their callbacks twice)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from appsrc.dashboard.components import local

STATE_COLORS = {
    "syncing": "success",
    "backfilling": "primary",
    "pending": "secondary",
    "degraded": "warning",
    "error": "danger",
    "disabled": "light",
}
STATE_HELP = {
    "syncing": "Up to date: new mail is captured every few minutes.",
    "backfilling": "Reading the mailbox's history for the first time.",
    "pending": "Waiting for its first sync.",
    "degraded": "Syncing, but the last attempt reported a problem.",
    "error": "Stopped by an error that needs a fix (below).",
    "disabled": "Sync is turned off for this mailbox.",
}
SKIP_LABELS = {
    "internal": "internal only",
    "excluded": "excluded",
    "unparseable": "unparseable",
    "spam_trash_chat": "spam, trash or chat",
    "draft": "drafts",
    "gone": "deleted before fetch",
    "error": "failed to process",
}


def mailbox_card(m: dict, *, allow_sync: bool, button_id=None) -> dbc.Card:
    """One mailbox's sync health: state, backfill progress, counters, last error and its fix."""
    progress = m["backfill_progress"] * 100
    total = m["messages_total"]
    skipped = ", ".join(f"{SKIP_LABELS.get(k, k)} {v:,}" for k, v in sorted(m["skipped_reasons"].items()))
    body = [
        html.Div(
            [
                dbc.Badge(m["sync_state"], color=STATE_COLORS.get(m["sync_state"], "secondary"), className="me-2"),
                html.Span(STATE_HELP.get(m["sync_state"], ""), className="small-muted"),
            ],
            className="mb-2",
        ),
        html.Div("Backfill", className="small-muted"),
        dbc.Progress(
            value=progress,
            label=f"{progress:.0f}%" if progress >= 8 else "",
            className="mb-1",
            color="success" if m["backfill_state"] == "done" else "primary",
            striped=m["backfill_state"] != "done",
            animated=m["backfill_state"] == "running",
        ),
        html.Div(
            f"{m['backfill_listed']:,} listed" + (f" of about {total:,} in the mailbox" if total else ""),
            className="small-muted mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    [html.Div(f"{m['listed']:,}", className="fw-semibold"), html.Div("listed", className="small-muted")]
                ),
                dbc.Col(
                    [html.Div(f"{m['stored']:,}", className="fw-semibold"), html.Div("stored", className="small-muted")]
                ),
                dbc.Col(
                    [
                        html.Div(f"{m['skipped']:,}", className="fw-semibold"),
                        html.Div("skipped", className="small-muted"),
                    ]
                ),
                dbc.Col(
                    [
                        html.Div(f"{m['failed']:,}", className="fw-semibold" + (" text-danger" if m["failed"] else "")),
                        html.Div("failed", className="small-muted"),
                    ]
                ),
            ],
            className="text-center mb-2",
        ),
        html.Div(f"Skipped: {skipped}", className="small-muted mb-2") if skipped else None,
        html.Div(
            f"Last sync {local(m['last_sync_at'])} · last success {local(m['last_success_at'])}",
            className="small-muted",
        ),
    ]
    if m["paused_until"]:
        body.append(html.Div(f"Paused by Gmail until {local(m['paused_until'])}", className="small text-warning"))
    if m["last_error"]:
        body.append(
            dbc.Alert(
                [
                    html.Div(
                        [
                            html.Strong(f"{(m['last_error_kind'] or 'error').capitalize()} error"),
                            html.Span(f" · {local(m['last_error_at'])}", className="small"),
                        ]
                    ),
                    html.Div(m["last_error"], className="mono"),
                    html.Div([html.Strong("Fix: "), m["last_error_fix"]], className="mt-1")
                    if m["last_error_fix"]
                    else None,
                ],
                color="danger" if m["last_error_kind"] == "permanent" else "warning",
                className="mt-2 mb-0 py-2",
            )
        )
    header = [html.Span(m["address"], className="fw-semibold")]
    if allow_sync:
        header.append(
            dbc.Button(
                "Sync now",
                id=button_id,
                size="sm",
                color="primary",
                outline=True,
                disabled=not m["sync_enabled"] or bool(m.get("sync_requested_at")),
                className="float-end",
            )
        )
        if m.get("sync_requested_at"):
            header.append(html.Span("sync requested…", className="small-muted float-end me-2"))
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3")
