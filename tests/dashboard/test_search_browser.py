"""Real headless Chromium against the real server: an admin types the start of a word on the
activity page and sees the email with the matched word in bold, narrows the list by date, and
downloads the CSV of exactly that search through the page's export button."""

from __future__ import annotations

import csv
import io
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.crm.fixtures import *
from tests.dashboard.test_browser import (  # noqa: F401
    browser,
    log_in,
    server,
    severe_console_errors,
    wait_for,
    wait_for_rows,
)

pytestmark = pytest.mark.browser

ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def mail(world):
    world.acme = world.investor("Blackstone Partners", "blackstone.example")
    world.contact(world.acme, "Jane Roe", "jane@blackstone.example")
    world.form = world.email(
        "Zeichnungsschein <b>signed</b>",
        "jane@blackstone.example",
        [ADA],
        sent_at=datetime(2026, 10, 20, 9, tzinfo=UTC),
    )
    world.memo = world.email(
        "Blackstone memo", "jane@blackstone.example", [ADA, BOB], sent_at=datetime(2026, 9, 1, 9, tzinfo=UTC)
    )
    world.older = world.email(
        "Blackstone kickoff", "jane@blackstone.example", [BOB], sent_at=datetime(2026, 3, 1, 9, tzinfo=UTC)
    )
    world.other = world.email("Lunch?", "friend@elsewhere.example", [BOB])
    return world


def set_date(driver, element_id: str, day: str) -> None:
    """Fill a date field as React sees typing (the native setter, then input and change events),
    and leave it, which is when the page searches (debounced until blur)."""
    driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
        "set.call(el, arguments[1]);"
        "el.dispatchEvent(new Event('input', {bubbles: true}));"
        "el.dispatchEvent(new Event('change', {bubbles: true}));"
        "el.dispatchEvent(new Event('blur', {bubbles: true}));"
        "el.dispatchEvent(new FocusEvent('focusout', {bubbles: true}));",
        element_id,
        day,
    )


def test_typing_a_word_start_highlights_it_and_the_export_matches_the_filters(server, browser, mail):
    from selenium.webdriver.common.by import By

    log_in(browser, server, ADA, mail.PASSWORD, next_="/activity")
    wait_for(browser, "#activity-table")
    wait_for(browser, "#activity-count", "4 emails")

    # Typing the start of a word finds the email; the matched word is in bold, as text.
    browser.find_element(By.ID, "activity-q").send_keys("Zeich")
    wait_for(browser, "#activity-count", "1 email")
    (row,) = wait_for_rows(browser, 1, "Zeichnungsschein")
    assert "Zeichnungsschein <b>signed</b>" in row.text  # the subject's markup shown as text
    bold = [b.text for b in row.find_elements(By.CSS_SELECTOR, "b.search-hit")]
    assert bold and set(bold) == {"Zeichnungsschein"}
    gmail = row.find_element(By.CSS_SELECTOR, "a.gmail-link").get_attribute("href")
    assert gmail.startswith("https://mail.google.com/mail/?authuser=ada%40fund.example#all/")

    # Another word start, then a date range narrows the list.
    search = browser.find_element(By.ID, "activity-q")
    search.clear()
    search.send_keys("Blackst")
    wait_for(browser, "#activity-count", "3 emails")
    wait_for_rows(browser, 3, "Blackstone")
    assert {b.text for b in browser.find_elements(By.CSS_SELECTOR, "#activity-table b.search-hit")} >= {"Blackstone"}
    set_date(browser, "activity-since", "2026-08-01")
    wait_for(browser, "#activity-count", "2 emails")
    set_date(browser, "activity-until", "2026-09-30")
    wait_for(browser, "#activity-count", "1 email")
    wait_for_rows(browser, 1, "Blackstone memo")

    # The export button downloads this very search.
    link = browser.find_element(By.ID, "activity-export")
    href = link.get_attribute("href")
    for part in ("q=Blackst", "since=2026-08-01", "until=2026-09-30"):
        assert part in href, href
    # As the browser asks for it: its session cookie, and its User-Agent (a session is bound to it).
    headers = {
        "Cookie": "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies()),
        "User-Agent": browser.execute_script("return navigator.userAgent"),
    }
    with urllib.request.urlopen(urllib.request.Request(href, headers=headers), timeout=15) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(answer.read().decode("utf-8-sig"))))
    assert [int(r[-1]) for r in table[1:]] == [mail.memo.id]
    assert table[1][table[0].index("subject")] == "Blackstone memo"
    assert not severe_console_errors(browser)
