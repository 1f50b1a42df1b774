"""Mount the Dash app (Dash Pages) on the Flask server, with the shell: navigation and page area.

The web layer's request hook asks `DashboardAccess` which pages and callbacks are admin-only.
"""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html
from dash._pages import _parse_path_variables
from flask import Flask
from flask_wtf.csrf import generate_csrf

from appsrc.dashboard import access
from appsrc.dashboard.components import forbidden
from appsrc.store import queries

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
ASSETS = HERE / "assets"


class DashboardAccess:
    """Answers the web layer's questions about pages and callbacks of one Dash app."""

    def __init__(self, app: Dash) -> None:
        self.app = app

    def callback_access(self, output_key: str) -> str | None:
        return access.callback_access(self.app.callback_map, output_key)

    def page_access(self, path: str) -> str | None:
        page = page_for_path(path)
        if page is None:
            return None
        return page.get("access", "admin")


def page_for_path(path: str) -> dict | None:
    path = "/" + path.strip("/")
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if template:
            if _parse_path_variables(path, template) is not None:
                return page
        elif page.get("path") == path:
            return page
    return None


def nav_pages(user) -> list[dict]:
    """The pages this user may open, in menu order: every plain-path page not marked nav=False."""
    if user is None:
        return []
    pages = [
        p
        for p in dash.page_registry.values()
        if p.get("nav", True)
        and not p.get("path_template")
        and not p["module"].endswith("not_found_404")
        and (user.is_admin or p.get("access") == "member")
    ]
    return sorted(pages, key=lambda p: (p.get("order") if p.get("order") is not None else 100, p["name"]))


def shell(user=None) -> html.Div:
    """The page frame. With no user (Dash's one validation call) it holds every component."""
    validating = user is None
    links = []
    for page in nav_pages(user):
        label = [page["name"]]
        if page["path"] == "/approvals":
            label.append(
                dbc.Badge("", id="shell-pending-badge", color="warning", text_color="dark", pill=True, className="ms-1")
            )
        links.append(
            dbc.NavItem(dbc.NavLink(label, href=page["path"], active="exact" if page["path"] == "/" else "partial"))
        )
    if validating:
        links.append(dbc.Badge("", id="shell-pending-badge"))
    right = []
    if user is not None:
        role = "admin" if user.is_admin else "team member"
        right = [
            dbc.DropdownMenu(
                [
                    dbc.DropdownMenuItem(f"{user.email} · {role}", header=True),
                    html.Form(
                        [
                            dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
                            html.Button("Sign out", type="submit", className="dropdown-item", id="shell-logout"),
                        ],
                        action="/logout",
                        method="POST",
                    ),
                ],
                label=user.name or user.email,
                nav=True,
                align_end=True,
                toggle_class_name="text-white",
                id="shell-user-menu",
            )
        ]
    poll = [dcc.Interval(id="shell-poll", interval=30_000)] if (validating or (user and user.is_admin)) else []
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dcc.Link(
                    dbc.NavbarBrand("IR Mail Desk", className="text-white"), href="/", className="text-decoration-none"
                ),
                dbc.Nav(links, navbar=True, className="me-auto"),
                dbc.Nav(right, navbar=True),
            ],
            fluid=True,
        ),
        className="navbar-irm mb-3",
        color="#1f4e79",
        dark=True,
    )
    return html.Div([navbar, *poll, dbc.Container(dash.page_container, fluid=True, className="pb-5")])


def mount_dashboard(server: Flask, runtime) -> Dash:
    app = Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(ASSETS),
        title="IR Mail Desk",
        update_title=None,
        serve_locally=True,
        suppress_callback_exceptions=False,
        compress=False,
        enable_mcp=False,  # Dash's MCP endpoint (an API for AI agents) stays off, whatever the environment says
    )
    for page in dash.page_registry.values():
        page.setdefault("access", "admin")
        if page["access"] != "member":
            page["layout"] = access.gate_layout(page["layout"], forbidden)

    def layout():
        return shell(access.current_user())

    app.layout = layout

    @dash.callback(Output("shell-pending-badge", "children"), Input("shell-poll", "n_intervals"))
    def pending_badge(_n):
        count = queries.pending_proposal_count()
        return f"{count:,}" if count else ""

    server.extensions["dashboard"] = DashboardAccess(app)
    server.extensions["dash_app"] = app
    _finish_setup(server, app)
    return app


def _finish_setup(server: Flask, app: Dash) -> None:
    """Run Dash's first-request set-up now, anonymously: it binds the callbacks declared with
    `dash.callback` to this app (they sit in a process-wide list until then) and builds the
    validation layout from data-free layouts. Then fix the Content-Security-Policy: scripts
    only from the box itself, plus the hashes of Dash's own inline scripts."""
    with server.test_client() as client:
        client.get("/healthz")
    script_hashes = " ".join(app.csp_hashes())
    server.extensions["content_security_policy"] = (
        "default-src 'self'; "
        f"script-src 'self' {script_hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
