"""Real headless Chromium against the real server: an admin merges a duplicate investor through
the preview dialog, and the duplicate's old address lands on the investor it was merged into."""

from __future__ import annotations

import pytest

from appsrc.store.models import Contact, Investor
from tests.crm.fixtures import *
from tests.dashboard.test_browser import browser, log_in, server, severe_console_errors, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

ADA = "ada@fund.example"


def clickable(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)))


def pick(driver, dropdown_id: str, typed: str, option_text: str, timeout: float = 15):
    """Choose an option of a dcc.Dropdown the way a person does: open it, type, click the option."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    clickable(driver, f"#{dropdown_id}").click()
    search = WebDriverWait(driver, timeout).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, ".dash-dropdown-search"))
    )
    search.send_keys(typed)
    option = (
        By.XPATH,
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' dash-dropdown-option ')]"
        f"[contains(normalize-space(.), '{option_text}')]",
    )
    WebDriverWait(driver, timeout).until(EC.element_to_be_clickable(option)).click()
    search.send_keys(Keys.ESCAPE)  # a multiple choice stays open for more; close it as a person would
    WebDriverWait(driver, timeout).until(
        EC.invisibility_of_element_located((By.CSS_SELECTOR, ".dash-dropdown-options"))
    )
    WebDriverWait(driver, timeout).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, f"#{dropdown_id}"), option_text)
    )


@pytest.fixture
def duplicates(world):
    """Meridian imported twice; Jane at both, Kim only at the duplicate."""
    world.meridian = world.investor("Meridian Capital", "meridian.example")
    world.partners = world.investor("Meridian Capital Partners", "meridiancp.example")
    world.jane = world.contact(world.meridian, "Jane Roe", "jane@meridian.example")
    world.contact(world.partners, "Jane Roe", "jane.roe@meridiancp.example")
    world.kim = world.contact(world.partners, "Kim Park", "kim@meridiancp.example")
    world.investor("Acme Capital", "acme.example")
    world.email("Board memo", "kim@meridiancp.example", [ADA])
    return world


def test_admin_previews_and_merges_a_duplicate_and_its_old_page_lands_on_the_survivor(server, browser, duplicates):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    meridian, partners = duplicates.meridian, duplicates.partners
    log_in(browser, server, ADA, duplicates.PASSWORD, next_=f"/investors/{meridian.id}")
    wait_for(browser, "#investor-title", "Meridian Capital")
    assert "Kim Park" not in browser.find_element(By.ID, "investor-contacts").text

    clickable(browser, "#investor-merge-open").click()
    wait_for(browser, "#investor-merge-modal")
    assert not browser.find_element(By.ID, "investor-merge-confirm").is_enabled()  # a preview comes first
    pick(browser, "investor-merge-from", "Partners", "Meridian Capital Partners")
    clickable(browser, "#investor-merge-check").click()

    summary = wait_for(browser, "#investor-merge-summary", "What moves into Meridian Capital")
    assert "meridiancp.example" in summary.text
    assert "Kim Park (kim@meridiancp.example)" in summary.text
    conflicts = wait_for(browser, "#investor-merge-conflicts")
    assert "may be one person" in conflicts.text and "Jane Roe (Meridian Capital Partners)" in conflicts.text
    assert Investor.get_by_id(partners.id).deleted_at is None  # the preview changed nothing

    clickable(browser, "#investor-merge-confirm").click()
    WebDriverWait(browser, 15).until(EC.invisibility_of_element_located((By.ID, "investor-merge-modal")))
    wait_for(browser, "#investor-message", "Merged Meridian Capital Partners into Meridian Capital")
    wait_for(browser, "#investor-contacts", "Kim Park")
    assert Contact.get_by_id(duplicates.kim.id).investor_id == meridian.id
    assert Investor.get_by_id(partners.id).merged_into_id == meridian.id

    # The duplicate's old address keeps working: it lands on the survivor.
    browser.get(f"{server}/investors/{partners.id}")
    WebDriverWait(browser, 15).until(EC.url_to_be(f"{server}/investors/{meridian.id}"))
    wait_for(browser, "#investor-title", "Meridian Capital")
    wait_for(browser, "#investor-contacts", "Kim Park")
    assert "Partners" not in browser.find_element(By.ID, "investor-title").text
    assert severe_console_errors(browser) == []
