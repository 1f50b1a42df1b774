"""Real headless Chromium against the real server on demo mode's own data: the demo team's whole
backlog after its first backfill (every pending proposal once demo mode has pre-decided its
share) is cleared from the Approvals page by groups and keys, in at most 60 actions (clicks plus
keypresses, counted as the test drives the page). On the way: the help overlay, keys ignored
while typing, a group's members, and a confirmation refused because another admin decided one of
its proposals meanwhile (the page shows the new preview and decides only after a second yes)."""

from __future__ import annotations

import json
import threading

import pytest

from appsrc.clock import SystemClock
from appsrc.crm import proposals
from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.store import queries
from appsrc.store.models import ActivityProposal, EmailAccount, User
from tests.dashboard.test_browser import browser, log_in, severe_console_errors, wait_for  # noqa: F401
from tests.live_server import served

pytestmark = pytest.mark.browser

GOAL_ACTIONS = 60


@pytest.fixture
def demo(tmp_path):
    """`make run` with no delegation key: demo mode's runtime, its first backfill done and its
    "decide some proposals" thread finished, so the backlog is what a demo admin meets."""
    settings = load_settings({"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_DEMO": "on"})
    runtime = build_runtime(settings, SystemClock())
    assert runtime.demo is not None
    reports = runtime.sync_all()
    assert reports and all(r.ok for r in reports)
    assert all(state == "done" for (state,) in EmailAccount.select(EmailAccount.backfill_state).tuples())
    for thread in threading.enumerate():
        if thread.name == "demo-decisions":
            thread.join(timeout=60)
            assert not thread.is_alive()
    queries.clear_cache()
    yield runtime
    runtime.close()


@pytest.fixture
def server(demo):
    from appsrc.web.app import create_app

    with served(create_app(demo)) as url:
        yield url


class Admin:
    """Drives the page as a person does and counts every click and keypress."""

    def __init__(self, driver):
        self.driver = driver
        self.actions = 0

    def click(self, css: str, timeout: float = 15):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()
        self.actions += 1

    def choose(self, label: str):
        """One of the page's toggle buttons (view, people), by its label."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.XPATH, f"//label[normalize-space(.)='{label}']").click()
        self.actions += 1

    def key(self, key: str, into=None):
        from selenium.webdriver.common.action_chains import ActionChains

        if into is not None:
            into.send_keys(key)
        else:
            ActionChains(self.driver).send_keys(key).perform()
        self.actions += 1


def pending() -> int:
    return ActivityProposal.select().where(ActivityProposal.status == "pending").count()


def wait_until(driver, check, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda _d: check())


def every_group_ticked(driver) -> bool:
    """Whether "select all" has reached every group's box (its own callback), so a decision
    previews the whole page."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        boxes = driver.find_elements(By.CSS_SELECTOR, "#approvals-groups input[type=checkbox]")
        return bool(boxes) and all(box.is_selected() for box in boxes)
    except StaleElementReferenceException:
        return False


def test_the_demo_backlog_is_cleared_in_at_most_60_actions(server, browser, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    backlog = pending()
    new_people = ActivityProposal.select().where(
        (ActivityProposal.status == "pending") & ActivityProposal.contact.is_null(True)
    )
    assert backlog > 500 and new_people.count() > 0  # a real backlog, with new people in it
    admin = Admin(browser)
    log_in(browser, server, demo.demo.admin_email, demo.demo.admin_password, next_="/approvals")
    wait_for(browser, "#approvals-items")
    wait_for(browser, "#approvals-count", f"{backlog:,} pending")

    # One by one: the cursor's second row, approved by key (the page selects it, then approves it).
    second = browser.find_elements(By.CSS_SELECTOR, "#approvals-items .approvals-row")[1]
    assert "active-item" not in second.get_attribute("class")
    second_id = json.loads(second.find_element(By.CSS_SELECTOR, ".row-open").get_attribute("id"))["id"]
    admin.key("j")
    admin.key("a")
    wait_for(browser, "#approvals-message", "Approved 1 proposal")
    assert pending() == backlog - 1 and ActivityProposal.get_by_id(second_id).status == "approved"

    # The help overlay, by the visible button's key; Esc closes it.
    admin.key("?")
    help_box = wait_for(browser, "#approvals-help")
    assert "Move the cursor" in help_box.text and "Approve" in help_box.text
    admin.key(Keys.ESCAPE)
    WebDriverWait(browser, 15).until(EC.invisibility_of_element_located((By.ID, "approvals-help")))

    # Keys typed into a field are text, not shortcuts.
    admin.click("#approvals-investor")
    name_filter = wait_for(browser, ".dash-dropdown-search")
    admin.key("a", into=name_filter)
    admin.key(Keys.ESCAPE, into=name_filter)
    assert not browser.find_elements(By.CSS_SELECTOR, ".modal.show") and pending() == backlog - 1

    # New people first, one investor at a time: look at the group, then approve both groups.
    admin.choose("By investor")
    admin.choose("New people")
    wait_until(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#approvals-groups .approvals-row")) >= 1)
    groups = browser.find_elements(By.CSS_SELECTOR, "#approvals-groups .approvals-row")
    assert sum(1 for _ in groups) == len({p.investor_id for p in new_people})
    admin.key("g")
    members = wait_for(browser, "#approvals-group-detail .approvals-members")
    assert "New person" in members.text
    for i in range(len(groups)):
        if i:
            admin.key("j")
        admin.key("x")
    admin.key("a")
    body = wait_for(browser, ".modal.show #approvals-confirm-body")
    assert body.text.count("New person") == new_people.count()
    admin.key(Keys.ENTER)
    wait_for(browser, "#approvals-message", "Approved")
    assert new_people.count() == 0

    # Then everyone else, a page of investors at a time. The first time, another admin decides
    # one of the listed proposals while the confirmation is open: nothing is decided, the new
    # preview is shown, and a second Enter decides exactly that.
    admin.choose("Known contacts")
    interfered = False
    while pending():
        wait_until(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#approvals-groups .approvals-row"))
        admin.click("#approvals-all")
        wait_until(browser, lambda: every_group_ticked(browser))
        admin.key("a")
        wait_for(browser, ".modal.show #approvals-confirm-go")
        if not interfered:  # a proposal of an investor on this page: the open preview covers it
            shown = [
                int(json.loads(row.get_attribute("id"))["key"])
                for row in browser.find_elements(By.CSS_SELECTOR, "#approvals-groups .row-open")
            ]
            other = (
                ActivityProposal.select()
                .where((ActivityProposal.status == "pending") & ActivityProposal.investor.in_(shown))
                .first()
            )
            proposals.approve(
                other.id, User.get(User.email == demo.demo.admin_email), demo.clock.now(), directory=demo.directory
            )
            admin.key(Keys.ENTER)
            wait_for(browser, "#approvals-confirm-changed", "changed since you looked")
            interfered = True
        left = pending()
        admin.key(Keys.ENTER)
        wait_until(browser, lambda left=left: pending() < left)
        WebDriverWait(browser, 30).until(EC.invisibility_of_element_located((By.ID, "approvals-confirm")))
    wait_for(browser, "#approvals-count", "0 pending")
    wait_for(browser, "#approvals-list", "Nothing to decide here")

    print(f"\ncleared the demo backlog of {backlog} proposals in {admin.actions} actions (goal <= {GOAL_ACTIONS})")
    assert pending() == 0
    assert admin.actions <= GOAL_ACTIONS
    assert severe_console_errors(browser) == []
