"""Real headless Chromium against the real server: the email page shows the whole conversation in
order with the open email marked, each message's "Open in Gmail" links carry that mailbox as
`authuser` and that mailbox's own Gmail thread id, the attachments are listed; following another
message opens its page; the investor page lists the conversation, the documents and the export."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from appsrc.store.models import EmailAccount, EmailAccountMessage
from tests.crm.fixtures import *
from tests.dashboard.test_browser import browser, log_in, server, severe_console_errors, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

ADA, BOB = "ada@fund.example", "bob@fund.example"
PDF = {"filename": "call-notice.pdf", "content_type": "application/pdf", "size": 48_213}


@pytest.fixture
def talk(world):
    """Jane's capital call, Ada's reply, Jane's answer: Ada and Bob hold the call and the answer,
    and Bob's Gmail numbers the thread differently from Ada's."""
    w = world
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.call = w.email(
        "Capital call", "jane@acme.example", [ADA, BOB], sent_at=w.now - timedelta(days=3), attachments=[PDF]
    )
    w.reply = w.email(
        "Re: Capital call", ADA, ["jane@acme.example"], sent_at=w.now - timedelta(days=2), reply_to=w.call
    )
    w.answer = w.email(
        "Re: Capital call", "jane@acme.example", [ADA, BOB], sent_at=w.now - timedelta(days=1), reply_to=w.call
    )
    bob = EmailAccount.get(EmailAccount.address == BOB)
    EmailAccountMessage.update(gmail_thread_id="bob-thread-9").where(EmailAccountMessage.account == bob.id).execute()
    w.ada_thread = "t" + w.call.thread_key.removeprefix("mid:<m").removesuffix("@test>")
    return w


def gmail_target(href: str) -> tuple[str, str]:
    parts = urlsplit(href)
    return parse_qs(parts.query)["authuser"][0], parts.fragment.removeprefix("all/")


def test_the_email_page_reads_as_a_conversation_with_gmail_links_per_mailbox(server, browser, talk):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    log_in(browser, server, ADA, talk.PASSWORD, next_=f"/email/{talk.reply.id}")
    wait_for(browser, "#email-subject", "Re: Capital call")
    wait_for(browser, "#email-thread")
    messages = browser.find_elements(By.CSS_SELECTOR, "#email-thread .thread-message")
    assert [m.get_attribute("data-email-id") for m in messages] == [
        str(talk.call.id),
        str(talk.reply.id),
        str(talk.answer.id),
    ]
    assert [m.get_attribute("aria-current") for m in messages] == ["false", "true", "false"]
    assert "this email" in messages[1].text and "this email" not in messages[0].text
    assert "jane@acme.example" in messages[0].text and ADA in messages[1].text

    def links(message):
        return [
            (a.text, gmail_target(a.get_attribute("href")), a.get_attribute("target"))
            for a in message.find_elements(By.CSS_SELECTOR, "a.gmail-link")
        ]

    assert links(messages[0]) == [
        (ADA, (ADA, talk.ada_thread), "_blank"),
        (BOB, (BOB, "bob-thread-9"), "_blank"),
    ]
    assert links(messages[1]) == [(ADA, (ADA, talk.ada_thread), "_blank")]
    assert [a[1] for a in links(messages[2])] == [(ADA, talk.ada_thread), (BOB, "bob-thread-9")]
    # The email's own links, one per live mailbox, above the headers.
    own = browser.find_elements(By.CSS_SELECTOR, "#email-gmail-links a.gmail-link")
    assert [gmail_target(a.get_attribute("href")) for a in own] == [(ADA, talk.ada_thread)]

    # Another message of the conversation opens its own page, with its attachments.
    messages[0].find_element(By.LINK_TEXT, "Capital call").click()
    WebDriverWait(browser, 15).until(EC.url_to_be(f"{server}/email/{talk.call.id}"))
    wait_for(browser, "#email-subject", "Capital call")
    attachments = wait_for(browser, "#email-attachments")
    assert (
        "call-notice.pdf" in attachments.text and "application/pdf" in attachments.text and "47 KB" in attachments.text
    )
    wait_for(browser, "#email-thread .thread-current")
    current = browser.find_element(By.CSS_SELECTOR, "#email-thread .thread-current")
    assert current.get_attribute("data-email-id") == str(talk.call.id)

    # The investor page: one conversation waiting on us, the document, the export.
    browser.get(f"{server}/investors/{talk.acme.id}")
    conversation = wait_for(browser, "#investor-conversation-list", "Capital call")
    assert "3 messages" in conversation.text and "waiting on us" in conversation.text
    assert wait_for(browser, "#investor-document-list", "call-notice.pdf")
    export = browser.find_element(By.ID, "investor-export")
    assert export.get_attribute("href") == f"{server}/api/investors/{talk.acme.id}/activities.csv"
    assert severe_console_errors(browser) == []
