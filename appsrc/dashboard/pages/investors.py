"""Investors: the list (graveyard toggle, search), a new investor, the CSV import, and what was
recently deleted, with a way back.

The import is the CLI's (`crm.investors.import_investors_csv`): upload, a preview computed by a
dry run (every bad line listed with its number), then "Import" writes all of it or nothing.
A deleted investor or contact stays restorable for `RESTORE_DAYS` (the worker then purges it);
"Recently deleted" lists them so a mistake can be put right from here.
Every change rematches the captured mail it concerns.
"""

import base64
import binascii

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from appsrc.crm.investors import COLUMNS, ImportFailed, create_investor, import_investors_csv
from appsrc.crm.record_care import RESTORE_DAYS, deleted_records, restore_contact, restore_investor
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.dashboard.access import acting_admin
from appsrc.dashboard.components import empty, error_alert, local, now, ok_alert, page_header, plural, runtime
from appsrc.store import queries

dash.register_page(__name__, path="/investors", name="Investors", order=30, title="Investors · IR Mail Desk")

MAX_UPLOAD = 5 * 1024 * 1024


def layout(**_kwargs):
    return html.Div(
        [
            page_header(
                "Investors",
                "LPs, their domains and contacts. Captured mail is matched to them.",
                [
                    dbc.Button("New investor", id="investors-new-toggle", color="primary", size="sm"),
                    dbc.Button("Import CSV", id="investors-import-toggle", color="secondary", size="sm", outline=True),
                ],
            ),
            dcc.Store(id="investors-version", data=0),
            dcc.Store(id="investors-csv"),
            html.Div(id="investors-message"),
            dbc.Collapse(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.H5("New investor"),
                            dbc.Row(
                                [
                                    dbc.Col(
                                        [dbc.Label("Name"), dbc.Input(id="investors-new-name", maxLength=200)], md=4
                                    ),
                                    dbc.Col(
                                        [
                                            dbc.Label("Domains (separated by ; or ,)"),
                                            dbc.Input(
                                                id="investors-new-domains", placeholder="acme.example; acmecap.example"
                                            ),
                                        ],
                                        md=5,
                                    ),
                                    dbc.Col(
                                        [dbc.Label("Graveyard"), dbc.Switch(id="investors-new-graveyard", value=False)],
                                        md=1,
                                    ),
                                    dbc.Col(
                                        dbc.Button(
                                            "Create", id="investors-new-create", color="primary", className="mt-4"
                                        ),
                                        md=2,
                                    ),
                                ],
                                className="g-2",
                            ),
                        ]
                    ),
                    className="mb-3",
                ),
                id="investors-new",
                is_open=False,
            ),
            dbc.Collapse(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.H5("Import investors and contacts"),
                            html.P(
                                [
                                    "Columns ",
                                    html.Code(",".join(COLUMNS)),
                                    ": one row per contact; a row without a contact only "
                                    "defines the investor; domains separated by ",
                                    html.Code(";"),
                                    "; graveyard 0 or 1. Investors "
                                    "are matched by name and updated; contacts by address. The domains listed "
                                    "replace an "
                                    ""
                                    "investor's domains; empty domains (or graveyard) cells leave them as they are. "
                                    "The preview "
                                    "shows every domain added and removed. A file with any bad line imports nothing.",
                                ],
                                className="small-muted",
                            ),
                            dcc.Upload(
                                id="investors-upload",
                                children=html.Div(["Drop a CSV file here or ", html.A("choose one")]),
                                className="border border-2 border-dashed rounded p-4 text-center bg-light mb-2",
                                max_size=MAX_UPLOAD,
                                accept=".csv,text/csv",
                            ),
                            html.Div(id="investors-preview"),
                            dbc.Button(
                                "Import", id="investors-import", color="primary", disabled=True, className="mt-2"
                            ),
                        ]
                    ),
                    className="mb-3",
                ),
                id="investors-import-panel",
                is_open=False,
            ),
            dbc.Card(
                [
                    dbc.CardHeader(
                        dbc.Row(
                            [
                                dbc.Col(
                                    dbc.Input(
                                        id="investors-q",
                                        type="search",
                                        placeholder="Filter by name or domain…",
                                        debounce=True,
                                        size="sm",
                                    ),
                                    md=6,
                                ),
                                dbc.Col(
                                    dbc.Switch(id="investors-graveyard", label="Show graveyard", value=False), md=3
                                ),
                                dbc.Col(
                                    html.Span(id="investors-count", className="small-muted"), md=3, className="text-end"
                                ),
                            ],
                            className="align-items-center",
                        )
                    ),
                    html.Div(id="investors-table", children=dbc.Spinner(color="primary")),
                ]
            ),
            dbc.Card(
                [
                    dbc.CardHeader(
                        [
                            html.Span("Recently deleted", className="fw-semibold"),
                            html.Span(
                                f" · restorable for {RESTORE_DAYS} days, then removed for good",
                                className="small-muted",
                            ),
                        ]
                    ),
                    html.Div(id="investors-deleted"),
                ],
                className="mt-3",
                id="investors-deleted-card",
            ),
        ]
    )


@dash.callback(
    Output("investors-new", "is_open"),
    Input("investors-new-toggle", "n_clicks"),
    State("investors-new", "is_open"),
    prevent_initial_call=True,
)
def toggle_new(_n, is_open):
    return not is_open


@dash.callback(
    Output("investors-import-panel", "is_open"),
    Input("investors-import-toggle", "n_clicks"),
    State("investors-import-panel", "is_open"),
    prevent_initial_call=True,
)
def toggle_import(_n, is_open):
    return not is_open


@dash.callback(
    Output("investors-table", "children"),
    Output("investors-count", "children"),
    Input("investors-q", "value"),
    Input("investors-graveyard", "value"),
    Input("investors-version", "data"),
)
def table(q, show_graveyard, _version):
    rows = queries.investor_table(include_graveyard=bool(show_graveyard), q=q)
    if not rows:
        return html.Div(empty("No investor yet: create one or import a CSV."), className="px-3"), ""
    body = [
        html.Tr(
            [
                html.Td(
                    [
                        dcc.Link(r["name"], href=f"/investors/{r['id']}", className="fw-semibold"),
                        dbc.Badge("graveyard", color="dark", className="ms-2") if r["graveyard"] else None,
                    ]
                ),
                html.Td(", ".join(r["domains"]) or "—", className="small"),
                html.Td(f"{r['contacts']:,}", className="text-end"),
                html.Td(dcc.Link(f"{r['emails']:,}", href=f"/activity?investor_id={r['id']}"), className="text-end"),
                html.Td(
                    dbc.Badge(f"{r['pending']:,}", color="warning", text_color="dark") if r["pending"] else "0",
                    className="text-end",
                ),
                html.Td(local(r["last_activity_at"], "%d %b %Y") if r["last_activity_at"] else "—", className="small"),
            ]
        )
        for r in rows
    ]
    head = html.Thead(
        html.Tr(
            [
                html.Th("Investor"),
                html.Th("Domains"),
                html.Th("Contacts", className="text-end"),
                html.Th("Emails", className="text-end"),
                html.Th("Pending", className="text-end"),
                html.Th("Last activity"),
            ]
        )
    )
    return (
        dbc.Table([head, html.Tbody(body)], hover=True, responsive=True, className="mb-0", id="investors-list"),
        f"{len(rows):,} investor{'s' if len(rows) != 1 else ''}",
    )


@dash.callback(
    Output("investors-version", "data", allow_duplicate=True),
    Output("investors-message", "children", allow_duplicate=True),
    Input("investors-new-create", "n_clicks"),
    State("investors-new-name", "value"),
    State("investors-new-domains", "value"),
    State("investors-new-graveyard", "value"),
    State("investors-version", "data"),
    prevent_initial_call=True,
)
def create(_n, name, domains, graveyard, version):
    actor = acting_admin()
    rt = runtime()
    try:
        investor, stats = create_investor(
            name or "", domains or "", now(), directory=rt.directory, graveyard=bool(graveyard), actor=actor
        )
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc))
    return (version or 0) + 1, ok_alert(
        f"Created {investor.name}; {stats['emails']:,} captured email(s) rematched, "
        f"{stats['proposals_added']:,} new proposal(s)."
    )


def _decode_upload(contents: str | None) -> str:
    if not contents or "," not in contents:
        raise ValidationError("no file", field="file")
    try:
        raw = base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("the upload could not be read", field="file") from None
    if len(raw) > MAX_UPLOAD:
        raise ValidationError("the file is larger than 5 MB", field="file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the file is not UTF-8 text", field="file") from None


def _errors(exc: ImportFailed):
    shown = exc.errors[:200]
    return html.Div(
        [
            dbc.Alert(
                f"{len(exc.errors)} problem(s): nothing will be imported. Fix the file and upload it again.",
                color="danger",
                className="py-2",
            ),
            html.Ul(
                [html.Li(f"line {line}: {message}") for line, message in shown],
                className="csv-errors",
                id="investors-csv-errors",
            ),
            html.Div(f"… and {len(exc.errors) - 200} more", className="small-muted") if len(exc.errors) > 200 else None,
        ]
    )


@dash.callback(
    Output("investors-preview", "children"),
    Output("investors-import", "disabled"),
    Output("investors-csv", "data"),
    Input("investors-upload", "contents"),
    State("investors-upload", "filename"),
    prevent_initial_call=True,
)
def preview(contents, filename):
    rt = runtime()
    try:
        text = _decode_upload(contents)
        result = import_investors_csv(text, now(), directory=rt.directory, dry_run=True)
    except ImportFailed as exc:
        return _errors(exc), True, None
    except ValidationError as exc:
        return error_alert(str(exc)), True, None
    rows = [
        html.Tr(
            [
                html.Td(p["investor"]),
                html.Td(", ".join(p["domains"]) or "—"),
                html.Td(_domain_changes(p)),
                html.Td(p["contacts"]),
                html.Td("yes" if p["graveyard"] else "no"),
                html.Td("new" if p["new"] else "update"),
            ]
        )
        for p in result.preview[:500]
    ]
    summary = (
        f"{filename or 'The file'}: {result.rows:,} row(s) — investors {result.investors_created} new, "
        f"{result.investors_updated} updated; contacts {result.contacts_created} new, "
        f"{result.contacts_updated} updated."
    )
    return (
        html.Div(
            [
                dbc.Alert(summary, color="info", className="py-2", id="investors-preview-summary"),
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th("Investor"),
                                    html.Th("Domains"),
                                    html.Th("Domain changes"),
                                    html.Th("Contacts"),
                                    html.Th("Graveyard"),
                                    html.Th(""),
                                ]
                            )
                        ),
                        html.Tbody(rows),
                    ],
                    size="sm",
                    responsive=True,
                    className="mb-0",
                    id="investors-preview-table",
                ),
            ]
        ),
        False,
        text,
    )


def _domain_changes(planned: dict) -> list:
    """Additions and removals spelled out: a removed domain stops matching that investor's mail."""
    if planned["new"]:
        return ["new"] if planned["domains"] else ["—"]
    changes = [html.Span(f"+ {d}", className="text-success me-2") for d in planned["domains_added"]] + [
        html.Span(f"− {d}", className="text-danger me-2") for d in planned["domains_removed"]
    ]
    return changes or ["unchanged"]


@dash.callback(
    Output("investors-version", "data", allow_duplicate=True),
    Output("investors-message", "children", allow_duplicate=True),
    Output("investors-preview", "children", allow_duplicate=True),
    Output("investors-import", "disabled", allow_duplicate=True),
    Input("investors-import", "n_clicks"),
    State("investors-csv", "data"),
    State("investors-version", "data"),
    prevent_initial_call=True,
)
def run_import(_n, text, version):
    actor = acting_admin()
    rt = runtime()
    if not text:
        return dash.no_update, error_alert("Upload a file first."), dash.no_update, True
    try:
        # Validated again here: the file is re-checked against the data as it is now.
        result = import_investors_csv(text, now(), directory=rt.directory, actor=actor)
    except ImportFailed as exc:
        return dash.no_update, None, _errors(exc), True
    except ValidationError as exc:
        return dash.no_update, error_alert(str(exc)), dash.no_update, True
    stats = result.rematched
    return (
        (version or 0) + 1,
        ok_alert(
            f"Imported: investors {result.investors_created} new, {result.investors_updated} updated; contacts "
            f"{result.contacts_created} new, {result.contacts_updated} updated. Rematched "
            f"{stats['emails']:,} captured email(s): {stats['proposals_added']:,} new proposal(s)."
        ),
        None,
        True,
    )


# -- recently deleted ----------------------------------------------------------------------------
RESTORE_TYPES = {"investors-restore-investor": "investor", "investors-restore-contact": "contact"}


@dash.callback(Output("investors-deleted", "children"), Input("investors-version", "data"))
def recently_deleted(_version):
    """Deleted investors and contacts that can still be restored, and until when."""
    records = deleted_records(now())
    if not records["investors"] and not records["contacts"]:
        return html.Div(empty(f"Nothing was deleted in the last {RESTORE_DAYS} days."), className="px-3")
    firms = {i["id"]: i["name"] for i in queries.list_investors(include_graveyard=True)}
    firms.update({i["id"]: f"{i['name']} (deleted)" for i in records["investors"]})
    rows = [_deleted_row("investor", r, "Investor") for r in records["investors"]] + [
        _deleted_row("contact", r, f"Contact at {firms.get(r['investor_id'], 'a deleted investor')}")
        for r in records["contacts"]
    ]
    head = html.Thead(
        html.Tr([html.Th("Name"), html.Th("What"), html.Th("Deleted"), html.Th("Restorable until"), html.Th("")])
    )
    return dbc.Table(
        [head, html.Tbody(rows)], hover=True, responsive=True, className="mb-0", id="investors-deleted-list"
    )


def _deleted_row(kind: str, record: dict, what: str) -> html.Tr:
    return html.Tr(
        [
            html.Td(record["name"], className="fw-semibold"),
            html.Td(what, className="small"),
            html.Td(local(record["deleted_at"], "%d %b %Y"), className="small"),
            html.Td(local(record["restorable_until"], "%d %b %Y"), className="small"),
            html.Td(
                dbc.Button(
                    "Restore",
                    id={"type": f"investors-restore-{kind}", "id": record["id"]},
                    size="sm",
                    color="success",
                    outline=True,
                ),
                className="text-end",
            ),
        ]
    )


@dash.callback(
    Output("investors-version", "data", allow_duplicate=True),
    Output("investors-message", "children", allow_duplicate=True),
    Input({"type": "investors-restore-investor", "id": ALL}, "n_clicks"),
    Input({"type": "investors-restore-contact", "id": ALL}, "n_clicks"),
    State("investors-version", "data"),
    prevent_initial_call=True,
)
def restore(_investor_clicks, _contact_clicks, version):
    """Restore the record whose button was clicked (a list refresh fires this too, without a click)."""
    trigger = ctx.triggered_id
    kind = RESTORE_TYPES.get(trigger.get("type")) if isinstance(trigger, dict) else None
    if kind is None or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise dash.exceptions.PreventUpdate
    actor = acting_admin()
    directory = runtime().directory
    try:
        record_id = parse_id(trigger.get("id"), field=f"{kind}_id")
        if kind == "investor":
            result = restore_investor(record_id, now(), directory=directory, actor=actor)
            restored = queries.investor_detail(record_id)
        else:
            result = restore_contact(record_id, now(), directory=directory, actor=actor)
            restored = queries.contact_detail(record_id)
    except ValidationError as exc:
        return dash.no_update, error_alert(f"Nothing was restored: {exc}")
    queries.clear_cache()
    name = restored["name"] if restored else f"The {kind}"
    emails = result["rematched"]["emails"]
    return (version or 0) + 1, ok_alert(f"Restored {name}; {plural(emails, 'captured email')} rematched.")
