"""Cards shared by several pages (a page module must never import another page module: Dash
executes page modules itself, and a second import would register their callbacks twice)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from appsrc.dashboard.components import local, plural

LIFECYCLE_COLORS = {"active": "success", "paused": "warning", "deactivated": "dark", "removed": "danger"}
LIFECYCLE_HELP = {
    "active": "Captured: new mail is read from Gmail every few minutes.",
    "paused": "Paused by an admin: no Gmail calls until it is resumed; what was captured stays.",
    "deactivated": "Its owner's user is deactivated: capture stopped, and what was captured stays.",
    "removed": "Removed by an admin: its captured mail was deleted. Resuming starts a new backfill.",
}
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


def mailbox_card(m: dict, *, allow_sync: bool, button_id=None, action_ids: dict[str, dict] | None = None) -> dbc.Card:
    """One mailbox's capture: its lifecycle and sync state, backfill progress, counters, the last
    error and its fix. The admin's buttons appear only with `allow_sync` (a teammate's Overview
    shows the same card without them); `action_ids` holds the ids of "pause", "resume" and
    "remove", whichever the mailbox's state allows."""
    progress = m["backfill_progress"] * 100
    total = m["messages_total"]
    skipped = ", ".join(f"{SKIP_LABELS.get(k, k)} {v:,}" for k, v in sorted(m["skipped_reasons"].items()))
    state = m.get("state", "active")
    body = [
        html.Div(
            [
                dbc.Badge(
                    state,
                    color=LIFECYCLE_COLORS.get(state, "secondary"),
                    className="me-1 mailbox-state",
                    title="capture",
                ),
                dbc.Badge(
                    m["sync_state"],
                    color=STATE_COLORS.get(m["sync_state"], "secondary"),
                    className="me-2 mailbox-sync-state",
                    title="last sync",
                ),
                html.Span(
                    STATE_HELP.get(m["sync_state"], "") if state == "active" else LIFECYCLE_HELP.get(state, ""),
                    className="small-muted",
                ),
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
            f"{m['bare']:,} kept without content (who and when only, not searchable)",
            className="small-muted mb-2 mailbox-bare",
        )
        if m.get("bare")
        else None,
        html.Div(_refetch_line(m["refetch_pending"], state), className="small text-primary mb-2 mailbox-refetch")
        if m.get("refetch_pending")
        else None,
        html.Div(
            f"Last sync {local(m['last_sync_at'])} · last success {local(m['last_success_at'])}",
            className="small-muted",
        ),
        html.Div(
            f"{'Syncing now on' if m.get('worker_syncing') else 'Last synced by'} worker {m['worker']}",
            className="small-muted",
        )
        if m.get("worker")
        else None,
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
    header = [html.Span(m["address"], className="fw-semibold me-auto")]
    if allow_sync:
        if m.get("sync_requested_at") and state == "active":
            header.append(html.Span("sync requested…", className="small-muted"))
        header.append(html.Span(_admin_buttons(m, state, button_id, action_ids or {}), className="text-nowrap"))
    header_row = html.Div(header, className="d-flex flex-wrap align-items-center gap-2")
    return dbc.Card([dbc.CardHeader(header_row), dbc.CardBody(body)], className="mb-3")


def _refetch_line(count: int, state: str) -> str:
    """Bare sightings queued to be fetched in full: they now match an investor, or the scope is `all`."""
    emails = f"{plural(count, 'earlier email')} that now {'matches' if count == 1 else 'match'}"
    if state != "active":
        return f"{emails[:1].upper()}{emails[1:]} will be fetched when this mailbox is captured again"
    return f"Fetching {emails} (at Gmail's quota pace)"


def _admin_buttons(m: dict, state: str, sync_id, action_ids: dict[str, dict]) -> list:
    """Sync now, Pause, Resume and Remove…, each only where the mailbox's state allows it."""
    buttons = [
        dbc.Button(
            "Sync now",
            id=sync_id,
            size="sm",
            color="primary",
            outline=True,
            disabled=state != "active" or not m["sync_enabled"] or bool(m.get("sync_requested_at")),
        )
    ]
    if state == "active" and "pause" in action_ids:
        buttons.append(
            dbc.Button("Pause", id=action_ids["pause"], size="sm", color="secondary", outline=True, className="ms-1")
        )
    if state in ("paused", "removed") and "resume" in action_ids:
        buttons.append(
            dbc.Button("Resume", id=action_ids["resume"], size="sm", color="success", outline=True, className="ms-1")
        )
    if state != "removed" and "remove" in action_ids:
        buttons.append(
            dbc.Button("Remove…", id=action_ids["remove"], size="sm", color="danger", outline=True, className="ms-1")
        )
    return buttons
