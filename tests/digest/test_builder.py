"""`build_digest`: its return shape, the two-section compose (text and HTML), the
"no activity" digest, the LLM paragraphs and their per-user count-only fallback."""

from __future__ import annotations

import time
from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from appsrc.digest.activity import collect_user_activity, load_window
from appsrc.digest.builder import NO_ACTIVITY_LINE, build_digest, clean_paragraph, user_prompt
from appsrc.digest.render import MAX_ITEMS_PER_INVESTOR, NO_ACTIVITY
from appsrc.llm import LlmConfig, LlmError, make_chat_fn
from tests.conftest import NOW

SINCE, UNTIL = NOW - timedelta(hours=24), NOW
NY = ZoneInfo("America/New_York")
SPEC_KEYS = {"subject", "body", "has_activity", "user_count", "email_count", "investor_count"}


def some_mail(fund):
    fund.mail(
        subject="Q3 letter questions",
        sender="jane@acme.example",
        to=["ada@fund.example", "tom@fund.example"],
        sent_at=NOW - timedelta(hours=5),
        links=[("acme", "jane", "jane@acme.example")],
        snippet="Could you send the <b>updated</b> deck & the side letter?",
    )
    fund.mail(
        subject="Re: Q3 letter questions",
        sender="ada@fund.example",
        to=["jane@acme.example"],
        sent_at=NOW - timedelta(hours=4),
        links=[("acme", "jane", "jane@acme.example")],
    )
    fund.mail(
        subject="Capital call <schedule> & timing",
        sender="ben@fund.example",
        to=["carl@beta.example"],
        sent_at=NOW - timedelta(hours=3),
        links=[("beta", "carl", "carl@beta.example")],
    )


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.parts.append(data)


def test_return_shape_counts_and_two_sections(db, fund):
    some_mail(fund)
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    assert set(digest) >= SPEC_KEYS and "html" in digest
    assert (digest["has_activity"], digest["email_count"], digest["user_count"], digest["investor_count"]) == (
        True,
        3,
        3,
        2,
    )
    assert digest["subject"] == "IR digest — Mon 2 Nov 2026: 3 emails, 2 investors"
    body = digest["body"]
    assert body.index("BY TEAM MEMBER") < body.index("BY INVESTOR")
    assert "Ada Admin — sent 1 · received 1" in body and "Tom Teammate — sent 0 · received 1" in body
    assert "Acme Capital — 1 in · 1 out" in body and "Beta Partners — 0 in · 1 out" in body
    assert "Ivy" not in body  # deactivated
    # Times are the fund's local time (New York is UTC-5 in November).
    assert "Sun 1 Nov, 10:30 AM → Mon 2 Nov, 10:30 AM (America/New_York)" in body
    assert "← Mon 5:30 AM  Q3 letter questions — from Jane Doe (Ada Admin, Tom Teammate)" in body


def test_the_window_may_be_given_as_iso_strings(db, fund):
    some_mail(fund)
    by_strings = build_digest(db, SINCE.isoformat(), UNTIL.astimezone(NY).isoformat(), tz=NY)
    assert by_strings["body"] == build_digest(db, SINCE, UNTIL, tz=NY)["body"]
    zulu = build_digest(db, SINCE.strftime("%Y-%m-%dT%H:%M:%SZ"), UNTIL.strftime("%Y-%m-%dt%H:%M:%Sz"), tz=NY)
    assert zulu["body"] == by_strings["body"]  # RFC 3339 lets "T" and "Z" be lower case
    assert by_strings["window_start"] == SINCE and by_strings["email_count"] == 3
    with pytest.raises(ValueError, match="since: not an ISO 8601 time"):
        build_digest(db, "yesterday", UNTIL)


def test_html_is_escaped_and_reads_like_the_text(db, fund):
    some_mail(fund)
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    html = digest["html"]
    assert "<schedule>" not in html and "Capital call &lt;schedule&gt; &amp; timing" in html
    parser = _Text()
    parser.feed(html)
    text = " ".join(parser.parts)
    assert "By team member" in text and "By investor" in text and "Acme Capital" in text
    assert {"script", "style", "img", "a"}.isdisjoint(parser.tags)  # nothing Gmail would strip or fetch
    assert len(html.encode()) < 100_000


def test_no_activity_digest(db, fund):
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    assert (digest["has_activity"], digest["email_count"], digest["user_count"], digest["investor_count"]) == (
        False,
        0,
        0,
        0,
    )
    assert digest["subject"] == "IR digest — Mon 2 Nov 2026: no activity"
    assert NO_ACTIVITY in digest["body"] and NO_ACTIVITY in digest["html"].replace("&#x27;", "'")


def test_count_only_fallback_without_an_llm(db, fund):
    some_mail(fund)
    body = build_digest(db, SINCE, UNTIL, None, tz=NY)["body"]
    assert "Ada Admin: 1 sent, 1 received, 1 investor involved." in body
    assert "Ben Admin: 1 sent, 0 received, 1 investor involved." in body


def test_idle_users_get_a_line_and_no_llm_call(db, fund, llm):
    fund.mail(
        subject="only Ben",
        sender="ben@fund.example",
        to=["carl@beta.example"],
        sent_at=NOW - timedelta(hours=1),
        links=[("beta", "carl", "carl@beta.example")],
    )
    digest = build_digest(db, SINCE, UNTIL, make_chat_fn(LlmConfig(llm.url, "m", 5)), tz=NY)
    assert len(llm.requests) == 1 and digest["llm"] == {"calls": 1, "fallbacks": 0}
    assert f"Ada Admin — no activity\n{NO_ACTIVITY_LINE}" in digest["body"]


def test_llm_paragraphs_from_the_stub_server(db, fund, llm):
    some_mail(fund)
    digest = build_digest(db, SINCE, UNTIL, make_chat_fn(LlmConfig(llm.url, "m", 5)), tz=NY)
    assert len(llm.requests) == 3 and digest["llm"] == {"calls": 3, "fallbacks": 0}
    assert digest["body"].count("Regarding ") == 3 and "involved." not in digest["body"]
    prompt = next(
        r.body["messages"][1]["content"] for r in llm.requests if "Ada Admin" in r.body["messages"][1]["content"]
    )
    assert "Q3 letter questions" in prompt and "Acme Capital" in prompt  # un-anonymized, stays local


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_llm_failure_falls_back_per_user(db, fund, llm, mode):
    some_mail(fund)
    llm.mode = mode
    digest = build_digest(db, SINCE, UNTIL, make_chat_fn(LlmConfig(llm.url, "m", 5)), tz=NY)
    assert digest["llm"]["fallbacks"] == 3 and digest["body"].count("investor involved.") == 3


def test_llm_unreachable_falls_back(db, fund, llm):
    some_mail(fund)
    llm.stop()
    digest = build_digest(db, SINCE, UNTIL, make_chat_fn(LlmConfig(llm.url, "m", 5)), tz=NY)
    assert digest["llm"]["fallbacks"] == 3 and digest["has_activity"]


def test_one_slow_user_does_not_delay_the_digest(db, fund):
    some_mail(fund)

    def chat(messages):
        if "Tom Teammate" in messages[1]["content"]:
            time.sleep(5)
        return "A perfectly fine narrative paragraph about the day."

    started = time.monotonic()
    digest = build_digest(db, SINCE, UNTIL, chat, tz=NY, llm_deadline_s=0.5)
    # Tom's call takes 5 s; the digest is built before it (deadline 0.5 s; a generous 3.5 s
    # bound for a loaded machine): real time is the point here.
    assert time.monotonic() - started < 3.5
    assert digest["llm"] == {"calls": 3, "fallbacks": 1}
    assert "Tom Teammate: 0 sent, 1 received, 1 investor involved." in digest["body"]
    assert digest["body"].count("A perfectly fine narrative") == 2


def test_one_failing_user_does_not_break_the_digest(db, fund):
    some_mail(fund)

    def chat(messages):
        if "Ben Admin" in messages[1]["content"]:
            raise LlmError("model overloaded")
        return "**Ada** had a *busy* day with Acme.  Follow-up owed."

    digest = build_digest(db, SINCE, UNTIL, chat, tz=NY)
    assert "Ada had a busy day with Acme. Follow-up owed." in digest["body"]  # markdown stripped
    assert "Ben Admin: 1 sent, 0 received" in digest["body"]


def test_paragraph_cleaning():
    assert clean_paragraph("ok") is None
    assert clean_paragraph('  "# A heading-ish line that is long enough"  ') == "A heading-ish line that is long enough"
    long = "Sentence number one is here. " * 60
    cleaned = clean_paragraph(long)
    assert len(cleaned) <= 900 and cleaned.endswith(".")


def test_prompt_is_bounded(db, fund):
    for n in range(60):
        fund.mail(
            subject=f"note {n}",
            sender="jane@acme.example",
            to=["ada@fund.example"],
            sent_at=NOW - timedelta(minutes=n + 1),
            links=[("acme", "jane", "jane@acme.example")],
        )
    ada = collect_user_activity(load_window(SINCE, UNTIL))[0]
    content = user_prompt(ada, NY)[1]["content"]
    assert "(The 20 earliest emails are left out.)" in content and content.count("\n- ") == 40


def test_long_investor_lists_are_cut_and_counted(db, fund):
    for n in range(MAX_ITEMS_PER_INVESTOR + 3):
        fund.mail(
            subject=f"note {n}",
            sender="jane@acme.example",
            to=["ada@fund.example"],
            sent_at=NOW - timedelta(minutes=n + 1),
            links=[("acme", "jane", "jane@acme.example")],
        )
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    assert "… and 3 more" in digest["body"] and "… and 3 more" in digest["html"]
    assert "note 0" in digest["body"] and "note 7" not in digest["body"]  # newest shown
