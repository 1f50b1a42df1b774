"""CSV exports through the API: the same rows as the JSON search with the same filters, every
page, UTF-8 with a byte-order mark for Excel, formulas neutralised, bad filters a 400 before
anything is sent, and admins only."""

from __future__ import annotations

import csv
import io

import pytest

from appsrc.store.queries import export
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    subjects = ['=HYPERLINK("http://evil")', "+1 call me", "-2 down", "@SUM(A1)", "Zürich résumé", "Plain"]
    world.mails = [world.email(subject, "jane@acme.example", [ADA]) for subject in subjects]
    world.other = world.email("Lunch?", "friend@elsewhere.example", [BOB])
    return world


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_activity_csv_has_every_row_of_the_search_neutralised_for_excel(admin_client, mail, monkeypatch):
    monkeypatch.setattr(export, "PAGE", 2)  # several pages, as a large export streams them
    table = rows(admin_client.http.get(f"/api/email/activity.csv?investor_id={mail.acme.id}"))
    assert table[0] == list(export.ACTIVITY_COLUMNS)
    searched = admin_client.http.get(f"/api/email/activity?investor_id={mail.acme.id}&limit=200").get_json()
    assert [int(r[-1]) for r in table[1:]] == [i["email_id"] for i in searched["items"]]
    subjects = {r[4] for r in table[1:]}
    assert subjects == {
        '\'=HYPERLINK("http://evil")',
        "'+1 call me",
        "'-2 down",
        "'@SUM(A1)",
        "Zürich résumé",
        "Plain",
    }
    assert all(r[5] == "Acme Capital" for r in table[1:])
    everything = rows(admin_client.http.get("/api/email/activity.csv"))
    assert len(everything) - 1 == len(mail.mails) + 1  # the unlinked lunch too


def test_free_text_and_direction_filter_the_csv_like_the_search(admin_client, mail):
    table = rows(admin_client.http.get("/api/email/activity.csv?q=Zürich"))
    assert [r[4] for r in table[1:]] == ["Zürich résumé"]
    outbound = rows(admin_client.http.get("/api/email/activity.csv?direction=outbound"))
    assert outbound[1:] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("investor_id=abc", "investor_id"), ("direction=sideways", "direction"), ("account_id=0", "account_id")],
)
def test_a_bad_filter_is_a_400_not_a_broken_file(admin_client, mail, query, field):
    answer = admin_client.http.get(f"/api/email/activity.csv?{query}")
    assert answer.status_code == 400 and answer.get_json()["field"] == field


def test_an_investors_approved_timeline_as_csv(admin_client, mail, monkeypatch):
    monkeypatch.setattr(export, "PAGE", 1)
    for email in mail.mails[:3]:
        for proposal in mail.proposals_of(email):
            admin_client.http.post(f"/api/proposals/{proposal.id}/approve", headers={"X-CSRFToken": admin_client.csrf})
    table = rows(admin_client.http.get(f"/api/investors/{mail.acme.id}/activities.csv"))
    assert table[0] == list(export.TIMELINE_COLUMNS)
    assert len(table) == 4 and {r[4] for r in table[1:]} == {"Jane Roe"}
    assert all(r[9] == ADA for r in table[1:])
    assert {r[5] for r in table[1:]} == {'\'=HYPERLINK("http://evil")', "'+1 call me", "'-2 down"}
    assert admin_client.http.get("/api/investors/424242/activities.csv").status_code == 404


def test_teammates_cannot_export(member_client, mail):
    assert member_client.http.get("/api/email/activity.csv").status_code == 403
    assert member_client.http.get(f"/api/investors/{mail.acme.id}/activities.csv").status_code == 403
