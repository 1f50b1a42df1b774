"""The builder's rules, stated: what a fund admin receives (return shape, counts, subject, the
window and the fund's zone in rendered times, the count-only paragraph) and what the local LLM
is told (the per-member prompt), how its answer is cleaned, and how the window may be given."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.digest.activity import TeamMember, UserActivity, UserItem
from appsrc.digest.builder import NO_ACTIVITY_LINE, SYSTEM_PROMPT, build_digest, clean_paragraph, user_prompt
from appsrc.store.models import Investor
from tests.conftest import NOW

SINCE, UNTIL = NOW - timedelta(hours=24), NOW  # NOW is Mon 2 Nov 2026 15:30 UTC = 10:30 AM in New York
NY = ZoneInfo("America/New_York")
PARAGRAPH = "A perfectly fine narrative paragraph about the day."


def small_day(fund):
    """Ada: a question from Jane (Acme), her answer, and a note to a lawyer (no investor).
    Tom holds Jane's question too; Ben has nothing in the window."""
    fund.mail(
        subject="Q3   letter\nquestions",
        sender="jane@acme.example",
        to=["ada@fund.example", "tom@fund.example"],
        sent_at=NOW - timedelta(hours=5),
        links=[("acme", "jane", "jane@acme.example")],
        snippet="Could you send the   updated\n deck?",
    )
    fund.mail(
        subject="Re: Q3 letter questions",
        sender="ada@fund.example",
        to=["jane@acme.example"],
        sent_at=NOW - timedelta(hours=4),
        links=[("acme", "jane", "jane@acme.example")],
        snippet="Deck attached.",
    )
    fund.mail(
        subject="Side letter draft",
        sender="ada@fund.example",
        to=["lawyer@firm.example"],
        sent_at=NOW - timedelta(hours=2),
        snippet="Draft v2 for review.",
    )


class Recorder:
    """A chat function that records what the model is told and answers with a usable paragraph."""

    def __init__(self, answer: str = PARAGRAPH) -> None:
        self.answer, self.calls, self.lock = answer, [], threading.Lock()

    def __call__(self, messages):
        with self.lock:
            self.calls.append(messages)
        return self.answer

    def told_about(self, label: str):
        (found,) = [m for m in self.calls if m[1]["content"].startswith(f"Team member: {label} ")]
        return found


def member(name: str = "Ada Admin", email: str = "ada@fund.example") -> TeamMember:
    return TeamMember(1, name, email)


def item(n: int, **changes) -> UserItem:
    values = {
        "email_id": n,
        "sent_at": NOW - timedelta(minutes=100 - n),
        "direction": "received",
        "subject": f"note {n}",
        "counterpart": "jane@acme.example",
        "investors": (),
        "snippet": f"snippet {n}",
    }
    values.update(changes)
    return UserItem(**values)


# -- the digest a fund admin receives -------------------------------------------------------------


def test_one_email_is_activity_and_the_team_counts_every_active_member(db, fund):
    """One email is enough for `has_activity`; `team_size` counts every active member, idle or not;
    `user_count` only those with mail."""
    fund.mail(subject="hello", sender="carl@beta.example", to=["ben@fund.example"], sent_at=NOW - timedelta(hours=1))
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    assert (digest["has_activity"], digest["email_count"], digest["user_count"], digest["team_size"]) == (
        True,
        1,
        1,
        3,
    )
    assert digest["subject"] == "IR digest — Mon 2 Nov 2026: 1 email, 0 investors"


def test_the_digest_reports_its_window(db, fund):
    """`window_start` and `window_end` are the window the digest covers, as aware UTC instants."""
    digest = build_digest(db, SINCE, UNTIL, tz=NY)
    assert (digest["window_start"], digest["window_end"]) == (SINCE, UNTIL)


def test_the_subject_names_the_funds_local_day_of_the_window_end(db, fund):
    """At 03:00 UTC on Tuesday it is still Monday evening in New York: the subject says Monday."""
    until = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    digest = build_digest(db, until - timedelta(hours=24), until, tz=NY)
    assert digest["subject"] == "IR digest — Mon 2 Nov 2026: no activity"
    assert "Sun 1 Nov, 10:00 PM → Mon 2 Nov, 10:00 PM (America/New_York)" in digest["body"]


def test_times_are_utc_and_named_utc_by_default(db, fund):
    """Without a zone the digest is in UTC, and its header says so."""
    digest = build_digest(db, SINCE, UNTIL)
    assert "Sun 1 Nov, 3:30 PM → Mon 2 Nov, 3:30 PM (UTC)" in digest["body"]
    assert "(UTC)" in digest["html"]


def test_the_zone_is_shown_by_the_name_the_fund_gave_it(db, fund):
    """`tz_name` (the fund's configured name) labels the window; the times are in `tz`."""
    digest = build_digest(db, SINCE, UNTIL, tz=NY, tz_name="US/Eastern")
    assert "Sun 1 Nov, 10:30 AM → Mon 2 Nov, 10:30 AM (US/Eastern)" in digest["body"]
    assert "America/New_York" not in digest["body"]


def test_our_own_addresses_decide_who_wrote_to_whom(db, fund):
    """Given `own_addresses`, the by-investor direction follows them and not the store's mailboxes:
    Ben's email to Carl counts as inbound when Ben's address is not one of ours."""
    fund.mail(
        subject="Capital call",
        sender="ben@fund.example",
        to=["carl@beta.example"],
        sent_at=NOW - timedelta(hours=3),
        links=[("beta", "carl", "carl@beta.example")],
    )
    assert "Beta Partners — 0 in · 1 out" in build_digest(db, SINCE, UNTIL, tz=NY)["body"]
    theirs = build_digest(db, SINCE, UNTIL, tz=NY, own_addresses=frozenset({"ada@fund.example"}))
    assert "Beta Partners — 1 in · 0 out" in theirs["body"]


def test_the_digest_reads_one_snapshot(db, fund):
    """A change committed while the digest is being read (Acme deleted by another connection right
    after the first read) does not show up half-way: the digest describes the store as it was."""
    small_day(fund)
    conn = db.connection()
    selects = []

    def delete_acme():
        Investor.update(deleted_at=NOW).where(Investor.name == "Acme Capital").execute()
        db.close()

    def trace(sql):
        if sql.lstrip().upper().startswith("SELECT"):
            selects.append(sql)
            if len(selects) == 2:  # the digest has started reading
                writer = threading.Thread(target=delete_acme)
                writer.start()
                writer.join()

    conn.set_trace_callback(trace)
    try:
        body = build_digest(db, SINCE, UNTIL, tz=NY)["body"]
    finally:
        conn.set_trace_callback(None)
    assert len(selects) > 2 and Investor.get(Investor.name == "Acme Capital").deleted_at is not None
    assert "Acme Capital — 1 in · 1 out" in body and "jane@acme.example —" not in body


# -- the count-only paragraph ---------------------------------------------------------------------


def test_count_only_paragraph_wording(db, fund):
    """Without an LLM each member's paragraph is their counts: investors are named only when some
    were involved, with "investor" pluralised; idle members get the fixed no-activity line."""
    small_day(fund)
    fund.mail(
        subject="Commitment",
        sender="ada@fund.example",
        to=["carl@beta.example"],
        sent_at=NOW - timedelta(hours=1),
        links=[("beta", "carl", "carl@beta.example")],
    )
    fund.mail(subject="lunch?", sender="friend@else.example", to=["ben@fund.example"], sent_at=NOW - timedelta(hours=1))
    body = build_digest(db, SINCE, UNTIL, None, tz=NY)["body"]
    assert "Ada Admin — sent 3 · received 1\nAda Admin: 3 sent, 1 received, 2 investors involved.\n" in body
    assert "Ben Admin — sent 0 · received 1\nBen Admin: 0 sent, 1 received.\n" in body
    assert "Tom Teammate: 0 sent, 1 received, 1 investor involved." in body


def test_without_an_llm_there_are_no_calls(db, fund):
    """LLM statistics without an LLM: no calls; every busy member's paragraph is the count-only one."""
    small_day(fund)
    digest = build_digest(db, SINCE, UNTIL, None, tz=NY)
    assert digest["llm"] == {"calls": 0, "fallbacks": 2}
    assert NO_ACTIVITY_LINE in digest["body"]  # Ben


def test_an_unusable_answer_gets_the_count_only_paragraph(db, fund):
    """An LLM answer too short to be a paragraph is replaced by the member's counts, and counted."""
    small_day(fund)
    digest = build_digest(db, SINCE, UNTIL, Recorder("**OK.**"), tz=NY)
    assert digest["llm"] == {"calls": 2, "fallbacks": 2}
    assert "Ada Admin: 2 sent, 1 received, 1 investor involved." in digest["body"]


# -- what the local LLM is told -------------------------------------------------------------------


def test_the_prompt_for_a_small_day(db, fund):
    """Each busy member's prompt: the instructions, then their name and address, counts, the
    investors involved and each email (oldest first) with its local time, direction, counterpart,
    investors, subject and snippet (whitespace collapsed). Idle members are not asked about."""
    small_day(fund)
    chat = Recorder()
    digest = build_digest(db, SINCE, UNTIL, chat, tz=NY)
    assert digest["llm"] == {"calls": 2, "fallbacks": 0} and len(chat.calls) == 2
    assert chat.told_about("Ada Admin") == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "\n".join(
                [
                    "Team member: Ada Admin <ada@fund.example>",
                    "Sent 2, received 1.",
                    "Investors involved: Acme Capital",
                    "Emails (oldest first), quoted between <<<mail and mail>>>:",
                    "<<<mail",
                    "- Mon 05:30 received from jane@acme.example [Acme Capital]: “Q3 letter questions” — "
                    "Could you send the updated deck?",
                    "- Mon 06:30 sent to jane@acme.example [Acme Capital]: “Re: Q3 letter questions” — Deck attached.",
                    "- Mon 08:30 sent to lawyer@firm.example: “Side letter draft” — Draft v2 for review.",
                    "mail>>>",
                ]
            ),
        },
    ]
    assert chat.told_about("Tom Teammate")[1]["content"].splitlines()[:2] == [
        "Team member: Tom Teammate <tom@fund.example>",
        "Sent 0, received 1.",
    ]
    assert body_paragraphs(digest["body"]) == 2


def body_paragraphs(body: str) -> int:
    return body.count(PARAGRAPH)


def test_the_instructions_to_the_model():
    """The model is asked for one short plain paragraph from the given facts only."""
    system = user_prompt(UserActivity(member(), received=1, items=[item(1)]), NY)[0]
    assert system["role"] == "system"
    for rule in (
        "one short paragraph (two to four sentences)",
        "Use only the facts given",
        "no greeting, no list, no headings, no markdown, no invented facts",
    ):
        assert rule in system["content"]


def test_a_member_with_no_investor_mail_has_no_investor_line():
    """No "Investors involved" line and no investor brackets when no email matched an investor."""
    activity = UserActivity(member(), sent=1, items=[item(1, direction="sent", counterpart="lawyer@firm.example")])
    assert user_prompt(activity, UTC)[1]["content"] == (
        "Team member: Ada Admin <ada@fund.example>\n"
        "Sent 1, received 0.\n"
        "Emails (oldest first), quoted between <<<mail and mail>>>:\n"
        "<<<mail\n"
        "- Mon 13:51 sent to lawyer@firm.example: “note 1” — snippet 1\n"
        "mail>>>"
    )


def test_an_email_lists_all_its_investors():
    """An email about several investors names them all, in brackets, comma-separated."""
    activity = UserActivity(
        member(),
        received=1,
        items=[item(1, investors=("Acme Capital", "Beta Partners"))],
        investors=["Acme Capital", "Beta Partners"],
    )
    lines = user_prompt(activity, UTC)[1]["content"].splitlines()
    assert lines[2] == "Investors involved: Acme Capital, Beta Partners"
    assert email_lines(activity, UTC) == [
        "- Mon 13:51 received from jane@acme.example [Acme Capital, Beta Partners]: “note 1” — snippet 1"
    ]


def email_lines(activity: UserActivity, tz) -> list[str]:
    """The prompt's email lines: those inside the quoted-mail fence."""
    lines = user_prompt(activity, tz)[1]["content"].splitlines()
    return lines[lines.index("<<<mail") + 1 : lines.index("mail>>>")]


def test_the_prompt_names_at_most_fifteen_investors():
    """Only the 15 most mentioned investors are named (the list comes most mentioned first)."""
    names = [f"Investor {n:02d}" for n in range(20)]
    activity = UserActivity(member(), received=1, items=[item(1)], investors=names)
    line = user_prompt(activity, UTC)[1]["content"].splitlines()[2]
    assert line == "Investors involved: " + ", ".join(names[:15])


def test_long_subjects_and_snippets_are_cut():
    """A subject is cut to 150 characters and a snippet to 160, each on one line."""
    subject, snippet = "S" * 149 + "ubject" + " tail", "N" * 159 + "ippet tail"
    activity = UserActivity(member(), received=1, items=[item(1, subject=subject, snippet=snippet)])
    [line] = email_lines(activity, UTC)
    assert line == f"- Mon 13:51 received from jane@acme.example: “{'S' * 149}u” — {'N' * 159}i"


@pytest.mark.parametrize(("count", "note"), [(40, None), (41, "(The 1 earliest emails are left out.)")])
def test_the_prompt_keeps_the_latest_forty_emails(count, note):
    """Up to 40 emails are all in the prompt; beyond that the earliest are left out, and it says so."""
    activity = UserActivity(member(), received=count, items=[item(n) for n in range(count)])
    lines = user_prompt(activity, UTC)[1]["content"].splitlines()
    notes = [line for line in lines if line.startswith("(The ")]
    assert notes == ([note] if note else [])
    emails = email_lines(activity, UTC)
    assert emails[0].endswith(f"“note {count - 40}” — snippet {count - 40}") and len(emails) == 40


def test_prompt_times_are_the_funds_local_times():
    """Each email's time is given to the model as the fund's local weekday and 24-hour time."""
    late = item(1, sent_at=datetime(2026, 11, 3, 3, 5, tzinfo=UTC))
    activity = UserActivity(member(), received=1, items=[late])
    assert email_lines(activity, NY)[-1].startswith("- Mon 22:05 received ")
    assert email_lines(activity, ZoneInfo("Asia/Tokyo"))[-1].startswith("- Tue 12:05 ")


# -- how the model's answer is cleaned ------------------------------------------------------------


def test_a_paragraph_needs_twenty_characters():
    """After cleaning, an answer shorter than 20 characters is refused; 20 is enough."""
    assert clean_paragraph("Ada wrote to Acme ok") == "Ada wrote to Acme ok"
    assert clean_paragraph("Ada wrote to Acme!!") is None
    assert clean_paragraph('"**Ada wrote to Acme**"') is None  # 17 characters once cleaned


def test_cleaning_keeps_the_words():
    """Quotes around the answer, markdown marks and extra whitespace go; the words stay."""
    assert clean_paragraph("“Xavier at Acme asked for the Q3 deck. Ada sent it.”") == (
        "Xavier at Acme asked for the Q3 deck. Ada sent it."
    )
    assert clean_paragraph('  "## Ada and  Acme:\n\n`deck` sent, _call_ booked with Fund X"  ') == (
        "Ada and Acme: deck sent, call booked with Fund X"
    )


def test_a_paragraph_of_900_characters_is_kept_whole():
    """900 characters is the longest paragraph kept as it is."""
    text = ("Sentence number one is here. " * 31 + "x" * 900)[:900]
    assert clean_paragraph(text) == text


def test_a_long_paragraph_keeps_the_whole_sentences_that_fit():
    """Longer than 900 characters: cut after the last full sentence within the first 900."""
    text = "Sentence number one is here. " * 60
    assert clean_paragraph(text) == ("Sentence number one is here. " * 31).strip()


def test_a_long_paragraph_without_sentences_is_cut_with_an_ellipsis():
    """No sentence break within the first 900 characters: cut there, with an ellipsis."""
    assert clean_paragraph("word " * 300) == ("word " * 180).rstrip() + "…"


# -- the window ------------------------------------------------------------------------------------


def test_window_given_as_iso_strings(db, fund):
    """`since`/`until` may be ISO 8601 strings: with "Z", with an offset, or without a zone (UTC)."""
    digest = build_digest(db, "2026-11-01T15:30:00", " 2026-11-02T15:30:00Z ", tz=NY)
    assert (digest["window_start"], digest["window_end"]) == (SINCE, UNTIL)
    digest = build_digest(db, "2026-11-01T10:30:00-05:00", "2026-11-02T15:30:00+00:00", tz=NY)
    assert (digest["window_start"], digest["window_end"]) == (SINCE, UNTIL)


def test_a_bad_window_is_refused_by_name(db, fund):
    """A window end that is not a time is refused, naming which end is wrong."""
    with pytest.raises(ValueError, match=r"^until: not an ISO 8601 time: 'tomorrow'$"):
        build_digest(db, SINCE, "tomorrow")
    with pytest.raises(TypeError, match=r"^since: expected a datetime or an ISO 8601 string$"):
        build_digest(db, 1_700_000_000, UNTIL)
    with pytest.raises(TypeError, match=r"^until: expected a datetime or an ISO 8601 string$"):
        build_digest(db, SINCE, None)


# -- waiting on us ------------------------------------------------------------------------------
def waiting_fund(fund):
    """Carl (Beta) asked on Wednesday and nobody answered; Tess (Tomb, graveyard) on Thursday;
    Jane (Acme) on Thursday, answered by Ada on Friday; Dan (Gone LP, deleted) on Wednesday."""
    fund.mail(
        subject="Fees <b>&</b>",
        sender="carl@beta.example",
        to=["ada@fund.example"],
        sent_at=NOW - timedelta(days=5),
        links=[("beta", "carl", "carl@beta.example")],
    )
    fund.mail(
        subject="We are back",
        sender="tess@tomb.example",
        to=["tom@fund.example"],
        sent_at=NOW - timedelta(days=4),
        links=[("tomb", "tess", "tess@tomb.example")],
    )
    fund.mail(
        subject="Deck",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=NOW - timedelta(days=4),
        links=[("acme", "jane", "jane@acme.example")],
    )
    fund.mail(
        subject="Re: Deck",
        sender="ada@fund.example",
        to=["jane@acme.example"],
        sent_at=NOW - timedelta(days=3),
        links=[("acme", "jane", "jane@acme.example")],
    )
    fund.mail(
        subject="Hello",
        sender="dan@gone.example",
        to=["ada@fund.example"],
        sent_at=NOW - timedelta(days=5),
        links=[("gone", "dan", "dan@gone.example")],
    )


def test_waiting_on_us_lists_each_case_in_text_and_html(db, fund):
    """Unkeyed test mail is one conversation per email: Jane's question and Ada's answer are two
    conversations here, so Jane waits too; in real mail the answer shares the question's key."""
    waiting_fund(fund)
    small_day(fund)  # activity in the window: the section comes before the team's
    digest = build_digest(db, SINCE, UNTIL)
    assert (digest["waiting_count"], digest["waiting_lps"]) == (3, 3)
    lines = digest["body"].splitlines()
    start = lines.index("WAITING ON US: 3 LPS")
    assert lines[start + 1] == "=" * len("Waiting on us: 3 LPs")
    assert lines[start + 2 : start + 5] == [
        "  Beta Partners — Carl Beta <carl@beta.example>: “Fees <b>&</b>” — 3 business days",
        "  Tomb Fund (graveyard) — Tess Tomb <tess@tomb.example>: “We are back” — 2 business days",
        "  Acme Capital — Jane Doe <jane@acme.example>: “Deck” — 2 business days",
    ]
    assert lines[start + 5] == "" and lines.index("BY TEAM MEMBER") > start
    html = digest["html"]
    assert ">Waiting on us: 3 LPs</h2>" in html
    assert "Fees &lt;b&gt;&amp;&lt;/b&gt;" in html and "<b>&</b>" not in html
    assert "Carl Beta &lt;carl@beta.example&gt;" in html and "3 business days" in html
    assert html.index("Waiting on us") < html.index("By team member")


def test_waiting_on_us_is_left_out_when_nobody_waits(db, fund):
    small_day(fund)
    digest = build_digest(db, SINCE, UNTIL)
    assert digest["waiting_count"] == 0
    assert "WAITING ON US" not in digest["body"] and "Waiting on us" not in digest["html"]


def test_waiting_on_us_shows_on_a_quiet_day_too(db, fund):
    waiting_fund(fund)
    digest = build_digest(db, NOW - timedelta(hours=1), NOW)  # nothing in this window
    assert digest["email_count"] == 0
    assert "WAITING ON US: 3 LPS" in digest["body"] and "Waiting on us: 3 LPs" in digest["html"]


def test_waiting_is_read_at_the_window_end_in_the_funds_zone(db, fund):
    """Carl wrote Wednesday 15:30 UTC: by Friday 15:30 two business days; a minute earlier one."""
    waiting_fund(fund)
    friday = NOW - timedelta(days=3)
    body = build_digest(db, friday - timedelta(days=1), friday)["body"]
    assert "WAITING ON US: 1 LP\n" in body and "Carl Beta" in body.split("BY TEAM MEMBER")[0]
    early = build_digest(db, friday - timedelta(days=1), friday - timedelta(minutes=1))["body"]
    assert "WAITING ON US" not in early
    # In New York the same instant is 11:30 on Friday; Carl's message came at 11:30 on Wednesday.
    assert "WAITING ON US: 1 LP\n" in build_digest(db, friday - timedelta(days=1), friday, tz=NY)["body"]


def test_waiting_on_us_lists_the_longest_waits_and_counts_the_rest(db, fund, monkeypatch):
    from appsrc.digest import activity

    monkeypatch.setattr(activity, "MAX_WAITING", 2)
    waiting_fund(fund)
    digest = build_digest(db, SINCE, UNTIL)
    body = digest["body"]
    assert "Carl Beta <" in body and "Tess Tomb <" in body and "Jane Doe <" not in body
    assert "  … and 1 more conversation (Awaiting reply, in the dashboard)" in body
    assert "… and 1 more conversation" in digest["html"]
