"""Charts: weekly email volume per investor and per team member, inbound vs outbound, and the
approvals backlog over time (weeks in the fund's time zone; figures cached a few minutes)."""

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from appsrc.dashboard.components import now, page_header, tz_name
from appsrc.store import queries

dash.register_page(__name__, path="/charts", name="Charts", order=40, title="Charts · IR Mail Desk")

PALETTE = ["#1f4e79", "#2e86c1", "#48c9b0", "#f5b041", "#eb984e", "#af7ac5", "#5d6d7e", "#58d68d", "#ec7063", "#aab7b8"]
GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}


def _graph(id_):
    return dcc.Loading(dcc.Graph(id=id_, config=GRAPH_CONFIG, style={"height": "340px"}), delay_show=300)


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Charts",
                "Where the conversations are, who is having them, and whether approvals keep up.",
                [
                    dbc.Select(
                        id="charts-weeks",
                        value="12",
                        size="sm",
                        options=[{"label": f"Last {n} weeks", "value": str(n)} for n in (8, 12, 26, 52)],
                    ),
                ],
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [dbc.CardHeader("Emails per week by investor"), dbc.CardBody(_graph("charts-investor"))]
                        ),
                        xl=6,
                    ),
                    dbc.Col(
                        dbc.Card(
                            [dbc.CardHeader("Emails per week by team mailbox"), dbc.CardBody(_graph("charts-member"))]
                        ),
                        xl=6,
                    ),
                    dbc.Col(
                        dbc.Card([dbc.CardHeader("Inbound vs outbound"), dbc.CardBody(_graph("charts-direction"))]),
                        xl=6,
                    ),
                    dbc.Col(
                        dbc.Card([dbc.CardHeader("Approvals backlog"), dbc.CardBody(_graph("charts-backlog"))]), xl=6
                    ),
                ],
                className="g-3",
            ),
        ]
    )


def _layout(fig: go.Figure, barmode: str | None = "stack") -> go.Figure:
    fig.update_layout(
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white",
        paper_bgcolor="white",
        font={"size": 12},
        hovermode="x unified",
        **({"barmode": barmode} if barmode else {}),
    )
    fig.update_yaxes(gridcolor="#eef1f4", rangemode="tozero")
    return fig


def _weeks(n) -> int:
    try:
        return max(4, min(int(n), 104))
    except (TypeError, ValueError):
        return 12


def _stacked(data: dict) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(
                x=data["weeks"],
                y=s["values"],
                name=s["name"],
                marker_color="#c8cdd3" if s["name"] == "Other" else PALETTE[i % len(PALETTE)],
            )
            for i, s in enumerate(data["series"])
        ]
    )
    if not data["series"]:
        fig.add_annotation(
            text="No captured mail in this period", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    return _layout(fig)


@dash.callback(Output("charts-investor", "figure"), Input("charts-weeks", "value"))
def by_investor(weeks):
    return _stacked(queries.weekly_volume("investor", now(), tz_name(), weeks=_weeks(weeks)))


@dash.callback(Output("charts-member", "figure"), Input("charts-weeks", "value"))
def by_member(weeks):
    return _stacked(queries.weekly_volume("member", now(), tz_name(), weeks=_weeks(weeks)))


@dash.callback(Output("charts-direction", "figure"), Input("charts-weeks", "value"))
def by_direction(weeks):
    data = queries.weekly_volume("direction", now(), tz_name(), weeks=_weeks(weeks))
    colors = {"inbound": "#2e86c1", "outbound": "#48c9b0"}
    fig = go.Figure(
        [
            go.Scatter(
                x=data["weeks"],
                y=s["values"],
                name=s["name"],
                mode="lines+markers",
                line={"color": colors.get(s["name"]), "width": 3},
            )
            for s in data["series"]
        ]
    )
    return _layout(fig, barmode=None)


@dash.callback(Output("charts-backlog", "figure"), Input("charts-weeks", "value"))
def backlog(weeks):
    data = queries.approvals_backlog(now(), tz_name(), weeks=_weeks(weeks))
    fig = go.Figure(
        [
            go.Bar(x=data["weeks"], y=data["created"], name="proposed", marker_color="#f5b041", opacity=0.6),
            go.Bar(x=data["weeks"], y=data["decided"], name="decided", marker_color="#48c9b0", opacity=0.6),
            go.Scatter(
                x=data["weeks"],
                y=data["pending"],
                name="pending at week end",
                mode="lines+markers",
                line={"color": "#1f4e79", "width": 3},
            ),
        ]
    )
    return _layout(fig, barmode="group")
