"""Activity search: every captured email, filtered by investor, contact, mailbox, direction,
days, attachments and words, searched as the admin types.

The same query function as `GET /api/email/activity` (`queries.email_activity`): live email only,
direction decided per email, graveyard investors absent from the picker but their mail listed and
found by free text. The words each row matched are shown in bold (as text components: nothing
from mail is ever HTML), each row links to its thread in Gmail, and "Export CSV" downloads the
current search from `/api/email/activity.csv` with the same filters. Server-side keyset paging:
the table holds one page; "Older" asks the server for the page after the last row, "Newer" goes
back along the cursors already seen.
"""

import re
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from appsrc.crm.validation import ValidationError, parse_optional_id
from appsrc.dashboard.components import empty, error_alert, local, page_header, tz_name
from appsrc.store import queries

dash.register_page(__name__, path="/activity", name="Activity", order=10, title="Activity · IR Mail Desk")

PAGE_SIZE = 50
TYPING_PAUSE_MS = 250  # search once the admin pauses typing this long
ATTACHMENTS = {"": None, "true": True, "false": False}
FILTERS = [
    Input("activity-q", "value"),
    Input("activity-investor", "value"),
    Input("activity-account", "value"),
    Input("activity-direction", "value"),
    Input("activity-contact", "value"),
    Input("activity-since", "value"),
    Input("activity-until", "value"),
    Input("activity-attachment", "value"),
]
_WORDS = re.compile(r"([^\W_]+)")


def _url_id(value) -> str:
    """A filter id from the URL as the select's value; one that is not an id is ignored."""
    try:
        found = parse_optional_id(value, field="id")
    except ValidationError:
        return ""
    return str(found) if found else ""


def _url_day(value) -> str:
    return value if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else ""


def _filters(q, investor_id, account_id, direction, contact_id, since, until, attachment) -> queries.FilterArgs:
    """The page's inputs as `queries.email_activity` takes them (ValidationError for a bad id)."""
    return {
        "investor_id": parse_optional_id(investor_id, field="investor_id"),
        "contact_id": parse_optional_id(contact_id, field="contact_id"),
        "account_id": parse_optional_id(account_id, field="account_id"),
        "direction": direction or None,
        "q": q or None,
        "since": since or None,
        "until": until or None,
        "has_attachment": ATTACHMENTS.get(attachment or ""),
        "tz_name": tz_name(),
    }


def _labelled(label: str, control, html_for: str | None = None, **col) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=html_for), control], **col)


def layout(
    investor_id=None,
    account_id=None,
    direction=None,
    q=None,
    contact_id=None,
    since=None,
    until=None,
    has_attachment=None,
    **_kwargs,
):
    """Filters may come from the URL (links from investor and contact pages):
    `?investor_id=3&q=capital`, `?contact_id=7&since=2026-01-01`."""
    direction = direction if direction in ("inbound", "outbound") else ""
    attachment = has_attachment if has_attachment in ATTACHMENTS else ""
    return html.Div(
        [
            page_header("Activity", "Every captured email, newest first. Search subjects, snippets and senders."),
            dbc.Card(
                dbc.CardBody(
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Search", html_for="activity-q"),
                                    dbc.Input(
                                        id="activity-q",
                                        type="search",
                                        value=q if isinstance(q, str) else "",
                                        placeholder="words or their start: subject, snippet, sender…",
                                        debounce=TYPING_PAUSE_MS,
                                        maxLength=200,
                                    ),
                                ],
                                lg=4,
                            ),
                            # Native selects: no component chunk to fetch, so the page is usable sooner.
                            dbc.Col(
                                [
                                    dbc.Label("Investor", html_for="activity-investor"),
                                    dbc.Select(
                                        id="activity-investor",
                                        value=_url_id(investor_id),
                                        options=[{"label": "Any investor", "value": ""}],
                                    ),
                                ],
                                lg=3,
                            ),
                            _labelled(
                                "Contact",
                                dbc.Select(
                                    id="activity-contact",
                                    value=_url_id(contact_id),
                                    options=[{"label": "Any contact", "value": ""}],
                                ),
                                "activity-contact",
                                lg=3,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Mailbox", html_for="activity-account"),
                                    dbc.Select(
                                        id="activity-account",
                                        value=_url_id(account_id),
                                        options=[{"label": "Any mailbox", "value": ""}],
                                    ),
                                ],
                                lg=2,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Direction"),
                                    dbc.RadioItems(
                                        id="activity-direction",
                                        value=direction,
                                        inline=True,
                                        options=[
                                            {"label": "All", "value": ""},
                                            {"label": "In", "value": "inbound"},
                                            {"label": "Out", "value": "outbound"},
                                        ],
                                    ),
                                ],
                                lg=2,
                            ),
                            _labelled(
                                "From",
                                dbc.Input(id="activity-since", type="date", value=_url_day(since), debounce=True),
                                "activity-since",
                                lg=2,
                            ),
                            _labelled(
                                "Until",
                                dbc.Input(id="activity-until", type="date", value=_url_day(until), debounce=True),
                                "activity-until",
                                lg=2,
                            ),
                            _labelled(
                                "Attachments",
                                dbc.Select(
                                    id="activity-attachment",
                                    value=attachment,
                                    options=[
                                        {"label": "With or without", "value": ""},
                                        {"label": "With attachments", "value": "true"},
                                        {"label": "Without", "value": "false"},
                                    ],
                                ),
                                "activity-attachment",
                                lg=3,
                            ),
                            dbc.Col(
                                html.A(
                                    "Export CSV",
                                    id="activity-export",
                                    href="/api/email/activity.csv",
                                    download="activity.csv",
                                    className="btn btn-outline-primary",
                                    title="Every email of this search, with these filters, as a spreadsheet",
                                ),
                                lg=3,
                                className="d-flex align-items-end",
                            ),
                        ],
                        className="g-3",
                    )
                ),
                className="mb-3",
            ),
            dcc.Store(id="activity-cursors", data=[None]),
            dcc.Store(id="activity-page", data=0),
            html.Div(id="activity-error"),
            dbc.Card(
                [
                    dbc.CardHeader(
                        html.Div(
                            [
                                html.Span(id="activity-count", className="small-muted"),
                                html.Div(
                                    [
                                        dbc.Button(
                                            "← Newer",
                                            id="activity-newer",
                                            size="sm",
                                            color="secondary",
                                            outline=True,
                                            disabled=True,
                                        ),
                                        html.Span(id="activity-page-label", className="mx-2 small-muted"),
                                        dbc.Button(
                                            "Older →",
                                            id="activity-older",
                                            size="sm",
                                            color="secondary",
                                            outline=True,
                                            disabled=True,
                                        ),
                                    ]
                                ),
                            ],
                            className="d-flex justify-content-between align-items-center",
                        )
                    ),
                    dcc.Loading(html.Div(id="activity-results", children=dbc.Spinner(color="primary")), delay_show=300),
                ]
            ),
        ]
    )


@dash.callback(
    Output("activity-investor", "options"),
    Output("activity-account", "options"),
    Input("activity-cursors", "id"),
    State("activity-investor", "value"),
)
def pickers(_id, selected_investor):
    """The picker hides graveyard investors (no longer worked); their mail is still listed and searchable.
    A graveyard investor the page was opened with (an investor page's "search its mail" link)
    is offered, marked, so the filter in force is the one shown."""
    try:
        selected = parse_optional_id(selected_investor, field="investor_id")
    except ValidationError:
        selected = None
    investors = [
        {"label": i["name"] + (" (graveyard)" if i["graveyard"] else ""), "value": str(i["id"])}
        for i in queries.list_investors(include_graveyard=False, also=[selected] if selected else [])
    ]
    mailboxes = [{"label": m["address"], "value": str(m["id"])} for m in queries.list_mailboxes()]
    return ([{"label": "Any investor", "value": ""}] + investors, [{"label": "Any mailbox", "value": ""}] + mailboxes)


@dash.callback(
    Output("activity-contact", "options"),
    Input("activity-investor", "value"),
    State("activity-contact", "value"),
)
def contact_picker(investor_id, selected_contact):
    """The chosen investor's contacts; a contact the page was opened with is offered too."""
    try:
        investor = parse_optional_id(investor_id, field="investor_id")
        selected = parse_optional_id(selected_contact, field="contact_id")
    except ValidationError:
        investor = selected = None
    detail = queries.investor_detail(investor) if investor else None
    contacts = [
        {"label": c["name"] or ", ".join(c["addresses"]), "value": str(c["id"])}
        for c in (detail or {}).get("contacts", [])
    ]
    if selected and str(selected) not in {c["value"] for c in contacts}:
        chosen = queries.contact_detail(selected)
        if chosen:
            contacts.append({"label": chosen["name"] or f"Contact {selected}", "value": str(selected)})
    return [{"label": "Any contact", "value": ""}] + contacts


@dash.callback(Output("activity-export", "href"), *FILTERS)
def export_link(q, investor_id, account_id, direction, contact_id, since, until, attachment):
    """The CSV of the search on screen: the same filters, read by the same query."""
    wanted = {
        "q": q,
        "investor_id": investor_id,
        "contact_id": contact_id,
        "account_id": account_id,
        "direction": direction,
        "since": since,
        "until": until,
        "has_attachment": attachment if attachment in ("true", "false") else "",
    }
    given = {name: str(value) for name, value in wanted.items() if value not in (None, "")}
    return "/api/email/activity.csv" + ("?" + urlencode(given) if given else "")


@dash.callback(
    Output("activity-results", "children"),
    Output("activity-cursors", "data"),
    Output("activity-page", "data"),
    Output("activity-newer", "disabled"),
    Output("activity-older", "disabled"),
    Output("activity-page-label", "children"),
    Output("activity-error", "children"),
    *FILTERS,
    Input("activity-newer", "n_clicks"),
    Input("activity-older", "n_clicks"),
    State("activity-cursors", "data"),
    State("activity-page", "data"),
)
def search(q, investor_id, account_id, direction, contact_id, since, until, attachment, _newer, _older, cursors, page):
    trigger = ctx.triggered_id
    cursors = cursors if isinstance(cursors, list) and cursors else [None]
    page = page if isinstance(page, int) and 0 <= page < len(cursors) else 0
    if trigger == "activity-older" and page + 1 < len(cursors):
        page += 1
    elif trigger == "activity-newer" and page > 0:
        page -= 1
    elif trigger not in ("activity-older", "activity-newer"):
        cursors, page = [None], 0  # the filters changed: back to the newest
    try:
        result = queries.email_activity(
            **_filters(q, investor_id, account_id, direction, contact_id, since, until, attachment),
            limit=PAGE_SIZE,
            cursor=cursors[page],
        )
    except (queries.QueryError, ValidationError) as exc:
        return empty("No results."), [None], 0, True, True, "", error_alert(str(exc))
    cursors = cursors[: page + 1] + ([result["next_cursor"]] if result["next_cursor"] else [])
    label = f"Page {page + 1}"
    return (results_table(result["items"]), cursors, page, page == 0, result["next_cursor"] is None, label, None)


@dash.callback(Output("activity-count", "children"), *FILTERS)
def count(q, investor_id, account_id, direction, contact_id, since, until, attachment):
    """Counted apart from the page itself (and capped), so a big count never delays the rows."""
    try:
        found = queries.email_activity_count(
            **_filters(q, investor_id, account_id, direction, contact_id, since, until, attachment)
        )
    except (queries.QueryError, ValidationError):
        return ""
    n = found["count"]
    return f"{n:,}+ emails" if found["capped"] else f"{n:,} email{'s' if n != 1 else ''}"


def highlighted(text: str | None, matched: list[str]) -> list:
    """`text` with the words the search matched in bold: plain strings and `html.B` only, so
    Dash renders every character of the mail as text."""
    if not text or not matched:
        return [text or ""]
    wanted = set(matched)
    return [html.B(part, className="search-hit") if part in wanted else part for part in _WORDS.split(text) if part]


def results_table(items: list[dict]):
    """One page of results. Few components per row: each costs time to build, serialize and
    render, and the table is what the admin waits for."""
    if not items:
        return html.Div(empty("No email matches these filters."), className="px-3")
    rows = []
    for item in items:
        inbound = item["direction"] == "inbound"
        matched = item["matched"]
        rows.append(
            html.Tr(
                [
                    html.Td(local(item["sent_at"]), className="text-nowrap small"),
                    html.Td(
                        html.Span(
                            "← in" if inbound else "out →",
                            title=item["direction"],
                            className="badge rounded-pill " + ("text-bg-info" if inbound else "text-bg-success"),
                        )
                    ),
                    html.Td(
                        highlighted(item["from_name"] or item["from_email"], matched),
                        title=item["from_email"],
                        className="cell-sender",
                    ),
                    html.Td(
                        [
                            dcc.Link(
                                highlighted(item["subject"], matched) if item["subject"] else "(no subject)",
                                href=f"/email/{item['email_id']}",
                                className="subject",
                            ),
                            html.A(
                                "Gmail ↗",
                                href=item["gmail_url"],
                                target="_blank",
                                rel="noopener noreferrer",
                                className="small ms-2 gmail-link",
                                title="Open the thread in Gmail",
                            )
                            if item["gmail_url"]
                            else None,
                            html.Div(highlighted(item["snippet"], matched), className="snippet"),
                        ]
                    ),
                    html.Td(
                        [
                            dcc.Link(
                                inv["name"],
                                href=f"/investors/{inv['id']}",
                                className="badge text-bg-light border me-1 text-decoration-none",
                            )
                            for inv in item["investors"]
                        ]
                    ),
                    html.Td(
                        ", ".join(m.partition("@")[0] for m in item["mailboxes"]),
                        className="small",
                        title=", ".join(item["mailboxes"]),
                    ),
                ]
            )
        )
    header = html.Thead(
        html.Tr(
            [
                html.Th("Sent"),
                html.Th(""),
                html.Th("From"),
                html.Th("Subject"),
                html.Th("Investors"),
                html.Th("Mailboxes"),
            ]
        )
    )
    return dbc.Table(
        [header, html.Tbody(rows)], hover=True, responsive=True, className="table-activity mb-0", id="activity-table"
    )
