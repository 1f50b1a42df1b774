"""Real headless Chromium against the real server: an admin narrows the capture scope through its
confirmation dialog and pauses a mailbox, and the page's 5-second refresh leaves an open dialog
and what was typed in it alone."""

from __future__ import annotations

import json

import pytest

from appsrc.crm.mailboxes import pause
from appsrc.store import queries
from appsrc.store.bare import capture_scope
from appsrc.store.models import EmailAccount
from tests.crm.fixtures import *
from tests.dashboard.test_browser import browser, log_in, server, severe_console_errors, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

ADA, BOB = "ada@fund.example", "bob@fund.example"


def button_for(type_: str, account_id: int) -> str:
    """The CSS selector of a pattern-matched button: Dash renders its id as sorted, compact JSON."""
    return f"button[id='{json.dumps({'id': account_id, 'type': type_}, separators=(',', ':'))}']"


def state_badge(driver, address: str, state: str, timeout: float = 20):
    """Wait until the card of `address` shows this lifecycle state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    badge = (
        By.XPATH,
        f"//div[contains(@class,'card')][.//span[text()='{address}']]//span[contains(@class,'mailbox-state')]",
    )
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element(badge, state))


def clickable(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)))


def test_admin_narrows_the_scope_and_pauses_a_mailbox(server, browser, world, clock):
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    world.investor("Acme Capital", "acme.example")
    world.email("Capital call", "jane@acme.example", [ADA])
    world.email("Lunch on Thursday?", "friend@elsewhere.example", [BOB])
    ada, bob = world.mailbox(ADA), world.mailbox(BOB)

    log_in(browser, server, ADA, world.PASSWORD, next_="/mailboxes")
    wait_for(browser, "#mailboxes-scope-current", "All external mail")
    assert "bare sighting" in browser.find_element("id", "mailboxes-scope-choice").text  # each scope explained

    # Investor mail only: the dialog names what it deletes, and only its button reduces.
    clickable(browser, "label[for='_dbcprivate_radioitems_mailboxes-scope-choice_input_investors']").click()
    clickable(browser, "#mailboxes-scope-apply").click()
    wait_for(browser, "#mailboxes-scope-dialog-count", "1 email")
    assert browser.find_element("id", "mailboxes-scope-confirm").text == "Reduce 1 email"
    assert capture_scope() == "all"
    clickable(browser, "#mailboxes-scope-confirm").click()
    wait_for(browser, "#mailboxes-scope-current", "Investor mail only")
    wait_for(browser, "#mailboxes-scope-message", "1 email reduced to bare sightings")
    WebDriverWait(browser, 15).until(EC.invisibility_of_element_located(("id", "mailboxes-scope-dialog")))
    assert capture_scope() == "investors"

    # Pause Bob's mailbox from its card.
    clickable(browser, button_for("mailboxes-pause", bob.id)).click()
    state_badge(browser, BOB, "paused")
    wait_for(browser, "#mailboxes-message", "bob@fund.example is paused")
    assert EmailAccount.get_by_id(bob.id).paused_at is not None
    assert {m["address"]: m["state"] for m in queries.list_mailboxes()} == {ADA: "active", BOB: "paused"}

    # An open dialog and a half-typed address survive the refresh: pause Ada's mailbox behind the
    # dialog's back and wait for her card to say so, which only the refresh can bring.
    clickable(browser, button_for("mailboxes-remove", ada.id)).click()
    typed = wait_for(browser, "#mailboxes-remove-typed")
    wait_for(browser, "#mailboxes-remove-address", ADA)
    typed.send_keys("ada@fund")
    assert not browser.find_element("id", "mailboxes-remove-confirm").is_enabled()
    pause(ada.id, clock.now())
    state_badge(browser, ADA, "paused")
    assert browser.find_element("id", "mailboxes-remove-dialog").is_displayed()
    assert typed.get_attribute("value") == "ada@fund"
    typed.send_keys(".example")
    WebDriverWait(browser, 15).until(lambda d: d.find_element("id", "mailboxes-remove-confirm").is_enabled())
    clickable(browser, "#mailboxes-remove-cancel").click()
    WebDriverWait(browser, 15).until(EC.invisibility_of_element_located(("id", "mailboxes-remove-dialog")))
    assert EmailAccount.get_by_id(ada.id).removed_at is None
    assert severe_console_errors(browser) == []
