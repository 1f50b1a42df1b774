"""The activity page's callbacks for the desk's search: matched words in bold as text only (never
HTML from mail), the contact picker, the export link carrying the filters on screen, and a bad
day shown as an error rather than a crash."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.crm.fixtures import *
from tests.dashboard.desk import callback_key, find_components

ADA, BOB = "ada@fund.example", "bob@fund.example"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    world.kim = world.contact(world.acme, "Kim Park", "kim@acme.example")
    world.xss = world.email(XSS, "jane@acme.example", [ADA], from_name="Alerting " + XSS)
    world.deck = world.email("Fund deck", "kim@acme.example", [BOB])
    return world


def filters(q="", investor="", account=None, direction="", contact="", since="", until="", attachment=""):
    return [
        ("activity-q", "value", q),
        ("activity-investor", "value", investor),
        ("activity-account", "value", account),
        ("activity-direction", "value", direction),
        ("activity-contact", "value", contact),
        ("activity-since", "value", since),
        ("activity-until", "value", until),
        ("activity-attachment", "value", attachment),
    ]


def search(admin_client, app, **given):
    response = admin_client.callback(
        callback_key(app, "activity-results.children"),
        [*filters(**given), ("activity-newer", "n_clicks", None), ("activity-older", "n_clicks", None)],
        [("activity-cursors", "data", [None]), ("activity-page", "data", 0)],
    )
    assert response.status_code == 200, response.text
    return response


def texts(tree) -> str:
    """All text of a component tree, in order."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return texts(tree.get("props", {}).get("children", "")) if "props" in tree else ""
    if isinstance(tree, list):
        return "".join(texts(t) for t in tree)
    return ""


def test_matched_words_are_bold_text_and_the_mail_stays_text(admin_client, app, mail):
    response = search(admin_client, app, q="alert")
    assert "dangerouslySetInnerHTML" not in response.text and '"Markdown"' not in response.text
    bold = find_components(response.json, "B")
    assert {b["props"]["children"] for b in bold} == {"alert", "Alerting"}
    subject = [c for c in find_components(response.json, "Link") if c["props"]["href"] == f"/email/{mail.xss.id}"]
    assert texts(subject[0]["props"]["children"]) == XSS  # every character, as text nodes
    gmail = [a for a in find_components(response.json, "A") if "gmail-link" in a["props"].get("className", "")]
    assert gmail and gmail[0]["props"]["href"].startswith("https://mail.google.com/mail/?authuser=ada%40fund.example")
    assert gmail[0]["props"]["rel"] == "noopener noreferrer"
    assert find_components(search(admin_client, app).json, "B") == []  # no search, no bold


def test_a_bad_day_is_an_error_on_the_page(admin_client, app, mail):
    response = search(admin_client, app, since="2026-11-02", until="2026-11-01")
    assert "until must not be before since" in response.text
    assert "Kim" not in texts(response.json["response"]["activity-results"]["children"])


def test_contacts_of_the_chosen_investor_and_the_one_from_the_url(admin_client, app, mail):
    def options(investor, contact):
        response = admin_client.callback(
            callback_key(app, "activity-contact.options"),
            [("activity-investor", "value", investor)],
            [("activity-contact", "value", contact)],
        )
        return [(o["label"], o["value"]) for o in response.json["response"]["activity-contact"]["options"]]

    assert options(str(mail.acme.id), "") == [
        ("Any contact", ""),
        ("Jane Roe", str(mail.jane.id)),
        ("Kim Park", str(mail.kim.id)),
    ]
    assert options("", str(mail.kim.id)) == [("Any contact", ""), ("Kim Park", str(mail.kim.id))]
    assert options("", "not-an-id") == [("Any contact", "")]
    only_kim = search(admin_client, app, contact=str(mail.kim.id))
    assert "Fund deck" in texts(only_kim.json["response"]["activity-results"]["children"])
    assert "Alerting" not in texts(only_kim.json["response"]["activity-results"]["children"])


def test_the_export_link_carries_the_filters_on_screen(admin_client, app, mail):
    def href(**given):
        response = admin_client.callback(callback_key(app, "activity-export.href"), filters(**given))
        return response.json["response"]["activity-export"]["href"]

    assert href() == "/api/email/activity.csv"
    link = href(
        q="fund dec", investor=str(mail.acme.id), contact=str(mail.kim.id), since="2026-10-01", attachment="false"
    )
    assert urlsplit(link).path == "/api/email/activity.csv"
    assert parse_qs(urlsplit(link).query) == {
        "q": ["fund dec"],
        "investor_id": [str(mail.acme.id)],
        "contact_id": [str(mail.kim.id)],
        "since": ["2026-10-01"],
        "has_attachment": ["false"],
    }
    csv_text = admin_client.http.get(link).get_data(as_text=True)
    assert "Fund deck" in csv_text and "Alerting" not in csv_text
