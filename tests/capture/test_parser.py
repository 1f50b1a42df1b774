"""Concrete cases for the email parser: every edge the capture pipeline has met or expects."""

import base64
import quopri
import time
from datetime import UTC, datetime

import pytest

from appsrc.capture.parser import (
    MAX_REFERENCES,
    MAX_SUBJECT_CHARS,
    Address,
    Attachment,
    UnparseableEmail,
    domain_of,
    normalize_address,
    normalize_message_id,
    parse_email,
)

BASE_HEADERS = {
    "From": "Jane Doe <jane@acme.example>",
    "To": "john@fund.example",
    "Subject": "Hello",
    "Date": "Mon, 3 Mar 2025 18:15:00 +0100",
    "Message-ID": "<abc@acme.example>",
}


def mail(
    headers: dict[str, str | bytes | None] | None = None,
    body: str | bytes = "Hi there.\r\n",
    extra: tuple[str | bytes, ...] = (),
) -> bytes:
    """A raw message: BASE_HEADERS updated by `headers` (None drops one), `extra` lines, body."""
    merged = {**BASE_HEADERS, **(headers or {})}
    lines = [
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        for name, value in merged.items()
        if value is not None
    ]
    lines += [line if isinstance(line, bytes) else line.encode() for line in extra]
    payload = body if isinstance(body, bytes) else body.encode()
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def part(headers: str, body: str) -> str:
    return f"{headers}\r\n\r\n{body}"


def multipart(boundary: str, *parts: str, close: bool = True) -> str:
    text = "".join(f"--{boundary}\r\n{content}\r\n" for content in parts)
    return text + (f"--{boundary}--\r\n" if close else "")


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  <jane@example.com>  ", "jane@example.com"),
        ("mailto:Jane@Example.com?subject=Hi", "jane@example.com"),
        ("jane@example.com.", "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ('"John Doe"@Example.com', '"john doe"@example.com'),
        ("user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk"),
        ("JÜRGEN@MÜNCHEN.DE", "jürgen@münchen.de"),
        ("info@XN--MNCHEN-3YA.de", "info@xn--mnchen-3ya.de"),
        ("root@[192.168.0.1]", "root@[192.168.0.1]"),
        ("a..b.@docomo.ne.jp", "a..b.@docomo.ne.jp"),
    ],
)
def test_normalize_address_accepts_plausible_addresses(value: str, expected: str) -> None:
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "<>",
        "jane",
        "jane@",
        "@example.com",
        "jane@localhost",
        "a@b@example.com",
        '"john@home"@example.com',
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane@.example.com",
        "jane@example..com",
        "x" * 65 + "@example.com",
        "jane@" + "a" * 64 + ".com",
        "jane@example.com\x00",
    ],
)
def test_normalize_address_rejects_implausible_values(value: str) -> None:
    assert normalize_address(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Jane@Example.COM", "example.com"), ("<j@Sub.Example.org.>", "sub.example.org"),
     ("not an address", "")],
)  # fmt: skip
def test_domain_of(value: str, expected: str) -> None:
    assert domain_of(value) == expected


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("undisclosed-recipients:;", ()),
        ('Team: a@x.example, "Bee" <b@x.example>;', (Address("a@x.example", ""),
                                                     Address("b@x.example", "Bee"))),
        ("john@fund.example (John Smith)", (Address("john@fund.example", "John Smith"),)),
        ('"john doe"@example.com', (Address('"john doe"@example.com', ""),)),
        ('"Doe, John" <John@Fund.example>', (Address("john@fund.example", "Doe, John"),)),
        ("=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@lp.example>",
         (Address("jm@lp.example", "Jürgen Müller"),)),
        ('"=?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?=" <jm@lp.example>',
         (Address("jm@lp.example", "Müller, Jürgen"),)),
        ("a@x.example,b@x.example", (Address("a@x.example", ""), Address("b@x.example", ""))),
        ('"  Spaced \t  Name  " <s@x.example>', (Address("s@x.example", "Spaced Name"),)),
        ("'Quoted Twice' <q@x.example>", (Address("q@x.example", "Quoted Twice"),)),
    ],
)  # fmt: skip
def test_address_list_shapes(to: str, expected: tuple[Address, ...]) -> None:
    parsed = parse_email(mail({"To": to}))
    assert parsed.to == expected
    assert "invalid_address:to" not in parsed.defects


def test_duplicates_keep_first_position_and_gain_a_missing_name() -> None:
    parsed = parse_email(mail({"Cc": 'A@x.example, "Alice" <a@x.example>, b@x.example, "Other" <a@X.EXAMPLE>'}))
    assert parsed.cc == (Address("a@x.example", "Alice"), Address("b@x.example", ""))


def test_invalid_addresses_are_dropped_and_reported() -> None:
    parsed = parse_email(mail({"To": "not-an-address, Doe, John <john@fund.example>"}))
    assert parsed.to == (Address("john@fund.example", "John"),)
    assert "invalid_address:to" in parsed.defects


def test_repeated_address_fields_are_combined() -> None:
    parsed = parse_email(mail({"To": "a@x.example"}, extra=("To: b@x.example, a@x.example",)))
    assert [address.email for address in parsed.to] == ["a@x.example", "b@x.example"]


def test_every_address_field_is_parsed() -> None:
    parsed = parse_email(mail({"Reply-To": "Desk <desk@acme.example>", "Cc": "c@x.example", "Bcc": "d@x.example"}))
    assert parsed.from_addr == Address("jane@acme.example", "Jane Doe")
    assert parsed.reply_to == (Address("desk@acme.example", "Desk"),)
    assert parsed.to == (Address("john@fund.example", ""),)
    assert parsed.cc == (Address("c@x.example", ""),)
    assert parsed.bcc == (Address("d@x.example", ""),)


def test_sender_stands_in_for_a_missing_from() -> None:
    parsed = parse_email(mail({"From": None, "Sender": "Assistant <pa@acme.example>"}))
    assert parsed.from_addr == Address("pa@acme.example", "Assistant")
    assert "missing_header:from" in parsed.defects


def test_a_message_with_only_bcc_is_kept() -> None:
    parsed = parse_email(mail({"From": None, "To": None, "Bcc": "d@x.example"}))
    assert parsed.from_addr is None and parsed.bcc == (Address("d@x.example", ""),)


def test_hundred_thousand_addresses_are_bounded() -> None:
    to = ",\r\n ".join(f"User {n} <user{n}@example.com>" for n in range(100_000))
    raw = mail({"To": to, "Subject": None}, extra=("Subject: after the flood",))
    started = time.perf_counter()
    parsed = parse_email(raw)
    assert time.perf_counter() - started < 2
    assert 100 < len(parsed.to) <= 1_000
    assert parsed.to[0] == Address("user0@example.com", "User 0")
    assert "header_truncated:to" in parsed.defects
    assert "invalid_address:to" not in parsed.defects  # cut between addresses
    assert parsed.subject == "after the flood"


# --- message ids and threading ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "<abc@example.com>"),
        ("  <abc@example.com>  ", "<abc@example.com>"),
        ("<abc@example.com> (added by postmaster)", "<abc@example.com>"),
        ("abc@example.com", "<abc@example.com>"),
        ("<ab c@exa\r\n mple.com>", "<abc@example.com>"),
        ("<ab\u00a0c@example.com>", "<abc@example.com>"),
        ("<CAF+X=y@Mail.Gmail.com>", "<CAF+X=y@Mail.Gmail.com>"),
        ("<1234567890.JavaMail>", "<1234567890.JavaMail>"),
        ("<a@b> <c@d>", "<a@b>"),
        (None, None),
        ("", None),
        ("   ", None),
        ("<>", None),
        ("<\x01@x>", None),
        ("some garbage words", None),
        ("<" + "a" * 300 + "@example.com>", None),
    ],
)
def test_normalize_message_id(value: str | None, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_threading_headers() -> None:
    parsed = parse_email(
        mail(
            {
                "Message-ID": " <CAF1@mail.gmail.com> ",
                "In-Reply-To": "<p1@x> (John's message of Monday)",
                "References": "<root@x>\r\n <p0@x> <root@x>\r\n\t<p1@x> junk <",
            }
        )
    )
    assert parsed.message_id == "<CAF1@mail.gmail.com>"
    assert parsed.in_reply_to == "<p1@x>"
    assert parsed.references == ("<root@x>", "<p0@x>", "<p1@x>")


def test_long_references_keep_the_root_and_the_latest() -> None:
    references = " ".join(f"<r{n}@x>" for n in range(150))
    parsed = parse_email(mail({"References": references}))
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[0] == "<r0@x>" and parsed.references[-1] == "<r149@x>"


def test_missing_and_garbage_message_ids() -> None:
    assert parse_email(mail({"Message-ID": None})).message_id is None
    garbage = parse_email(mail({"Message-ID": "not an id"}))
    assert garbage.message_id is None
    assert "invalid_message_id:message-id" in garbage.defects


def test_duplicate_single_fields_use_the_first_and_report() -> None:
    parsed = parse_email(mail(extra=("Message-ID: <second@x>", "Subject: Second")))
    assert parsed.message_id == "<abc@acme.example>" and parsed.subject == "Hello"
    assert {"duplicate_header:message-id", "duplicate_header:subject"} <= set(parsed.defects)


# --- subjects, RFC 2047 and charsets ---------------------------------------------------------


def _encoded_word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?Q?Q1_update_=E2=80=93_capital_call?=", "Q1 update – capital call"),
        ("=?UTF-8?Q?Hello?= =?UTF-8?Q?_World?=", "Hello World"),
        ("=?utf-8?b?SGVs?=\r\n =?utf-8?b?bG8=?= again", "Hello again"),
        ("Re: =?utf-8?q?caf=C3=A9?= menu", "Re: café menu"),
        (_encoded_word("utf-8", b"Caf\xc3") + " " + _encoded_word("UTF-8", b"\xa9 cr\xc3\xa8me"),
         "Café crème"),
        ("=?iso-8859-1?q?=93Hi=94?=", "\u201cHi\u201d"),
        (_encoded_word("ISO-2022-JP", "こんにちは".encode("iso2022_jp")), "こんにちは"),
        (_encoded_word("Shift_JIS", "①会議".encode("cp932")), "①会議"),
        (_encoded_word("GB2312", "朱镕基".encode("gbk")), "朱镕基"),
        (_encoded_word("EUC-KR", "안녕".encode("cp949")), "안녕"),
        ("=?utf-8*en?q?Hi?=", "Hi"),
        ("=?utf-8?q?a=00b=0Ac?=", "a b c"),
        ("  Hello \t\r\n   World  ", "Hello World"),
        ("=?broken", "=?broken"),
        ("", ""),
    ],
)  # fmt: skip
def test_subject_decoding(subject: str, expected: str) -> None:
    assert parse_email(mail({"Subject": subject})).subject == expected


@pytest.mark.parametrize(
    ("subject", "expected", "defect"),
    [
        ("=?utf-8?b?SGVsbG8?=", "Hello", "bad_encoded_word"),
        ("=?x-no-such-charset?q?caf=C3=A9?=", "café", "unknown_charset"),
        ("=?utf-8?q?caf=E9?=", "café", "charset_mismatch"),
    ],
)
def test_subject_decoding_repairs_and_reports(subject: str, expected: str, defect: str) -> None:
    parsed = parse_email(mail({"Subject": subject}))
    assert parsed.subject == expected
    assert defect in parsed.defects


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        (b"Caf\xc3\xa9 cr\xc3\xa8me", "Café crème"),
        (b"Caf\xe9 \x93cr\xe8me\x94", "Café \u201ccrème\u201d"),
    ],
)
def test_raw_eight_bit_subjects(raw_subject: bytes, expected: str) -> None:
    assert parse_email(mail({"Subject": raw_subject})).subject == expected


def test_subject_is_bounded_and_missing_is_empty() -> None:
    assert len(parse_email(mail({"Subject": "x" * 5_000})).subject) == MAX_SUBJECT_CHARS
    assert parse_email(mail({"Subject": None})).subject == ""


# --- dates ------------------------------------------------------------------------------------


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 3 Mar 2025 18:15:00 +0100", utc(2025, 3, 3, 17, 15)),
        ("Mon, 03 Mar 2025 18:15:00 -0800 (PST)", utc(2025, 3, 4, 2, 15)),
        ("3 Mar 2025 18:15 GMT", utc(2025, 3, 3, 18, 15)),
        ("Mon, 3 Mar 25 18:15:00 EST", utc(2025, 3, 3, 23, 15)),
        ("Mon,3 Mar 2025 18:15:00 EDT", utc(2025, 3, 3, 22, 15)),
        ("Mon, 3 Mar 2025 18:15:00", utc(2025, 3, 3, 18, 15)),
        ("Mon, 3 Mar 2025 18:15:00 -0000", utc(2025, 3, 3, 18, 15)),
        ("Mon, 3 Mar 2025 18:15:00 CET", utc(2025, 3, 3, 17, 15)),
        ("Tue, 4 Mar 2025 09:00:00 JST", utc(2025, 3, 4, 0, 0)),
        ("Mon, 3 Mar 2025 18:15:60 +0000", utc(2025, 3, 3, 18, 15, 59)),
        ("2025-03-03T18:15:00+01:00", utc(2025, 3, 3, 17, 15)),
        ("garbage", None),
        ("Mon, 31 Feb 2025 10:00:00 +0000", None),
        ("Mon, 3 Mar 2025 25:00:00 +0000", None),
        ("Mon, 3 Mar 1601 00:00:00 +0000", None),
        ("Mon, 3 Mar 2025 18:15:00 +9900", None),
    ],
)
def test_dates_are_aware_utc_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse_email(mail({"Date": value}))
    assert parsed.sent_at == expected
    if expected is None:
        assert "invalid_date" in parsed.defects
    else:
        assert parsed.sent_at.tzinfo is UTC


def test_missing_date_is_none() -> None:
    parsed = parse_email(mail({"Date": None}))
    assert parsed.sent_at is None and "missing_header:date" in parsed.defects


# --- bodies -----------------------------------------------------------------------------------

HTML = (
    "<html><head><title>Secret Title</title><style>p{color:red}</style>"
    "<script>track()</script></head><body><p>Hello&nbsp;&amp; welcome&hellip;</p>"
    "<div>Line<br>two</div><!-- hidden note --><table><tr><td>cell a</td><td>cell b</td></tr>"
    "</table><p>caf&eacute; &#8211; &lt;ok&gt;</p></body></html>"
)
HTML_TEXT = "Hello & welcome…\n\nLine\ntwo\n\ncell a cell b\n\ncafé – <ok>"


def test_text_plain_is_preferred_in_alternatives() -> None:
    body = multipart(
        "alt",
        part("Content-Type: text/plain; charset=utf-8", "Plain version"),
        part("Content-Type: text/html; charset=utf-8", "<p>HTML version</p>"),
    )
    parsed = parse_email(mail({"Content-Type": 'multipart/alternative; boundary="alt"'}, body))
    assert parsed.body_text == "Plain version"
    assert parsed.attachments == ()


def test_html_only_becomes_readable_text() -> None:
    parsed = parse_email(mail({"Content-Type": "text/html; charset=utf-8"}, HTML))
    assert parsed.body_text == HTML_TEXT


def test_empty_plain_alternative_falls_back_to_html() -> None:
    body = multipart(
        "alt",
        part("Content-Type: text/plain", "  \r\n"),
        part("Content-Type: text/html", "<b>Only here</b>"),
    )
    parsed = parse_email(mail({"Content-Type": "multipart/alternative; boundary=alt"}, body))
    assert parsed.body_text == "Only here"


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Content-Transfer-Encoding": "quoted-printable", "Content-Type": "text/plain; "
          "charset=utf-8"}, "long=\r\nline caf=C3=A9 =3D done\r\n", "longline café = done"),
        ({"Content-Transfer-Encoding": "base64", "Content-Type": "text/plain; charset=utf-8"},
         b64("Grüße\r\naus Köln".encode()), "Grüße\naus Köln"),
        ({"Content-Type": "text/plain; charset=iso-8859-1"}, b"\x93Hi\x94 na\xefve",
         "\u201cHi\u201d naïve"),
        ({"Content-Type": "text/plain; charset=us-ascii"}, "Müller".encode(), "Müller"),
        ({"Content-Type": "text/plain; charset=unknown-8bit"}, b"caf\xe9", "café"),
        ({"Content-Type": "text/plain; charset=ISO-2022-JP"}, "会議の件".encode("iso2022_jp"),
         "会議の件"),
        ({"Content-Type": "text/plain; charset=shift_jis"}, "①番".encode("cp932"), "①番"),
        ({"Content-Type": "text/plain; charset=utf-16"}, "wide\r\ntext".encode("utf-16"),
         "wide\ntext"),
        ({}, b"non-MIME 8-bit na\xc3\xafve\r\n", "non-MIME 8-bit naïve"),
        ({"Content-Type": "text/plain"}, b"nul\x00 and \x07bell\r\r\n\r\n\r\n\r\n\r\nend",
         "nul and bell\n\nend"),
    ],
)  # fmt: skip
def test_body_transfer_encodings_and_charsets(headers: dict[str, str], body: str | bytes, expected: str) -> None:
    assert parse_email(mail(headers, body)).body_text == expected


def test_unknown_charset_is_sniffed_and_reported() -> None:
    parsed = parse_email(mail({"Content-Type": "text/plain; charset=x-foo"}, "naïve".encode()))
    assert parsed.body_text == "naïve" and "unknown_charset" in parsed.defects


def test_body_is_bounded_and_flagged() -> None:
    text = "word " * 10_000
    exact = parse_email(mail(body="a" * 1_000), max_body_chars=1_000)
    assert exact.body_text == "a" * 1_000 and not exact.body_truncated
    cut = parse_email(mail(body=text), max_body_chars=1_000)
    assert len(cut.body_text) <= 1_000 and cut.body_truncated
    assert parse_email(mail(body=text), max_body_chars=0).body_text == ""


@pytest.mark.parametrize("prefix", ["", "x", "xy"])
def test_huge_bodies_are_read_only_as_far_as_needed(prefix: str) -> None:
    """Whichever byte the read stops at, the last partial character is dropped cleanly."""
    text = prefix + "€" * 10_000_000
    raw = mail({"Content-Transfer-Encoding": "base64"}, b64(text.encode()))
    started = time.perf_counter()
    parsed = parse_email(raw, max_body_chars=500)
    assert time.perf_counter() - started < 1
    assert parsed.body_text == text[:500] and parsed.body_truncated
    assert parsed.defects == ()


def test_inline_text_parts_are_joined_in_order() -> None:
    body = multipart(
        "mix",
        part("Content-Type: text/plain", "Part one"),
        part("Content-Type: image/jpeg; name=photo.jpg\r\nContent-Transfer-Encoding: base64",
             b64(b"\xff\xd8" * 300)),
        part("Content-Type: text/plain", "Part two"),
    )  # fmt: skip
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=mix"}, body))
    assert parsed.body_text == "Part one\n\nPart two"
    assert parsed.attachments == (Attachment("photo.jpg", "image/jpeg", 600),)


def test_nested_structure_with_inline_images_and_attachments() -> None:
    related = multipart(
        "rel",
        part("Content-Type: text/html", "<p>See <img src=cid:logo@x> chart</p>"),
        part("Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64",
             b64(b"PNG" * 10)),
    )  # fmt: skip
    alternative = multipart(
        "alt",
        part("Content-Type: text/plain; charset=utf-8", "See chart"),
        part("Content-Type: multipart/related; boundary=rel", related),
    )
    mixed = multipart(
        "mix",
        part("Content-Type: multipart/alternative; boundary=alt", alternative),
        part('Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="Q1.pdf"'
             "\r\nContent-Transfer-Encoding: base64", b64(b"%PDF" * 250)),
        part("Content-Type: message/rfc822", "From: x@y.example\r\nSubject: fwd\r\n\r\nInner"),
    )  # fmt: skip
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=mix"}, mixed))
    assert parsed.body_text == "See chart"
    assert parsed.attachments == (
        Attachment("Q1.pdf", "application/pdf", 1_000),
        Attachment("", "message/rfc822", 40),
    )
    assert parsed.defects == ()


def test_delimiters_are_whole_lines_only() -> None:
    body = "preamble --b\r\n--b  \r\nContent-Type: text/plain\r\n\r\n--bx is text\r\n--b-- not\r\n--b--\r\nepilogue\r\n"
    parsed = parse_email(mail({"Content-Type": 'multipart/mixed; boundary="b"'}, body))
    assert parsed.body_text == "--bx is text\n--b-- not"
    assert parsed.defects == ()


def test_folded_boundary_parameter_is_unfolded() -> None:
    """RFC 5322 §2.2.3: unfolding removes the line break, the white space stays."""
    body = multipart("ab cd", part("Content-Type: text/plain", "unfolded"))
    parsed = parse_email(mail({"Content-Type": 'multipart/mixed; boundary="ab\r\n cd"'}, body))
    assert parsed.body_text == "unfolded" and parsed.defects == ()


def test_only_file_names_are_rfc2047_decoded() -> None:
    body = multipart("=?x?q?y?=", part("Content-Type: text/plain", "found"))
    parsed = parse_email(mail({"Content-Type": 'multipart/mixed; boundary="=?x?q?y?="'}, body))
    assert parsed.body_text == "found" and parsed.defects == ()


def test_an_empty_part_right_after_a_delimiter() -> None:
    body = "--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n"
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=b"}, body))
    assert parsed.body_text == "second"


def test_outer_boundary_closes_an_unterminated_inner_multipart() -> None:
    inner = multipart("in", part("Content-Type: text/plain", "inner text"), close=False)
    outer = multipart(
        "out",
        part("Content-Type: multipart/alternative; boundary=in", inner),
        part("Content-Type: text/plain", "outer text"),
    )
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=out"}, outer))
    assert parsed.body_text == "inner text\n\nouter text"
    assert "missing_close_boundary" in parsed.defects


def test_missing_close_boundary_keeps_the_parts() -> None:
    body = multipart("b", part("Content-Type: text/plain", "still here"), close=False)
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=b"}, body))
    assert parsed.body_text == "still here" and "missing_close_boundary" in parsed.defects


@pytest.mark.parametrize(
    ("content_type", "defect"),
    [
        ("multipart/mixed", "multipart_without_boundary"),
        ("multipart/mixed; boundary=nowhere", "multipart_without_parts"),
    ],
)
def test_broken_multiparts_fall_back_to_text(content_type: str, defect: str) -> None:
    parsed = parse_email(mail({"Content-Type": content_type}, "Just some text"))
    assert parsed.body_text == "Just some text" and defect in parsed.defects


def test_deep_nesting_is_cut_off() -> None:
    levels = "".join(
        f"Content-Type: multipart/mixed; boundary=n{depth}\r\n\r\n--n{depth}\r\n" for depth in range(1, 60)
    )
    raw = mail({"Content-Type": "multipart/mixed; boundary=n0"}, "--n0\r\n" + levels)
    parsed = parse_email(raw)
    assert "nesting_too_deep" in parsed.defects


def test_part_count_is_bounded() -> None:
    body = multipart("p", *["\r\nx"] * 300_000)
    started = time.perf_counter()
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=p"}, body))
    assert time.perf_counter() - started < 0.2  # splitting stops too, not just the walk
    assert parsed.body_text.startswith("x\n\nx") and "too_many_parts" in parsed.defects


def test_garbage_in_one_part_does_not_lose_the_rest() -> None:
    body = multipart(
        "mix",
        part("Content-Type: text/plain; charset=utf-8", "The good part"),
        part("Content-Type: application/octet-stream; name=\"=?bad?x?\x00?=\"\r\n"
             "Content-Transfer-Encoding: x-weird", "\x00\xff garbage"),
        part("Content-Type: text/html; charset=\x01\r\nContent-Transfer-Encoding: base64",
             "!!!not base64!!!"),
        part("Content-Type: ;;;\r\nContent-Disposition: attachment; filename*0*=x; filename*=y''z",
             "odd"),
    )  # fmt: skip
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=mix"}, body))
    assert parsed.body_text == "The good part"
    assert [a.content_type for a in parsed.attachments] == [
        "application/octet-stream",
        "text/plain",
    ]
    assert parsed.attachments[1].filename == "z"
    assert "invalid_content_type" in parsed.defects


def test_digest_parts_default_to_messages() -> None:
    body = multipart("d", part("From: a@x.example", "one"), "\r\nsecond without headers")
    parsed = parse_email(mail({"Content-Type": "multipart/digest; boundary=d"}, body))
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"] * 2


# --- attachments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf",
         "€ rates.pdf"),
        ("Content-Disposition: attachment;\r\n filename*0*=UTF-8''Jahres%C3;\r\n"
         " filename*1*=%BCbersicht.pdf", "Jahresübersicht.pdf"),
        ('Content-Disposition: attachment; filename*0="very long "; filename*1="name.pdf"',
         "very long name.pdf"),
        ("Content-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.txt", "résumé.txt"),
        ('Content-Disposition: attachment; filename="=?UTF-8?B?UmFwcG9ydCDDqXTDqS5wZGY=?="',
         "Rapport été.pdf"),
        ('Content-Type: application/pdf; name="report.pdf"', "report.pdf"),
        ('Content-Disposition: attachment; filename="a\\"quoted\\".pdf"', 'a"quoted".pdf'),
        ("Content-Disposition: attachment; filename=plain name.pdf", "plain name.pdf"),
        ('Content-Disposition: attachment; filename="Résumé.pdf"', "Résumé.pdf"),
        ("Content-Disposition: attachment; filename*1*=b.pdf; filename*0*=utf-8''a", "ab.pdf"),
    ],
)  # fmt: skip
def test_attachment_filenames(headers: str, expected: str) -> None:
    if not headers.startswith("Content-Type"):
        headers = "Content-Type: application/octet-stream\r\n" + headers
    body = multipart("m", part("Content-Type: text/plain", "see file"), part(headers, "data"))
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=m"}, body))
    assert [attachment.filename for attachment in parsed.attachments] == [expected]
    assert parsed.body_text == "see file"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 1_000, 1_001, 1_002])
def test_base64_attachment_size_is_exact(size: int) -> None:
    body = multipart(
        "m", part("Content-Type: application/zip; name=z.zip\r\nContent-Transfer-Encoding: base64",
                  b64(bytes(range(256)) * (size // 256) + bytes(size % 256)))
    )  # fmt: skip
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=m"}, body))
    assert parsed.attachments == (Attachment("z.zip", "application/zip", size),)


def test_quoted_printable_attachment_size_is_estimated() -> None:
    content = ("caf\u00e9 " * 500).encode()
    encoded = quopri.encodestring(content).decode().replace("\n", "\r\n")
    body = multipart(
        "m", part("Content-Type: text/csv; name=a.csv\r\nContent-Transfer-Encoding: "
                  "quoted-printable", encoded)
    )  # fmt: skip
    parsed = parse_email(mail({"Content-Type": "multipart/mixed; boundary=m"}, body))
    assert abs(parsed.attachments[0].size - len(content)) <= len(content) * 0.05


def test_thirty_megabyte_attachment_is_measured_not_decoded() -> None:
    payload = b64(bytes(range(256)) * 90_000)  # 23 MB decoded, ~31 MB encoded
    body = multipart(
        "m",
        part("Content-Type: text/plain", "Figures attached."),
        part("Content-Type: application/zip; name=data.zip\r\nContent-Transfer-Encoding: base64", payload),
    )
    raw = mail({"Content-Type": "multipart/mixed; boundary=m"}, body)
    started = time.perf_counter()
    parsed = parse_email(raw)
    assert time.perf_counter() - started < 1.5
    assert parsed.body_text == "Figures attached."
    assert parsed.attachments == (Attachment("data.zip", "application/zip", 256 * 90_000),)
    assert parsed.size == len(raw) > 30_000_000


# --- bulk detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"List-Id": "Newsletter <news.example.com>"}, "list-id"),
        ({"List-Unsubscribe": "<mailto:unsub@news.example.com>"}, "list-unsubscribe"),
        ({"Precedence": "bulk"}, "precedence:bulk"),
        ({"Precedence": " List "}, "precedence:list"),
        ({"Precedence": "junk"}, "precedence:junk"),
        ({"Auto-Submitted": "auto-replied"}, "auto-submitted:auto-replied"),
        ({"Auto-Submitted": "Auto-Generated; type=report"}, "auto-submitted:auto-generated"),
        ({"Auto-Submitted": "auto-notified", "List-Id": "<x.example>"},
         "auto-submitted:auto-notified"),
        ({"List-Post": "<mailto:lps@fund.com>"}, "list-post"),
        ({"Mailing-list": "list lps@fund.com; contact lps+owners@fund.com"}, "mailing-list"),
        ({"X-Google-Group-Id": "526718491234"}, "x-google-group-id"),
        ({"List-Unsubscribe": "<https://u.example/x>", "List-Unsubscribe-Post":
          "List-Unsubscribe=One-Click", "Precedence": "list"}, "list-unsubscribe-post"),
        ({"Precedence": "list", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
          "Auto-Submitted": "auto-generated"}, "auto-submitted:auto-generated"),
        ({"Auto-Submitted": "no"}, None),
        ({"Precedence": "first-class"}, None),
        ({"X-Auto-Response-Suppress": "All"}, None),
        ({"List-Id": ""}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_bulk_rule(headers: dict[str, str], reason: str | None) -> None:
    parsed = parse_email(mail(headers))
    assert parsed.bulk_reason == reason
    assert parsed.is_bulk == (reason is not None)


@pytest.mark.parametrize(
    ("headers", "domain"),
    [
        ({"List-Id": "Investor Relations <IR.Fund.com>", "List-Post": "<mailto:x@other.com>"},
         "ir.fund.com"),
        ({"List-Post": "<https://groups.example/post>, <mailto:lps@Fund.com>"}, "fund.com"),
        ({"Mailing-list": "list lps@fund.com; contact lps+owners@fund.com"}, "fund.com"),
        ({"List-Unsubscribe": "<https://u.fund.com/x>, <mailto:ir+unsub@fund-partners.com>"},
         "fund-partners.com"),
        ({"List-Unsubscribe": "<https://news.example.net/u?id=1>"}, "news.example.net"),
        ({"List-Id": "no brackets.example.com"}, None),
        ({"List-Id": "<localhost>"}, None),
        ({"X-Google-Group-Id": "1"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_list_domain_is_what_a_relaying_list_calls_itself(headers, domain) -> None:
    assert parse_email(mail(headers)).list_domain == domain


# --- what cannot be parsed --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\r\n\r\n \t ", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (b"hello world\r\nFrom: a@x.example\r\n", "no_headers"),
        (b"\x00\x01\x02 binary", "no_headers"),
        (b"Subject: no one\r\n\r\nbody", "no_addresses"),
        (b"From: nobody\r\nTo: undisclosed-recipients:;\r\n\r\nbody", "no_addresses"),
    ],
)
def test_unparseable_messages(raw: bytes, reason: str) -> None:
    with pytest.raises(UnparseableEmail) as caught:
        parse_email(raw)
    assert caught.value.reason == reason
    assert str(caught.value)[0].isupper() and str(caught.value).endswith(".")


def test_arguments_are_checked() -> None:
    assert parse_email(bytearray(mail())).subject == "Hello"
    assert parse_email(memoryview(mail())).subject == "Hello"
    with pytest.raises(TypeError):
        parse_email(mail().decode())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_email(mail(), max_body_chars=-1)


# --- framing ----------------------------------------------------------------------------------


def _comparable(raw: bytes) -> tuple:
    parsed = parse_email(raw)
    return (parsed.subject, parsed.from_addr, parsed.to, parsed.sent_at, parsed.body_text,
            parsed.attachments, parsed.defects)  # fmt: skip


def test_line_endings_do_not_matter() -> None:
    body = multipart("b", part("Content-Type: text/plain", "one\r\ntwo"),
                     part("Content-Type: image/gif; name=a.gif", "GIF"))  # fmt: skip
    raw = mail({"Content-Type": "multipart/mixed; boundary=b", "Subject": "folded\r\n subject"},
               body)  # fmt: skip
    expected = _comparable(raw)
    assert expected[4] == "one\ntwo"
    assert _comparable(raw.replace(b"\r\n", b"\n")) == expected
    assert _comparable(raw.replace(b"\r\n", b"\r")) == expected


def test_mbox_line_bom_and_odd_header_syntax() -> None:
    raw = (
        b"\xef\xbb\xbfFrom jane@acme.example Mon Mar  3 18:15:00 2025\n"
        b"FROM: jane@acme.example\nsubject : spaced colon\ncc:c@x.example\n\nbody"
    )
    parsed = parse_email(raw)
    assert parsed.from_addr == Address("jane@acme.example", "")
    assert parsed.subject == "spaced colon" and parsed.cc == (Address("c@x.example", ""),)
    assert parsed.body_text == "body"


def test_missing_blank_line_keeps_the_body() -> None:
    parsed = parse_email(b"From: a@x.example\r\nTo: b@x.example\r\nThis is body text\r\nmore\r\n")
    assert parsed.body_text == "This is body text\nmore"
    assert "missing_header_body_separator" in parsed.defects


def test_size_is_the_raw_length() -> None:
    raw = mail()
    assert parse_email(raw).size == len(raw)
