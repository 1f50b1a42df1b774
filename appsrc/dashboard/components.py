"""Shared pieces of the dashboard: time formatting in the fund's zone, badges, cards, alerts.

Everything user-supplied (subjects, names, bodies) is passed to Dash components as plain
strings, which Dash renders as text: no Markdown, no raw HTML anywhere in the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from appsrc.app_services import runtime

__all__ = ["runtime"]  # and everything below


def now() -> datetime:
    return runtime().clock.now()


def local(value: datetime | str | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC datetime (or ISO string) shown in the fund's time zone."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(runtime().settings.tz).strftime(fmt)


def tz_name() -> str:
    return runtime().settings.timezone


def page_header(title: str, subtitle: str = "", actions=None) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H2(title, className="page-title"),
                    html.P(subtitle, className="page-subtitle") if subtitle else None,
                ]
            ),
            html.Div(actions or [], className="d-flex gap-2 align-items-start"),
        ],
        className="d-flex justify-content-between align-items-start flex-wrap gap-2",
    )


def direction_badge(direction: str) -> dbc.Badge:
    inbound = direction == "inbound"
    return dbc.Badge(
        "← in" if inbound else "out →",
        color="info" if inbound else "success",
        pill=True,
        className="me-1",
        title="inbound" if inbound else "outbound",
    )


def status_badge(status: str) -> dbc.Badge:
    colors = {"pending": "warning", "approved": "success", "rejected": "secondary"}
    return dbc.Badge(status, color=colors.get(status, "light"), className="text-uppercase")


def investor_badges(investors: list[dict], linked: bool = True) -> list:
    out = []
    for inv in investors:
        label = inv["name"] + (" (graveyard)" if inv.get("graveyard") else "")
        badge = dbc.Badge(label, color="light", text_color="dark", className="me-1 border")
        out.append(dcc.Link(badge, href=f"/investors/{inv['id']}") if linked else badge)
    return out


def kpi(label: str, value, id_: str | None = None, color: str = "") -> dbc.Card:
    kwargs = {"id": id_} if id_ else {}
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(value, className=f"kpi-value {color}", **kwargs),
                html.Div(label, className="kpi-label"),
            ]
        )
    )


def empty(text: str) -> html.Div:
    return html.Div(text, className="text-muted fst-italic py-3")


def forbidden() -> html.Div:
    return dbc.Alert(
        [
            html.H4("Admins only", className="alert-heading"),
            html.P("This part of the dashboard is for the fund's admins. Ask an admin if you need access."),
            dcc.Link("Back to your overview", href="/"),
        ],
        color="warning",
        className="mt-4",
    )


def not_found(what: str) -> dbc.Alert:
    return dbc.Alert(f"{what} was not found (it may have been removed).", color="secondary", className="mt-3")


def error_alert(message: str) -> dbc.Alert:
    return dbc.Alert(message, color="danger", dismissable=True, className="py-2")


def ok_alert(message: str) -> dbc.Alert:
    return dbc.Alert(message, color="success", dismissable=True, duration=6000, className="py-2")


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural_word or word + 's')}"
