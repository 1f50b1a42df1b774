"""The conversation on the dashboard, through Dash's callback endpoint: the email page's thread,
Gmail links and attachment list; the investor page's conversations and documents (paged with
Older/Newer) and its CSV export; the contact page's conversations."""

from __future__ import annotations

import json
import sys

from plotly.io.json import to_json_plotly

from appsrc.dashboard.conversation_ui import human_size
from tests.crm.fixtures import *
from tests.dashboard.desk import callback_key, find_components
from tests.web.test_api import text_children
from tests.web.test_conversations_api import talk  # noqa: F401  (a fixture: the same conversation)

ADA, BOB = "ada@fund.example", "bob@fund.example"


def page_module(name: str):
    """A dashboard page's module as Dash loaded it (Dash imports pages as `pages.<name>`)."""
    return sys.modules[f"pages.{name}"]


def as_json(component) -> dict:
    return json.loads(to_json_plotly(component))


def post(client, app, contains: str, inputs, state=(), triggered=None):
    response = client.callback(callback_key(app, contains), inputs, state, triggered=triggered)
    assert response.status_code == 200, response.text
    return response.json["response"]


def test_human_sizes():
    assert [human_size(n) for n in (0, 1, 820, 1024, 48_213, 1_500_000, 3 * 1024**3, None, -1)] == [
        "0 bytes",
        "1 byte",
        "820 bytes",
        "1.0 KB",
        "47 KB",
        "1.4 MB",
        "3.0 GB",
        "size unknown",
        "size unknown",
    ]


def test_the_email_page_shows_the_conversation_and_the_attachments(admin_client, app, talk):
    answer = post(
        admin_client,
        app,
        "email-content.children",
        [("email-id", "data", str(talk.reply.id)), ("email-version", "data", 0)],
    )
    tree = answer["email-content"]["children"]
    messages = [d for d in find_components(tree, "Div") if "data-email-id" in d["props"]]
    assert [(m["props"]["data-email-id"], m["props"]["aria-current"]) for m in messages] == [
        (str(talk.call.id), "false"),
        (str(talk.reply.id), "true"),
    ]
    # The other message links to its page; this one does not link to itself.
    assert [link["props"]["href"] for link in find_components(messages[0], "Link")] == [f"/email/{talk.call.id}"]
    assert find_components(messages[1], "Link") == []
    hrefs = [a["props"]["href"] for a in find_components(messages[0], "A")]
    assert len(hrefs) == 2 and all("authuser=" in h for h in hrefs)
    call_page = post(
        admin_client,
        app,
        "email-content.children",
        [("email-id", "data", str(talk.call.id)), ("email-version", "data", 0)],
    )
    texts = text_children(call_page)
    assert "call-notice.pdf" in texts and " · 47 KB" in texts and " · application/pdf" in texts
    assert "Conversation · 2 messages" in texts


def pager_inputs(prefix, record, state=None, clicked=None):
    inputs = [
        (f"{prefix.split('-')[0]}-id", "data", str(record)),
        (f"{prefix.split('-')[0]}-version", "data", 0),
        (f"{prefix}-newer", "n_clicks", 1 if clicked == "newer" else None),
        (f"{prefix}-older", "n_clicks", 1 if clicked == "older" else None),
    ]
    triggered = [f"{prefix}-{clicked}.n_clicks"] if clicked else [f"{prefix.split('-')[0]}-id.data"]
    return inputs, [(f"{prefix}-pager", "data", state)], triggered


def links_in(answer, list_key):
    return [link["props"]["href"] for link in find_components(answer[list_key]["children"], "Link")]


def test_investor_conversations_and_documents_page_with_older_and_newer(admin_client, app, talk, monkeypatch):
    monkeypatch.setattr(page_module("investor"), "PAGE_SIZE", 1)
    prefix = "investor-conversations"
    inputs, state, triggered = pager_inputs(prefix, talk.acme.id)
    first = post(admin_client, app, "investor-conversations.children", inputs, state, triggered)
    assert links_in(first, "investor-conversations") == [f"/email/{talk.memo.id}"]
    assert first["investor-conversations-newer"]["disabled"] is True
    assert first["investor-conversations-older"]["disabled"] is False
    inputs, state, triggered = pager_inputs(prefix, talk.acme.id, first[f"{prefix}-pager"]["data"], "older")
    second = post(admin_client, app, "investor-conversations.children", inputs, state, triggered)
    assert links_in(second, "investor-conversations") == [f"/email/{talk.reply.id}"]  # the latest of the thread
    assert "waiting on them" in text_children(second) and " · 2 messages" in text_children(second)
    assert second["investor-conversations-older"]["disabled"] is True
    inputs, state, triggered = pager_inputs(prefix, talk.acme.id, second[f"{prefix}-pager"]["data"], "newer")
    back = post(admin_client, app, "investor-conversations.children", inputs, state, triggered)
    assert links_in(back, "investor-conversations") == [f"/email/{talk.memo.id}"]
    # A tampered pager falls back to the first page instead of failing.
    junk = {"stack": ["junk", "junk"], "next": None}
    inputs, state, triggered = pager_inputs(prefix, talk.acme.id, junk, "newer")
    tampered = post(admin_client, app, "investor-conversations.children", inputs, state, triggered)
    assert links_in(tampered, prefix) == [f"/email/{talk.memo.id}"]
    inputs, state, triggered = pager_inputs("investor-documents", talk.acme.id)
    documents = post(admin_client, app, "investor-documents.children", inputs, state, triggered)
    texts = text_children(documents)
    assert "call-notice.pdf" in texts and "47 KB" in texts and "application/pdf" in texts
    assert links_in(documents, "investor-documents") == [f"/email/{talk.call.id}"]
    # An unknown investor shows nothing here (the page's header says it is not found).
    inputs, state, triggered = pager_inputs(prefix, 999_999)
    assert (
        post(admin_client, app, "investor-conversations.children", inputs, state, triggered)[prefix]["children"] is None
    )


def test_the_contact_page_lists_the_persons_conversations(admin_client, app, talk):
    inputs, state, triggered = pager_inputs("contact-conversations", talk.jane.id)
    answer = post(admin_client, app, "contact-conversations.children", inputs, state, triggered)
    assert links_in(answer, "contact-conversations") == [f"/email/{talk.reply.id}"]


def test_the_investor_page_exports_its_timeline_as_csv(admin_client, talk):
    investor = page_module("investor")
    export = find_components(as_json(investor.layout(str(talk.acme.id))), "A")
    hrefs = [a["props"]["href"] for a in export if a["props"].get("id") == "investor-export"]
    assert hrefs == [f"/api/investors/{talk.acme.id}/activities.csv"]
    response = admin_client.http.get(hrefs[0])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert find_components(as_json(investor.layout("not-an-id")), "A") == []
