"""Mail shaped the way real inboxes are, not the way we generate it.

`corpus/` holds one message per shape, each written for this suite from what the RFCs allow and
what mail clients are known to send (none copied from another project). Each case states what
the parser must make of it. Then two properties: `parse_email` on any bytes raises nothing but
`UnparseableEmail`, and on well-formed mail written by the standard library it reads what the
standard library's own parser reads.
"""

from __future__ import annotations

import contextlib
import logging
import string
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appsrc.capture.parser import UnparseableEmail, parse_email

CORPUS = Path(__file__).parent / "corpus"


def corpus(name: str):
    return parse_email((CORPUS / name).read_bytes())


def test_text_shown_inline_under_a_file_name_is_the_body():
    """Apple Mail sends a message whose only text is a part with `Content-Disposition: inline`
    and a file name: that text is the body (and stays listed as the file it is)."""
    parsed = corpus("apple-inline-text.eml")
    assert parsed.body_text.startswith("Dear Alice,")
    assert "The fund’s NAV was discussed." in parsed.body_text
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("Notes.txt", "text/plain"),
        ("chart.png", "image/png"),
    ]


def test_a_display_name_that_looks_like_an_address_is_a_name():
    parsed = corpus("display-name-address.eml")
    assert [(a.email, a.name) for a in parsed.to] == [
        ("frank@example.com", "eve@example.com"),
        ("alice@fund.com", "Alice"),
    ]
    assert (parsed.from_addr.email, parsed.from_addr.name) == ("frank@example.com", "eve@example.com")


def test_absurd_nesting_is_a_defect_and_the_readable_addresses_stay():
    parsed = corpus("absurd-nesting.eml")
    assert parsed.from_addr.email == "gil@meridian-capital.com"
    assert [a.email for a in parsed.to] == ["alice@fund.com", "bob@fund.com"]
    assert parsed.cc == ()
    assert {"malformed_comments:from", "malformed_comments:cc"} <= set(parsed.defects)


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("header", ["From", "To", "Cc", "Reply-To"])
def test_nesting_at_any_depth_never_raises_anything_but_unparseable(header, depth):
    raw = (
        f"{header}: x {'(' * depth}a{')' * (depth // 2)} <gil@meridian-capital.com>, "
        f"{'<' * depth}bob@fund.com\r\nTo: alice@fund.com\r\nSubject: s\r\n\r\nb\r\n"
    ).encode()
    with contextlib.suppress(UnparseableEmail):
        parse_email(raw)


def test_mislabelled_charsets_read_as_the_bytes_really_are():
    gbk = corpus("gb2312-label-gbk-bytes.eml")  # a GB2312 label on GBK bytes (镕 is GBK-only)
    assert (gbk.subject, gbk.body_text) == ("会议纪要", "董事会会议纪要：朱镕基")
    cp1252 = corpus("latin1-label-cp1252-bytes.eml")  # Latin-1 declared, Windows-1252 written
    assert cp1252.body_text == "We’re at €12m – “final”."


def test_an_encoded_word_split_inside_a_character():
    assert corpus("split-encoded-word.eml").subject == "Rendez-vous à Zürich – 東京"


def test_headers_folded_with_tabs():
    parsed = corpus("tab-folded-headers.eml")
    assert parsed.from_addr.email == "gil@meridian-capital.com"
    assert [a.email for a in parsed.to] == ["alice@fund.com", "bob@fund.com"]
    assert parsed.subject == "A subject folded with a tab"
    assert parsed.message_id == "<tab@meridian-capital.com>"
    assert parsed.sent_at == datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_a_forwarded_message_is_an_attachment_not_the_body():
    parsed = corpus("forwarded-rfc822.eml")
    assert parsed.body_text == "See the original below."
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("Capital call.eml", "message/rfc822")]
    assert parsed.subject == "Fwd: Capital call" and parsed.message_id == "<fwd@fund.com>"


def test_outlook_tnef_is_shown_as_its_attachment():
    parsed = corpus("tnef-winmail.eml")
    assert parsed.body_text == "Please see the attached side letter."
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("winmail.dat", "application/ms-tnef", 64)
    ]


def test_every_corpus_message_is_captured_and_matched_without_a_traceback(sim, tmp_path, caplog):
    """Through the whole path: each shape stored, none skipped, nothing logged as an error."""
    from appsrc.crm.investors import create_investor
    from appsrc.crm.users import add_user
    from appsrc.store.models import Email, EmailInvestorLink, SkippedMessage
    from tests.capture.conftest import make_runtime

    sim.add_mailbox("alice@fund.com")
    for path in sorted(CORPUS.glob("*.eml")):
        sim.insert_message("alice@fund.com", path.read_bytes())
    runtime = make_runtime(sim, tmp_path, CRM_OWN_DOMAINS="fund.com")
    try:
        now = runtime.clock.now()
        add_user("alice@fund.com", "Alice", now, is_admin=True)
        meridian, _ = create_investor("Meridian Capital", ["meridian-capital.com"], now, directory=runtime.directory)
        caplog.set_level(logging.WARNING)
        (account_id,) = [a["id"] for a in __import__("appsrc.store.queries", fromlist=["x"]).list_mailboxes()]
        report = runtime.mailbox_sync.sync(account_id)
        assert report.ok, report.error
        assert SkippedMessage.select().count() == 0
        assert Email.select().count() == len(list(CORPUS.glob("*.eml")))
        nested = Email.get(Email.message_id == "<nest@meridian-capital.com>")
        assert EmailInvestorLink.get(EmailInvestorLink.email == nested).investor_id == meridian.id
        assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    finally:
        runtime.close()


# --- properties ---------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(st.binary(max_size=4_000))
def test_any_bytes_parse_or_are_unparseable(raw):
    with contextlib.suppress(UnparseableEmail):
        parse_email(raw)


_LOCAL = st.text(string.ascii_lowercase + string.digits + ".-_", min_size=1, max_size=12).filter(
    lambda s: s[0] not in ".-" and s[-1] not in ".-" and ".." not in s
)
_DOMAIN = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10), min_size=2, max_size=3
).map(".".join)
_ADDRESS = st.builds("{}@{}".format, _LOCAL, _DOMAIN)
_NAME = st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs"), exclude_characters="\x85"), max_size=30).map(
    lambda s: " ".join(s.split())
)
_MAILBOX = st.tuples(_NAME, _ADDRESS)
_TEXT = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="\x85\u2028\u2029"),
    min_size=1,
    max_size=200,
)


@st.composite
def well_formed_mail(draw) -> tuple[bytes, dict]:
    """A message as the standard library writes it (names and subject encoded as it sees fit,
    the body in the transfer encoding it picks), and what it says. Header lines are not folded:
    the library's folder can put an address list's comma inside an encoded word, which makes
    the list unreadable to any parser (its own included)."""
    message = EmailMessage(policy=policy.default.clone(max_line_length=10_000))
    sender = draw(_MAILBOX)
    to = draw(st.lists(_MAILBOX, min_size=1, max_size=4))
    cc = draw(st.lists(_MAILBOX, max_size=3))
    message["From"] = _mailbox_header(sender)
    message["To"] = ", ".join(_mailbox_header(m) for m in to)
    if cc:
        message["Cc"] = ", ".join(_mailbox_header(m) for m in cc)
    subject = " ".join(draw(_TEXT).split()) or "subject"
    message["Subject"] = subject
    when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 10 * 365 * 86400)))
    message["Date"] = format_datetime(
        when.astimezone(timezone(timedelta(minutes=draw(st.sampled_from([-480, -300, 0, 60, 330, 540])))))
    )
    message_id = f"<{draw(st.integers(0, 10**12))}.{draw(_LOCAL)}@{draw(_DOMAIN)}>"
    message["Message-ID"] = message_id
    body = draw(_TEXT)
    message.set_content(body)
    if draw(st.booleans()):
        message.add_alternative(f"<p>{body}</p>", subtype="html")
        message.set_boundary(f"=={draw(st.integers(0, 10**9))}==")  # the library's is random
    said = {
        "from": [sender],
        "to": _deduplicated(to),
        "cc": _deduplicated(cc),
        "subject": subject,
        "date": when,
        "message_id": message_id,
        "body": body,
    }
    return message.as_bytes(), said


def _deduplicated(mailboxes) -> list[tuple[str, str]]:
    """One entry per address, as the parser keeps them: the first, named by the first name."""
    names: dict[str, str] = {}
    for name, address in mailboxes:
        if not names.get(address):
            names[address] = name
    return [(name, address) for address, name in names.items()]


def _mailbox_header(mailbox: tuple[str, str]) -> str:
    from email.headerregistry import Address

    name, address = mailbox
    local, _, domain = address.partition("@")
    return str(Address(display_name=name, username=local, domain=domain))


def _stdlib_mailboxes(header) -> list[tuple[str, str]]:
    if header is None:
        return []
    return _deduplicated((" ".join(a.display_name.split()), a.addr_spec.lower()) for a in header.addresses)


def _unspaced(mailboxes) -> list[tuple[str, str]]:
    return [("".join(name.split()), address) for name, address in mailboxes]


@PROPERTY_SETTINGS
@given(well_formed_mail())
def test_well_formed_mail_reads_as_written_and_as_the_standard_library_reads_it(mail):
    """What the message says, read back exactly; and the standard library's own reading agrees,
    but for the spaces it puts between adjacent encoded words, which RFC 2047 §6.2 says to drop
    (a name the standard library itself split over two encoded words comes back with a space)."""
    raw, said = mail
    ours = parse_email(raw)
    fields = {"from": [ours.from_addr], "to": list(ours.to), "cc": list(ours.cc)}
    theirs = message_from_bytes(raw, policy=policy.default)
    for name, header in (("from", "From"), ("to", "To"), ("cc", "Cc")):
        read = [(a.name, a.email) for a in fields[name]]
        assert read == said[name]
        assert _unspaced(read) == _unspaced(_stdlib_mailboxes(theirs[header]))
    assert ours.subject == said["subject"]
    assert "".join(ours.subject.split()) == "".join(str(theirs["Subject"]).split())
    assert ours.sent_at == said["date"] == theirs["Date"].datetime.astimezone(UTC)
    assert ours.message_id == said["message_id"] == str(theirs["Message-ID"]).strip()
    first_text = theirs.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert ours.body_text.strip() == said["body"].strip() == first_text.strip()
