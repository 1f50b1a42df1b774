"""Real headless Chromium (Debian's chromium + chromium-driver) against the real server (waitress)
on a real SQLite store: the flows an admin and a teammate actually go through."""

from __future__ import annotations

import os
import shutil

import pytest

from appsrc.store.models import Contact
from tests.crm.fixtures import *
from tests.live_server import served

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ADA, BOB = "ada@fund.example", "bob@fund.example"


@pytest.fixture
def server(app):
    """The app served by waitress on a free local port, in a thread."""
    with served(app) as url:
        yield url


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (make test installs them)")
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager reach for the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(driver, css: str, text: str | None = None, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    if text is None:
        return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def wait_for_rows(driver, count: int, *texts: str, timeout: float = 15) -> list:
    """The activity table once it shows `count` rows holding every one of `texts`. The count
    above the table is a callback of its own, so it may show the new search before the rows."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(_driver):
        try:
            rows = driver.find_elements(By.CSS_SELECTOR, "#activity-table tbody tr")
            shown = " ".join(row.text for row in rows)
        except StaleElementReferenceException:
            return False
        return rows if len(rows) == count and all(text in shown for text in texts) else False

    return WebDriverWait(driver, timeout).until(settled)


def log_in(driver, base: str, email: str, password: str, next_: str = "/"):
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login?next={next_}")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()


def severe_console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture
def mail(world):
    world.acme = world.investor("Acme Capital", "acme.example")
    world.jane = world.contact(world.acme, "Jane Roe", "jane@acme.example")
    world.call = world.email(
        "Quarterly capital call",
        "jane@acme.example",
        [ADA, BOB],
        from_name="Jane Roe",
        body="Dear team,\nthe capital call is due on Friday.\nJane",
    )
    world.reply = world.email("Re: Quarterly capital call", ADA, ["jane@acme.example"])
    world.noise = world.email("Lunch on Thursday?", "friend@elsewhere.example", [BOB])
    for i in range(60):  # enough rows for a second page
        world.email(f"Portfolio note {i}", "jane@acme.example", [BOB])
    return world


def test_admin_searches_opens_an_email_approves_and_sees_the_timeline(server, browser, mail):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    log_in(browser, server, ADA, mail.PASSWORD, next_="/activity")
    wait_for(browser, "#activity-table")
    assert browser.current_url.endswith("/activity")
    # Page through the server-side table: 63 live emails, 50 a page.
    older = browser.find_element(By.ID, "activity-older")
    older.click()
    wait_for(browser, "#activity-page-label", "Page 2")
    # Filters: an investor from the URL, free text, direction.
    browser.get(f"{server}/activity?investor_id={mail.acme.id}")
    search = wait_for(browser, "#activity-q")
    search.send_keys("capital", Keys.ENTER)
    wait_for(browser, "#activity-count", "2 emails")
    browser.find_element(
        By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_activity-direction_input_inbound']"
    ).click()
    wait_for(browser, "#activity-count", "1 email")
    rows = wait_for_rows(browser, 1, "Quarterly capital call", "Acme Capital")
    # Open the email.
    rows[0].find_element(By.LINK_TEXT, "Quarterly capital call").click()
    wait_for(browser, "#email-subject", "Quarterly capital call")
    assert "the capital call is due on Friday" in browser.find_element(By.ID, "email-body").text
    assert "Acme Capital" in browser.page_source
    actions = browser.find_element(By.ID, "email-actions")  # the actions area exists, with its buttons
    assert actions.is_displayed() and "Draft reply" in actions.text and "Back to activity" in actions.text
    # Approve its proposal in the queue, with the email in view.
    browser.find_element(By.PARTIAL_LINK_TEXT, "Approvals").click()  # client-side navigation
    wait_for(browser, "#approvals-items")
    item = browser.find_element(
        By.XPATH, "//div[contains(@class,'queue-item')][.//div[text()='Quarterly capital call']]"
    )
    item.click()
    wait_for(browser, "#approvals-subject", "Quarterly capital call")
    assert "ada@fund.example, bob@fund.example" in browser.find_element(By.ID, "approvals-detail").text
    browser.find_element(By.ID, "approvals-approve").click()
    wait_for(browser, "#approvals-message", "Approved 1 proposal")
    # The contact's timeline shows it.
    contact = Contact.get(Contact.name == "Jane Roe")
    browser.get(f"{server}/contacts/{contact.id}")
    timeline = wait_for(browser, "#contact-timeline-items")
    assert "Quarterly capital call" in timeline.text and "approved by ada@fund.example" in timeline.text
    assert severe_console_errors(browser) == []


def test_a_graveyard_investors_mail_link_shows_its_filter(server, browser, mail):
    """Graveyard investors are hidden from the activity picker, but the investor page's "search
    its mail" link filters by one: the picker must then show it (marked), not "Any investor"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    dead = mail.investor("Dead Co", "dead.example", graveyard=True)
    mail.email("Old relationship memo", "ceo@dead.example", [BOB])
    log_in(browser, server, ADA, mail.PASSWORD, next_=f"/investors/{dead.id}")
    wait_for(browser, "#investor-title", "Dead Co")
    browser.find_element(By.LINK_TEXT, "search its mail").click()
    wait_for(browser, "#activity-count", "1 email")
    wait_for(browser, f"#activity-investor option[value='{dead.id}']")
    picker = Select(browser.find_element(By.ID, "activity-investor"))
    assert picker.first_selected_option.text == "Dead Co (graveyard)"
    assert [o.text for o in picker.options if o.text] == ["Any investor", "Acme Capital", "Dead Co (graveyard)"]
    wait_for_rows(browser, 1, "Old relationship memo")
    # Choosing "Any investor" drops the filter; the graveyard entry stays only while chosen.
    picker.select_by_visible_text("Any investor")
    wait_for(browser, "#activity-count", "64 emails")
    wait_for_rows(browser, 50)
    assert severe_console_errors(browser) == []


def test_a_teammate_only_reaches_their_overview(server, browser, mail):
    from selenium.webdriver.common.by import By

    log_in(browser, server, BOB, mail.PASSWORD)
    wait_for(browser, "#home-content", "Hello Bob Member")
    assert BOB in browser.find_element(By.ID, "home-content").text
    nav = browser.find_element(By.CSS_SELECTOR, ".navbar").text
    assert "Overview" in nav and "Approvals" not in nav and "Activity" not in nav and "Users" not in nav
    for path in ("/approvals", "/activity", "/users", f"/email/{mail.call.id}"):
        browser.get(server + path)
        wait_for(browser, "#home-content", "Hello Bob Member")
        assert browser.current_url == server + "/", path
        assert "Quarterly capital call" not in browser.page_source
    # Signing out is a form POST with the CSRF token; afterwards the dashboard is closed.
    browser.find_element(By.ID, "shell-user-menu").click()
    wait_for(browser, "#shell-logout").click()
    wait_for(browser, "#login-submit")
    browser.get(server + "/")
    assert "/login" in browser.current_url
    assert severe_console_errors(browser) == []
