"""Unknown paths."""

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

dash.register_page(__name__, path="/404", name="Not found", access="member", nav=False)


def layout(**_kwargs):
    return dbc.Alert(
        [html.H4("Page not found", className="alert-heading"), dcc.Link("Go to the overview", href="/")],
        color="secondary",
        className="mt-4",
    )
