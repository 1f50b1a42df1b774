""" "Draft reply" on the email page through its real callbacks, on mail captured from the Gmail
simulator: the plan for the default and a chosen mailbox, the body by hand or by the local LLM
(and a clear message when it is down), creating the draft (one drafts.create in that mailbox, a
`Draft` row, a link to Gmail, the page's drafts list refreshed), and bad input creating nothing.
The one real-browser flow is at the end."""

from __future__ import annotations

import email
import email.policy

import pytest

from appsrc.gmail.credentials import SCOPE_READONLY
from appsrc.store.models import AuditEvent, Draft, Email, EmailAccountMessage
from tests.dashboard.desk import *
from tests.dashboard.test_browser import (  # noqa: F401
    browser,
    log_in,
    severe_console_errors,
    wait_for,
)
from tests.drafts.test_draft_reply import raw
from tests.live_server import served
from tests.web.test_api import text_children

CAROL = "carol@fund.example"  # a teammate's mailbox that never saw the mail


def deliver(desk, message: bytes, *mailboxes: str, sent_by: str | None = None) -> int:
    """Put the message in each mailbox (SENT for the sender), capture it, return its Email id."""
    for mailbox in mailboxes:
        desk.sim.insert_message(mailbox, message, label_ids=("SENT",) if mailbox == sent_by else ("INBOX",))
    assert all(report.ok for report in desk.runtime.sync_all())
    return Email.get(Email.subject == email.message_from_bytes(message)["Subject"]).id


@pytest.fixture
def q3(desk):
    """Jane (an investor) wrote to Ada and Bob, cc Joe."""
    return deliver(
        desk,
        raw(
            {
                "From": f"Jane Roe <{JANE}>",
                "To": f"{ADA}, {BOB}",
                "Cc": JOE,
                "Subject": "Q3 numbers",
                "Message-ID": "<q3@acme.example>",
                "Date": "Mon, 23 Nov 2026 10:00:00 +0000",
            },
            "Could you send the Q3 numbers?\nJane",
        ),
        ADA,
        BOB,
    )


def open_dialog(client, desk, email_id, *, mailbox=None, opening=True):
    trigger = f'{{"id":{email_id},"type":"email-draft-open"}}.n_clicks' if opening else "email-draft-mailbox.value"
    response = client.callback(
        desk.key("email-draft-modal.is_open"),
        [
            [
                {
                    "id": {"type": "email-draft-open", "id": email_id},
                    "property": "n_clicks",
                    "value": 1 if opening else None,
                }
            ],
            ("email-draft-close", "n_clicks", None),
            ("email-draft-mailbox", "value", mailbox),
        ],
        [("email-id", "data", str(email_id))],
        triggered=[trigger],
    )
    assert response.status_code == 200, response.text
    return response.json["response"]


def suggest(client, desk, email_id, mailbox=ADA):
    response = client.callback(
        desk.key("email-draft-suggestion.data@"),
        [("email-draft-suggest", "n_clicks", 1)],
        [("email-id", "data", str(email_id)), ("email-draft-mailbox", "value", mailbox)],
    )
    assert response.status_code == 200, response.text
    return response.json["response"]


def create(client, desk, email_id, *, mailbox=ADA, body="Happy to walk you through them.", suggestion=None):
    response = client.callback(
        desk.key("email-draft-result.children@"),
        [("email-draft-create", "n_clicks", 1)],
        [
            ("email-id", "data", str(email_id)),
            ("email-draft-mailbox", "value", mailbox),
            ("email-draft-body", "value", body),
            ("email-draft-suggestion", "data", suggestion),
            ("email-version", "data", 4),
        ],
    )
    return response


def plan_texts(answer) -> dict:
    rows = {}
    for row in answer["email-draft-plan"]["children"]["props"]["children"][0]["props"]["children"]["props"]["children"]:
        cells = row["props"]["children"]
        rows[cells[0]["props"]["children"]] = cells[1]["props"]["children"]
    return rows


def nothing_created(desk):
    assert Draft.select().count() == 0
    assert all(desk.sim.drafts(m) == [] for m in (ADA, BOB, BEN))
    assert not desk.sim.calls(method="users.drafts.create")


def test_draft_reply_button_is_on_the_email_view(desk_admin, desk, q3):
    response = desk_admin.callback(
        "email-content.children", [("email-id", "data", str(q3)), ("email-version", "data", 0)]
    )
    [button] = [b for b in find_components(response.json, "Button") if b["props"].get("children") == "Draft reply"]
    assert button["props"]["id"] == {"type": "email-draft-open", "id": q3} and button["props"]["disabled"] is False


def test_mail_deleted_everywhere_cannot_be_answered(desk_admin, desk, q3):
    for sighting in EmailAccountMessage.select().where(EmailAccountMessage.email == q3):
        desk.sim.trash(sighting.account.address, sighting.gmail_id)
    assert all(report.ok for report in desk.runtime.sync_all())
    response = desk_admin.callback(
        "email-content.children", [("email-id", "data", str(q3)), ("email-version", "data", 1)]
    )
    [button] = [b for b in find_components(response.json, "Button") if b["props"].get("children") == "Draft reply"]
    assert button["props"]["disabled"] is True
    answer = open_dialog(desk_admin, desk, q3)  # a stale page can still ask: told why, nothing to create
    assert any("no team mailbox holds a live copy" in t for t in text_children(answer["email-draft-plan"]))
    assert answer["email-draft-create"]["disabled"] is True and answer["email-draft-mailbox"]["options"] == []
    nothing_created(desk)


def test_plan_for_the_receiving_teammate_then_a_chosen_mailbox(desk_admin, desk, q3):
    answer = open_dialog(desk_admin, desk, q3)
    assert answer["email-draft-modal"]["is_open"] is True
    assert answer["email-draft-mailbox"] == {
        "options": [{"label": ADA, "value": ADA}, {"label": BOB, "value": BOB}],
        "value": ADA,
    }
    assert plan_texts(answer) == {
        "From": ADA,
        "To": f"Jane Roe <{JANE}>",
        "Cc": f"{BOB}, {JOE}",
        "Subject": "Re: Q3 numbers",
    }
    assert answer["email-draft-create"]["disabled"] is False and answer["email-draft-body"]["value"] == ""
    assert "email-draft-thread-note" not in str(answer)  # it has a Message-ID: the reply threads
    assert "email-draft-bcc-note" not in str(answer)  # Ada was in To

    chosen = open_dialog(desk_admin, desk, q3, mailbox=BOB, opening=False)
    assert plan_texts(chosen) == {
        "From": BOB,
        "To": f"Jane Roe <{JANE}>",
        "Cc": f"{ADA}, {JOE}",
        "Subject": "Re: Q3 numbers",
    }
    assert "email-draft-body" not in chosen  # switching mailbox keeps what was written

    refused = open_dialog(desk_admin, desk, q3, mailbox=CAROL, opening=False)
    assert any(f"{CAROL} has no live copy of this email" in t for t in text_children(refused["email-draft-plan"]))
    assert refused["email-draft-create"]["disabled"] is True
    nothing_created(desk)


def test_a_teammates_own_mail_defaults_to_the_teammate_who_received_it(desk_admin, desk):
    eid = deliver(
        desk,
        raw(
            {
                "From": f"Ada Admin <{ADA}>",
                "To": JANE,
                "Cc": BOB,
                "Subject": "Intro",
                "Message-ID": "<intro@fund.example>",
                "Date": "Mon, 23 Nov 2026 11:00:00 +0000",
            }
        ),
        ADA,
        BOB,
        sent_by=ADA,
    )
    answer = open_dialog(desk_admin, desk, eid)
    assert answer["email-draft-mailbox"]["value"] == BOB
    assert plan_texts(answer)["To"] == JANE and plan_texts(answer)["Cc"] == f"Ada Admin <{ADA}>"


def test_a_mailbox_that_was_only_bccd_is_warned_that_replying_reveals_it(desk_admin, desk):
    eid = deliver(
        desk,
        raw(
            {
                "From": f"Bob Member <{BOB}>",
                "To": JANE,
                "Subject": "Quiet loop-in",
                "Message-ID": "<bcc@fund.example>",
                "Date": "Mon, 23 Nov 2026 12:00:00 +0000",
            }
        ),
        ADA,
    )
    answer = open_dialog(desk_admin, desk, eid)
    assert answer["email-draft-mailbox"]["value"] == ADA
    assert plan_texts(answer)["To"] == JANE and plan_texts(answer)["Cc"] == f"Bob Member <{BOB}>"
    [note] = [t for t in text_children(answer["email-draft-plan"]) if "Bcc" in t]
    assert note.startswith(f"{ADA} is not among the original's recipients") and "replying to all shows" in note
    assert answer["email-draft-create"]["disabled"] is False  # a warning, not a refusal


def test_no_message_id_warns_that_gmail_may_start_a_new_thread(desk_admin, desk):
    eid = deliver(
        desk, raw({"From": JANE, "To": ADA, "Subject": "No id here", "Date": "Mon, 23 Nov 2026 13:00:00 +0000"}), ADA
    )
    answer = open_dialog(desk_admin, desk, eid)
    assert any("no Message-ID" in t for t in text_children(answer["email-draft-plan"]))


def test_create_draft_saves_one_gmail_draft_and_links_to_it(desk_admin, desk, q3):
    response = create(desk_admin, desk, q3, body="Happy to walk you through them.")
    assert response.status_code == 200, response.text
    answer = response.json["response"]
    [link] = find_components(answer, "A")
    row = Draft.get()
    assert link["props"]["href"] == (
        f"https://mail.google.com/mail/u/{ADA}/#drafts?compose={desk.sim.drafts(ADA)[0].gmail_id}"
    )
    assert link["props"]["target"] == "_blank" and "noopener" in link["props"]["rel"]
    assert answer["email-draft-create"]["disabled"] is True  # no second draft by a second click
    assert answer["email-version"]["data"] == 5  # the page's drafts list is re-rendered
    assert answer["email-draft-suggest-message"]["children"] is None
    texts = " ".join(text_children(answer))
    assert f"in {ADA}'s Gmail — nothing was sent" in texts and f"To {JANE}; cc {BOB}, {JOE}" in texts
    [stored] = desk.sim.drafts(ADA)
    message = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert "Happy to walk you through them." in message.get_content() and message["Subject"] == "Re: Q3 numbers"
    assert (row.account.address, row.created_by_id, row.body_source, row.gmail_draft_id) == (
        ADA,
        desk.world.ada.id,
        "admin",
        stored.draft_id,
    )
    assert AuditEvent.get(AuditEvent.action == "draft.create").actor_id == desk.world.ada.id
    assert desk.sim.drafts(BOB) == [] and desk.sim.sent_messages() == []
    page = desk_admin.callback("email-content.children", [("email-id", "data", str(q3)), ("email-version", "data", 5)])
    assert f"In {ADA} · " in " ".join(text_children(page.json))


def test_the_local_llm_writes_an_editable_body(desk_admin, desk, q3):
    answer = suggest(desk_admin, desk, q3, mailbox=BOB)
    body = answer["email-draft-body"]["value"]
    assert body and answer["email-draft-suggestion"]["data"] == body
    assert "Q3 numbers" in str(desk.llm.requests[-1].body) and "Bob Member" in str(desk.llm.requests[-1].body)
    nothing_created(desk)  # a suggestion creates nothing
    create(desk_admin, desk, q3, mailbox=BOB, body=body, suggestion=body)
    assert Draft.get().body_source == "llm"  # sent unchanged: the model wrote it
    edited = body + "\n\nI will also bring the Q4 outlook."
    create(desk_admin, desk, q3, mailbox=BOB, body=edited, suggestion=body)
    assert [d.body_source for d in Draft.select().order_by(Draft.id)] == ["llm", "admin"]
    assert len(desk.sim.drafts(BOB)) == 2 and desk.sim.sent_messages() == []


def test_llm_down_says_so_and_the_admin_writes_by_hand(desk_admin, desk, q3):
    desk.llm.mode = "down"
    answer = suggest(desk_admin, desk, q3)
    assert "email-draft-body" not in answer  # what the admin typed stays
    assert text_children(answer["email-draft-suggest-message"]) == [
        "The local LLM did not answer; write the reply yourself or try again later."
    ]
    nothing_created(desk)
    assert create(desk_admin, desk, q3, body="Written by hand.").status_code == 200
    assert Draft.get().body_source == "admin" and len(desk.sim.drafts(ADA)) == 1


def _no_compose(desk):
    desk.sim.set_grant(desk.runtime.credentials.key_info().client_id, [SCOPE_READONLY])


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty body", "Write the reply (or use the local LLM) before creating the draft."),
        ("blank body", "Write the reply (or use the local LLM) before creating the draft."),
        ("no live sighting", f"No draft created: {CAROL} has no live copy of this email"),
        ("unknown email", "No draft created: no captured email 999999."),
        ("delegation error", f"No draft created: delegation for {ADA} failed"),
        ("no mailbox", "Choose the mailbox the draft is saved in."),
    ],
)
def test_bad_input_gets_a_clear_message_and_creates_nothing(desk_admin, desk, q3, case, expected):
    kwargs = {
        "empty body": {"body": ""},
        "blank body": {"body": "  \n "},
        "no live sighting": {"mailbox": CAROL},
        "unknown email": {},
        "delegation error": {},
        "no mailbox": {"mailbox": None},
    }[case]
    if case == "delegation error":
        _no_compose(desk)
    response = create(desk_admin, desk, 999_999 if case == "unknown email" else q3, **kwargs)
    assert response.status_code == 200, response.text
    answer = response.json["response"]
    texts = text_children(answer)
    assert any(t.startswith(expected) for t in texts), texts
    if case == "delegation error":
        fix = " ".join(texts)
        assert "Fix:" in fix and desk.runtime.credentials.key_info().client_id in fix
    assert "email-version" not in answer and "email-draft-create" not in answer
    assert "email-draft-suggest-message" not in answer
    nothing_created(desk)


def test_a_draft_gmail_made_but_not_recorded_says_where_it_is_and_blocks_a_second(desk_admin, desk, q3):
    from appsrc.store.db import database

    database.execute_sql(
        "CREATE TRIGGER draft_refused BEFORE INSERT ON draft BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    response = create(desk_admin, desk, q3)
    assert response.status_code == 200, response.text
    answer = response.json["response"]
    [made] = desk.sim.drafts(ADA)
    assert any(
        t.startswith(
            f"Created in Gmail but not recorded: the draft was created in {ADA}'s Gmail (draft id {made.draft_id})"
        )
        for t in text_children(answer)
    )
    assert answer["email-draft-create"]["disabled"] is True  # it exists: no second one by a second click
    assert Draft.select().count() == 0 and not AuditEvent.select().where(AuditEvent.action == "draft.create").exists()


def test_a_draft_gmail_did_not_confirm_may_exist_so_a_second_click_is_blocked(desk_admin, desk, q3):
    desk.sim.faults.fail_next("users.drafts.create", 1, 503)
    response = create(desk_admin, desk, q3)
    assert response.status_code == 200, response.text
    answer = response.json["response"]
    assert any(
        t.startswith(f"Gmail did not confirm: Gmail did not confirm the draft for {ADA}") for t in text_children(answer)
    )
    assert answer["email-draft-create"]["disabled"] is True
    assert [c.status for c in desk.sim.calls("users.drafts.create")] == [503]  # asked once, never again
    assert Draft.select().count() == 0 and desk.sim.sent_messages() == []


def test_a_teammate_cannot_draft(desk_member, desk, q3):
    response = create(desk_member, desk, q3, body="x")
    assert response.status_code == 403 and response.json == {"error": "admin only"}
    response = desk_member.callback(
        desk.key("email-draft-suggestion.data@"),
        [("email-draft-suggest", "n_clicks", 1)],
        [("email-id", "data", str(q3)), ("email-draft-mailbox", "value", ADA)],
    )
    assert response.status_code == 403
    nothing_created(desk)
    assert desk.llm.requests == []


# -- the real browser --------------------------------------------------------------------------------------
@pytest.fixture
def desk_server(desk):
    """The desk's app served by waitress on a free local port, in a thread."""
    with served(desk.app) as url:
        yield url


@pytest.mark.browser
def test_browser_admin_drafts_a_reply_and_gets_the_gmail_link(desk_server, browser, desk, q3):
    """(The server is set up before the browser, so the browser quits first and the server stops at once.)"""
    from selenium.webdriver.common.by import By

    log_in(browser, desk_server, ADA, desk.world.PASSWORD, next_=f"/email/{q3}")
    wait_for(browser, "#email-subject", "Q3 numbers")
    browser.find_element(By.XPATH, "//div[@id='email-actions']//button[normalize-space()='Draft reply']").click()
    assert wait_for(browser, "#email-draft-to", JANE).text == f"Jane Roe <{JANE}>"
    assert browser.find_element(By.ID, "email-draft-cc").text == f"{BOB}, {JOE}"
    assert browser.find_element(By.ID, "email-draft-from").text == ADA  # the teammate who received it
    browser.find_element(By.ID, "email-draft-body").send_keys("Happy to walk you through them on Thursday.")
    browser.find_element(By.ID, "email-draft-create").click()
    link = wait_for(browser, "#email-draft-link")
    [stored] = desk.sim.drafts(ADA)
    assert link.get_attribute("href") == f"https://mail.google.com/mail/u/{ADA}/#drafts?compose={stored.gmail_id}"
    assert link.get_attribute("target") == "_blank"
    assert browser.find_element(By.ID, "email-draft-create").get_attribute("disabled") is not None
    browser.find_element(By.ID, "email-draft-close").click()
    wait_for(browser, "#email-drafts", f"In {ADA} · ")  # the drafts list on the page, refreshed
    message = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert "Happy to walk you through them on Thursday." in message.get_content()
    assert Draft.select().count() == 1 and desk.sim.drafts(BOB) == []
    assert desk.sim.sent_messages() == [] and not desk.sim.calls(method="users.messages.send")
    assert severe_console_errors(browser) == []
