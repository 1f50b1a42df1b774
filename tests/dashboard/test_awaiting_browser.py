"""Real headless Chromium against the real server: the Overview card says who waits on us and
leads to the Awaiting reply page, which lists the case; Handled takes it off the list (and Undo
brings it back)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from appsrc.store.models import AwaitingMark
from tests.crm.fixtures import *
from tests.dashboard.test_browser import browser, log_in, server, severe_console_errors, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

ADA, BOB = "ada@fund.example", "bob@fund.example"


def button_for(type_: str, email_id: int) -> str:
    """The CSS selector of a pattern-matched button: Dash renders its id as sorted, compact JSON."""
    return f"button[id='{json.dumps({'id': email_id, 'type': type_}, separators=(',', ':'))}']"


def clickable(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)))


def test_the_overview_card_leads_to_the_list_and_handled_removes_the_case(server, browser, world, clock):
    acme = world.investor("Acme Capital", "acme.example")
    world.contact(acme, "Jane Roe", "jane@acme.example")
    ask = world.email("Side letter question", "jane@acme.example", [ADA, BOB], sent_at=clock.now() - timedelta(days=5))

    log_in(browser, server, ADA, world.PASSWORD)
    wait_for(browser, "#home-kpi-waiting", "1 LP")
    wait_for(browser, "#home-waiting", "Waiting on us: 1 LP")
    clickable(browser, "#home-waiting a").click()

    wait_for(browser, "#awaiting-list", "Side letter question")
    row = browser.find_element("id", f"awaiting-row-{ask.id}")
    for shown in ("Acme Capital", "Jane Roe", "jane@acme.example", "Open in Gmail"):
        assert shown in row.text, shown
    assert row.find_element("css selector", ".awaiting-days").text == "3"
    link = row.find_element("link text", "Open in Gmail").get_attribute("href")
    assert link.startswith("https://mail.google.com/mail/?authuser=ada%40fund.example#all/")
    assert row.find_element("link text", "Side letter question").get_attribute("href").endswith(f"/email/{ask.id}")

    clickable(browser, button_for("awaiting-handled", ask.id)).click()
    wait_for(browser, "#awaiting-message", "Marked handled")
    wait_for(browser, "#awaiting-table", "No investor is waiting on a reply.")
    assert AwaitingMark.get().state == "handled"
    wait_for(browser, "#awaiting-marks-list", "Side letter question")

    clickable(browser, button_for("awaiting-undo", ask.id)).click()
    wait_for(browser, "#awaiting-list", "Side letter question")
    assert AwaitingMark.select().count() == 0
    assert severe_console_errors(browser) == []
