"""The generated team dataset: determinism, hard cases, ground truth and Gmail-like layout."""

from __future__ import annotations

import csv
import email
import email.policy
import html
import io
import re
from collections import defaultdict
from itertools import islice

import pytest

from appsrc.simulator import EXPECTED, HARD_CASE_FLAGS, GmailSimulator, generate_mailbox_stream, generate_team, mime

SMALL_HUGE = 200_000


@pytest.fixture(scope="module")
def dataset():
    return generate_team(1, messages_per_mailbox=60, huge_attachment_bytes=SMALL_HUGE)


def test_same_seed_same_bytes_other_seed_other_bytes(dataset):
    again = generate_team(1, messages_per_mailbox=60, huge_attachment_bytes=SMALL_HUGE)
    assert [m.raw for m in again.messages] == [m.raw for m in dataset.messages]
    assert again.investors_csv() == dataset.investors_csv()
    other = generate_team(2, messages_per_mailbox=60, huge_attachment_bytes=SMALL_HUGE)
    assert [m.raw for m in other.messages] != [m.raw for m in dataset.messages]


def test_every_hard_case_and_outcome_is_present(dataset):
    flags = {flag for message in dataset.messages for flag in message.flags}
    assert set(HARD_CASE_FLAGS) <= flags
    assert {message.expected for message in dataset.messages} == set(EXPECTED)


def test_each_mailbox_gets_at_least_the_requested_count(dataset):
    counts = defaultdict(int)
    for message in dataset.messages:
        counts[message.mailbox] += 1
    assert set(counts) == {member.address for member in dataset.team}
    assert min(counts.values()) >= 60


def test_labels_decide_label_based_outcomes(dataset):
    for message in dataset.messages:
        if "TRASH" in message.label_ids:
            assert message.expected == "trashed"
        elif "SPAM" in message.label_ids:
            assert message.expected == "spam"
        elif "CHAT" in message.label_ids:
            assert message.expected == "chat"


def test_internal_mail_involves_only_own_domains(dataset):
    for message in dataset.messages:
        if message.expected != "internal":
            continue
        parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
        addresses = email.utils.getaddresses(
            parsed.get_all("From", []) + parsed.get_all("To", []) + parsed.get_all("Cc", [])
        )
        assert all(address.rsplit("@", 1)[1] in dataset.own_domains for _, address in addresses)


def test_copies_share_message_id_but_not_bytes(dataset):
    copies = defaultdict(list)
    for message in dataset.messages:
        copies[message.key].append(message)
    multi = [group for group in copies.values() if len(group) > 1]
    assert multi
    for group in multi:
        assert len({m.mailbox for m in group}) == len(group)
        assert len({m.message_id for m in group}) == 1
        assert len({m.raw for m in group}) == len(group)  # Delivered-To / Bcc differ


def test_bcc_header_only_in_the_senders_copy(dataset):
    [key] = {m.key for m in dataset.with_flag("bcc")}
    copies = [m for m in dataset.messages if m.key == key]
    assert len(copies) == 2
    sender_copy = next(m for m in copies if "SENT" in m.label_ids)
    bcc_copy = next(m for m in copies if "SENT" not in m.label_ids)
    assert b"\r\nBcc: " in sender_copy.raw
    assert b"\r\nBcc: " not in bcc_copy.raw
    assert bcc_copy.mailbox.split("@")[0] in sender_copy.raw.decode().split("Bcc: ")[1].split("\r\n")[0]


def test_duplicate_message_id_joins_two_different_emails(dataset):
    duplicates = dataset.with_flag("duplicate_message_id")
    assert len({m.message_id for m in duplicates}) == 1
    assert len({m.key for m in duplicates}) == 2


def test_missing_message_id_really_misses(dataset):
    for message in dataset.with_flag("missing_message_id"):
        assert message.message_id is None
        assert b"\nmessage-id:" not in message.raw.lower()


def test_huge_attachments_have_the_configured_size(dataset):
    parts = [mime.find_part(message.raw, "1") for message in dataset.with_flag("huge_attachment")]
    assert sorted(part.get_filename() for part in parts) == ["data-room-1.pdf", "data-room-2.pdf"]
    for part in parts:
        assert len(part.get_payload(decode=True)) == SMALL_HUGE + len(b"%PDF-1.7\n")


def test_encoded_headers_decode_to_real_text(dataset):
    def subject(flag):
        [message] = list(dataset.with_flag(flag))
        return mime.decode_rfc2047(mime.scan_headers(message.raw, frozenset({"subject"}))["subject"])

    assert subject("rfc2047_utf8_b") == "Präsentation für das Board – Q3"
    assert subject("charset_iso_2022_jp") == "投資のご相談"
    assert subject("charset_shift_jis") == "見積もりのご確認"
    assert subject("charset_windows_1252") == "“Term sheet” – €5M round"
    assert subject("charset_mislabelled") == "PrÃ¤sentation"
    [latin] = dataset.with_flag("charset_iso_8859_1")
    sender = mime.scan_headers(latin.raw, frozenset({"from"}))["from"]
    assert sender.startswith("=?iso-8859-1?q?")
    assert mime.decode_rfc2047(sender).startswith("José Müller <")


def test_every_message_survives_gmail_parsing(dataset):
    for message in dataset.messages:
        tree = mime.payload_tree(message.raw, "18aaaaaaaaaaaaaa")
        assert tree["partId"] == ""
        assert isinstance(mime.snippet(message.raw), str)


def test_investors_csv(dataset):
    rows = list(csv.DictReader(io.StringIO(dataset.investors_csv())))
    assert list(rows[0]) == ["investor", "domains", "graveyard", "contact_name", "contact_email"]
    by_name = defaultdict(list)
    for row in rows:
        by_name[row["investor"]].append(row)
    assert len(by_name) == len(dataset.investors) == 20
    assert "Smith, Jones & Partners" in by_name
    assert any(row["contact_email"] == "" for row in rows)
    assert any(";" in row["domains"] for row in rows)
    assert {row["graveyard"] for row in rows} == {"0", "1"}
    assert 1 <= sum(i.graveyard for i in dataset.investors) <= 3
    assert any(c.free_mail for i in dataset.investors for c in i.contacts)


def test_loaded_mailboxes_look_like_gmail(dataset):
    with GmailSimulator() as sim:
        ids = dataset.load_into(sim)
        assert len(ids) == len(dataset.messages)
        for member in dataset.team:
            assert len(sim.message_ids(member.address)) == len(dataset.messages_in(member.address))
        thread_of = {}
        checked = 0
        for message in dataset.messages:
            stored = sim.message(message.mailbox, ids[(message.mailbox, message.key)])
            assert stored.raw == message.raw and stored.label_ids == message.label_ids
            parent = mime.scan_headers(message.raw, frozenset({"in-reply-to"})).get("in-reply-to")
            if parent and (message.mailbox, parent) in thread_of:
                assert stored.thread_id == thread_of[(message.mailbox, parent)]
                checked += 1
            elif "reply" not in message.flags:
                assert stored.thread_id == stored.gmail_id
            thread_of.setdefault((message.mailbox, message.message_id), stored.thread_id)
        assert checked >= 10


def test_stream_is_lazy_exact_and_deterministic():
    stream = generate_mailbox_stream(3, "ann.lee@fund.example", 500)
    assert next(stream).mailbox == "ann.lee@fund.example"
    first = [m.raw for m in generate_mailbox_stream(3, "ann.lee@fund.example", 500)]
    assert len(first) == 500
    assert first == [m.raw for m in generate_mailbox_stream(3, "ann.lee@fund.example", 500)]
    assert first[:100] == [m.raw for m in islice(generate_mailbox_stream(3, "ann.lee@fund.example", 10**6), 100)]


def test_stream_replies_come_after_their_parents():
    seen: set[str] = set()
    for message in generate_mailbox_stream(4, "ann.lee@fund.example", 800):
        references = mime.message_ids(mime.scan_headers(message.raw, frozenset({"in-reply-to"})).get("in-reply-to"))
        for reference in references:
            assert reference in seen
        if message.message_id:
            seen.add(message.message_id)


def test_stream_can_share_the_team_investors():
    team = generate_team(5, team_size=1, messages_per_mailbox=0, hard_cases=False)
    identities = {i.name: [f"@{d}" for d in i.domains] + [c.address for c in i.contacts] for i in team.investors}
    about_investors = [
        m for m in generate_mailbox_stream(5, team.team[0].address, 300, investors=team.investors) if m.investor
    ]
    assert len(about_investors) > 200
    for message in about_investors:
        assert any(identity.encode() in message.raw for identity in identities[message.investor])


def _reference_snippet(raw: bytes) -> str:
    """Snippet computed with the stdlib parser only, as an oracle for the fast path."""
    plain = html_text = None
    for part in email.message_from_bytes(raw, policy=email.policy.compat32).walk():
        if part.is_multipart() or part.get_filename():
            continue
        if part.get_content_type() == "text/plain" and plain is None:
            plain = mime.decoded_text(part)
        elif part.get_content_type() == "text/html" and html_text is None:
            html_text = mime.decoded_text(part)
    if plain is None and html_text is None:
        return ""
    text = (
        plain
        if plain is not None
        else html.unescape(
            re.sub(
                r"<[^>]*>",
                " ",
                re.sub(r"<(style|script)\b.*?</\1\s*>", " ", html_text, flags=re.IGNORECASE | re.DOTALL),
            )
        )
    )
    text = re.sub(r"\s+", " ", text.replace("\x00", "")).strip()[:200]
    return html.escape(text).replace("&#x27;", "&#39;")


def test_snippets_match_the_stdlib_parser(dataset):
    stream = [m.raw for m in generate_mailbox_stream(9, "ann.lee@fund.example", 300)]
    for raw in [m.raw for m in dataset.messages] + stream:
        assert mime.snippet(raw) == _reference_snippet(raw)


@pytest.mark.parametrize("seed", range(1, 30))
def test_every_investor_domain_belongs_to_exactly_one_investor(seed):
    """The appliance refuses a CSV where two investors share a domain (demo seeding imports it)."""
    dataset = generate_team(seed, investors=24, messages_per_mailbox=5, team_size=3)
    domains = [d for investor in dataset.investors for d in investor.domains]
    assert len(domains) == len(set(domains))
