"""Property tests: whatever bytes arrive, `parse_email` returns a sane `ParsedEmail` or raises
`UnparseableEmail` with a known reason, and never anything else.

The strategies and `check_invariants` are also used by `bench/parse_fuzz.py` for a longer run.
"""

import base64
import quopri
import re
import string
from datetime import timedelta
from email.utils import getaddresses
from unittest.mock import patch

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from appsrc.capture import parser
from appsrc.capture.parser import (
    MAX_DEFECTS,
    MAX_FILENAME_CHARS,
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REFERENCES,
    MAX_SUBJECT_CHARS,
    Address,
    Attachment,
    ParsedEmail,
    UnparseableEmail,
    parse_email,
)
from appsrc.matching.addresses import normalize_address, split_address_list

UNPARSEABLE_REASONS = {"empty", "no_headers", "no_addresses"}
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_MESSAGE_ID_FORM = re.compile(r"<[^<>\s]+>\Z")
_CONTENT_TYPE_FORM = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\Z")


def check_invariants(raw: bytes, max_body_chars: int = 2_000) -> str:
    """Parse `raw` and assert every documented invariant; return "parsed" or
    "unparseable:<reason>". Any other exception propagates (that is a crash)."""
    try:
        parsed = parse_email(raw, max_body_chars=max_body_chars)
    except UnparseableEmail as error:
        assert error.reason in UNPARSEABLE_REASONS, error.reason
        assert str(error).endswith(".")
        return f"unparseable:{error.reason}"
    assert isinstance(parsed, ParsedEmail)
    assert parsed.size == len(raw)
    if parsed.sent_at is not None:
        assert parsed.sent_at.utcoffset() == timedelta(0)
        assert 1970 <= parsed.sent_at.year <= 2100
    addresses = [*parsed.reply_to, *parsed.to, *parsed.cc, *parsed.bcc]
    if parsed.from_addr is not None:
        addresses.append(parsed.from_addr)
    assert addresses, "a parsed email has at least one address"
    for field in (parsed.reply_to, parsed.to, parsed.cc, parsed.bcc):
        assert len({address.email for address in field}) == len(field), "duplicates dropped"
    for address in addresses:
        assert isinstance(address, Address)
        assert address.email and address.email == normalize_address(address.email)
        assert address.email == address.email.lower() and address.email.count("@") == 1
        assert len(address.name) <= MAX_NAME_CHARS
        _assert_clean_line(address.name)
    assert len(parsed.subject) <= MAX_SUBJECT_CHARS
    _assert_clean_line(parsed.subject)
    for message_id in (parsed.message_id, parsed.in_reply_to, *parsed.references):
        if message_id is not None:
            assert _MESSAGE_ID_FORM.match(message_id) and len(message_id) <= MAX_MESSAGE_ID_CHARS
    assert len(parsed.references) <= MAX_REFERENCES
    assert len(set(parsed.references)) == len(parsed.references)
    assert len(parsed.body_text) <= max_body_chars
    assert "\r" not in parsed.body_text and "\x00" not in parsed.body_text
    parsed.body_text.encode("utf-8")  # no lone surrogates: storable as UTF-8
    for attachment in parsed.attachments:
        assert isinstance(attachment, Attachment)
        assert _CONTENT_TYPE_FORM.match(attachment.content_type)
        assert isinstance(attachment.size, int) and 0 <= attachment.size <= len(raw)
        assert len(attachment.filename) <= MAX_FILENAME_CHARS
        _assert_clean_line(attachment.filename)
    assert parsed.is_bulk == (parsed.bulk_reason is not None)
    assert len(parsed.defects) <= MAX_DEFECTS
    assert all(isinstance(defect, str) and defect for defect in parsed.defects)
    return "parsed"


def _assert_clean_line(text: str) -> None:
    assert text == text.strip()
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text), repr(text)
    text.encode("utf-8")


# --- a corpus of realistic messages, the raw material for mutations ---------------------------

_CRLF = "\r\n"


def _message(headers: list[str], body: str) -> bytes:
    return (_CRLF.join(headers) + _CRLF + _CRLF + body).encode("utf-8", "surrogateescape")


def _multipart(boundary: str, parts: list[str], preamble: str = "") -> str:
    lines = [preamble] if preamble else []
    for part in parts:
        lines += [f"--{boundary}", part]
    return _CRLF.join([*lines, f"--{boundary}--", ""])


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode()).decode().replace("\n", _CRLF)


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", _CRLF)


_HEADERS = [
    "Received: by 2002:a05:6a10:1234 with SMTP id x1csp1;\r\n  Mon, 3 Mar 2025 09:15:00 -0800",
    "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <Juergen@LP-Capital.example>",
    'To: "Doe, John" <john@fund.example>, team@fund.example',
    "Cc: ir@fund.example (Investor Relations)",
    "Subject: =?UTF-8?B?UTEgdXBkYXRlIOKAkyBjYXBpdGFsIGNhbGw=?=",
    "Date: Mon, 3 Mar 2025 18:15:00 +0100",
    "Message-ID: <CAF123+abc=def@mail.gmail.com>",
    "In-Reply-To: <prev@mail.gmail.com>",
    "References: <root@mail.gmail.com> <prev@mail.gmail.com>",
    "MIME-Version: 1.0",
]
_TEXT = "Dear John,\n\nPlease find the Q1 report attached – net of fees.\n\nBest,\nJürgen\n"
_HTML = (
    "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
    "<p>Dear John,</p><p>Please find the Q1 report &amp; notes.</p><div>Best,<br>J&uuml;rgen</div>"
    "</body></html>"
)

SEED_CORPUS = [
    _message(
        [*_HEADERS, 'Content-Type: multipart/alternative; boundary="000000000000a1b2c3"'],
        _multipart(
            "000000000000a1b2c3",
            [
                f"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: "
                f"quoted-printable\r\n\r\n{_qp(_TEXT)}",
                f"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: "
                f"quoted-printable\r\n\r\n{_qp(_HTML)}",
            ],
        ),
    ),
    _message(
        [*_HEADERS, "Content-Type: multipart/mixed; boundary=outer"],
        _multipart(
            "outer",
            [
                "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
                + _multipart(
                    "inner",
                    [
                        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{_TEXT}",
                        "Content-Type: multipart/related; boundary=rel\r\n\r\n"
                        + _multipart(
                            "rel",
                            [
                                f"Content-Type: text/html; charset=utf-8\r\n\r\n{_HTML}",
                                "Content-Type: image/png\r\nContent-ID: <logo@x>\r\n"
                                f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(b'PNG' * 40)}",
                            ],
                        ),
                    ],
                ),
                'Content-Type: application/pdf; name="=?UTF-8?B?UmFwcG9ydCDDqXTDqS5wZGY=?="\r\n'
                "Content-Disposition: attachment; filename*=UTF-8''Rapport%20%C3%A9t%C3%A9.pdf\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(bytes(range(256)) * 8)}",
                "Content-Type: message/rfc822\r\n\r\n"
                "From: someone@else.example\r\nSubject: forwarded\r\n\r\nInner body\r\n",
            ],
            preamble="This is a multi-part message in MIME format.",
        ),
    ),
    _message(
        [
            "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>",
            "To: team@fund.example",
            "Subject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
            "Date: Tue, 4 Mar 2025 09:00:00 JST",
            "Content-Type: text/plain; charset=ISO-2022-JP",
            "Content-Transfer-Encoding: 7bit",
        ],
        "\x1b$B$3$s$K$A$O\x1b(B\r\n",
    ),
    _message(
        [
            "From: News <news@newsletter.example>",
            "To: team@fund.example",
            "Subject: Weekly digest",
            "Date: Wed, 05 Mar 2025 07:00:00 +0000",
            "List-Unsubscribe: <mailto:unsub@newsletter.example>",
            "Precedence: bulk",
            "Content-Type: text/html; charset=windows-1252",
            "Content-Transfer-Encoding: base64",
        ],
        _b64("<p>\u201cQuoted\u201d &mdash; caf\xe9</p>".encode("cp1252")),
    ),
    _message(
        [
            "From: mailer-daemon@googlemail.com",
            "To: jane@fund.example",
            "Subject: Delivery Status Notification (Failure)",
            "Date: Wed, 5 Mar 2025 07:00:01 -0800 (PST)",
            "Auto-Submitted: auto-replied",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=rep",
        ],
        _multipart(
            "rep",
            [
                "Content-Type: text/plain\r\n\r\nAddress not found.",
                "Content-Type: message/delivery-status\r\n\r\nStatus: 5.1.1",
                "Content-Type: message/rfc822-headers\r\n\r\nFrom: jane@fund.example",
            ],
        ),
    ),
    (
        "From: Jos\xe9 <jose@lp.example>\r\nTo: undisclosed-recipients:;\r\n"
        "Bcc: jane@fund.example\r\nSubject: caf\xe9 cr\xe8me\r\nDate: 3 Mar 25 18:15 EST\r\n"
        "\r\nLatin-1 body: na\xefve\r\n"
    ).encode("latin-1"),
]


# --- strategies -------------------------------------------------------------------------------

_LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r"])
# Header values as soups of the tokens parsers trip over: specials, encoded-word and RFC 2231
# fragments, address, date and parameter pieces.
_TOKEN_SOUP = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "._%+-", max_size=10)
    | st.sampled_from(
        [
            '"', "'", "<", ">", ",", ";", ":", "@", "(", ")", "\\", " ", "\t", "\r\n ", "=",
            "=?", "?=", "?b?", "?Q?", "utf-8", "iso-2022-jp", "x-unknown", "%E2%82", "''",
            "*0*", "charset", "boundary", "filename*", "name", "a@b.example", "Mon,",
            "3 Mar 2025", "18:15:00", "+0100", "-0000", "CET", "undisclosed-recipients:;",
            "\xe9", "\u20ac", "\x00",
        ]
    ),
    max_size=14,
).map("".join)  # fmt: skip
_HEADER_VALUES = st.one_of(
    _TOKEN_SOUP,
    st.text(max_size=60),
    st.binary(max_size=40).map(lambda data: data.decode("latin-1")),
)
_HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Date", "Message-ID",
        "In-Reply-To", "References", "List-Id", "List-Unsubscribe", "Precedence",
        "Auto-Submitted", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "MIME-Version", "X-Mailer", "Received", "from", "CC", "content-type",
    ]
) | st.text(alphabet=string.ascii_letters + "-:!~ ", min_size=1, max_size=12)  # fmt: skip


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    """Random header fields (names real or not, values half-structured) and a random body."""
    eol = draw(_LINE_ENDS)
    fields = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=12))
    lines = [f"{name}: {value}".encode("utf-8", "surrogateescape") for name, value in fields]
    if draw(st.booleans()):
        lines.append(b"From: someone@example.com")
    body = draw(st.binary(max_size=300) | st.sampled_from(SEED_CORPUS))
    return eol.join(lines) + eol + eol + body


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


def _mutate(raw: bytes, draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(list(_MUTATIONS)))
    return _MUTATIONS[kind](raw, draw)


def _truncate(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw[: draw(st.integers(0, len(raw)))]


def _duplicate_line(raw: bytes, draw: st.DrawFn) -> bytes:
    lines = _lines(raw)
    source, target = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines)))
    lines.insert(target, lines[source])
    return b"\n".join(lines)


def _delete_line(raw: bytes, draw: st.DrawFn) -> bytes:
    lines = _lines(raw)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


def _swap_lines(raw: bytes, draw: st.DrawFn) -> bytes:
    lines = _lines(raw)
    first, second = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
    lines[first], lines[second] = lines[second], lines[first]
    return b"\n".join(lines)


def _flip_bytes(raw: bytes, draw: st.DrawFn) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _insert_bytes(raw: bytes, draw: st.DrawFn) -> bytes:
    position = draw(st.integers(0, len(raw)))
    snippet = draw(
        st.binary(min_size=1, max_size=30)
        | st.sampled_from([b"=?", b"?=", b"\r\n--", b"--\r\n", b";", b'"', b"\x00", b"\r\n\r\n"])
    )
    return raw[:position] + snippet + raw[position:]


def _corrupt_boundary(raw: bytes, draw: st.DrawFn) -> bytes:
    boundaries = re.findall(rb'boundary="?([^";\r\n]+)', raw)
    if not boundaries:
        return raw
    boundary = draw(st.sampled_from(boundaries))
    replacement = draw(st.sampled_from([b"", b"x", boundary[:-1], boundary + b"-", b"--"]))
    occurrences = [match.start() for match in re.finditer(re.escape(boundary), raw)]
    start = draw(st.sampled_from(occurrences))
    return raw[:start] + replacement + raw[start + len(boundary) :]


def _change_line_ends(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw.replace(b"\r\n", draw(st.sampled_from([b"\n", b"\r", b"\n\r", b"\r\r\n"])))


def _repeat_chunk(raw: bytes, draw: st.DrawFn) -> bytes:
    start = draw(st.integers(0, len(raw)))
    end = draw(st.integers(start, min(len(raw), start + 200)))
    return raw[:end] + raw[start:end] * draw(st.integers(2, 50)) + raw[end:]


_MUTATIONS = {
    "truncate": _truncate,
    "duplicate_line": _duplicate_line,
    "delete_line": _delete_line,
    "swap_lines": _swap_lines,
    "flip_bytes": _flip_bytes,
    "insert_bytes": _insert_bytes,
    "corrupt_boundary": _corrupt_boundary,
    "change_line_ends": _change_line_ends,
    "repeat_chunk": _repeat_chunk,
}


@st.composite
def mutated_mime(draw: st.DrawFn) -> bytes:
    """A realistic message from the corpus with one to five random mutations."""
    raw = draw(st.sampled_from(SEED_CORPUS))
    for _ in range(draw(st.integers(1, 5))):
        raw = _mutate(raw, draw)
    return raw


def mime_cases() -> st.SearchStrategy[bytes]:
    """Everything the fuzz properties throw at the parser, for the benchmark's long run."""
    return st.one_of(st.binary(max_size=2_000), header_soup(), mutated_mime())


# --- properties -------------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(st.binary(max_size=2_000))
def test_random_bytes_parse_or_are_unparseable(raw: bytes) -> None:
    check_invariants(raw)


@FUZZ_SETTINGS
@given(header_soup())
def test_header_soup_parses_or_is_unparseable(raw: bytes) -> None:
    check_invariants(raw)


@FUZZ_SETTINGS
@given(mutated_mime(), st.integers(0, 5_000))
def test_mutated_mime_parses_or_is_unparseable(raw: bytes, max_body_chars: int) -> None:
    check_invariants(raw, max_body_chars)


def _parsed_or_reason(raw: bytes) -> ParsedEmail | str:
    try:
        return parse_email(raw, max_body_chars=2_000)
    except UnparseableEmail as exc:
        return exc.reason


_DEFECTIVE_PARTS = (
    b"From: a@example.com\r\nTo: b@example.com, not an address, =?x-unknown?Q?Bj=F6rn?= <c@example.com>\r\n"
    b'Content-Type: multipart/mixed; boundary="sep"\r\n\r\n--sep\r\nContent-Type: ???\r\n\r\nbody\r\n'
    b"--sep\r\nContent-Type: text/plain; name*=x-unknown''%F6.txt\r\nbody\r\n--sep--\r\n"
)


@FUZZ_SETTINGS
@given(mime_cases())
@example(_DEFECTIVE_PARTS)
def test_headers_read_once_per_text_parse_as_read_in_place(raw: bytes) -> None:
    """Part header sections and address fields are read once per distinct text, their defects
    replayed: cold or warm, the result is exactly what reading them in place gives."""
    cold, warm = _parsed_or_reason(raw), _parsed_or_reason(raw)
    with (
        patch.object(parser, "MAX_SHARED_PART_HEADER_BYTES", -1),
        patch.object(parser, "MAX_SHARED_ADDRESS_LIST_CHARS", -1),
    ):
        in_place = _parsed_or_reason(raw)
    assert cold == warm == in_place


def test_a_parts_defects_come_in_the_order_they_are_read() -> None:
    """Fields, then the missing blank line after them, then what the fields say: the same order
    whether the part's header section was read before or not."""
    raw = (
        b"From: a@example.com\nTo: b@example.com\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n"
        b'Content-Type: multipart/mixed; boundary="s"\n\n--s\nContent-Type: garbage\nHello body\n--s--\n'
    )
    for _ in range(2):
        assert parse_email(raw).defects == ("missing_header_body_separator", "invalid_content_type")


def test_seed_corpus_parses_cleanly() -> None:
    """The mutation seeds themselves are valid mail: all parse, with no defects."""
    for raw in SEED_CORPUS:
        assert check_invariants(raw) == "parsed"
        assert parse_email(raw).defects == (), raw[:80]


@FUZZ_SETTINGS
@given(st.binary(max_size=400))
def test_garbage_in_one_alternative_keeps_the_other(garbage: bytes) -> None:
    """Whatever the HTML alternative holds, the plain text alternative still becomes the body."""
    raw = _message(
        ["From: a@example.com", "To: b@example.com", "Content-Type: multipart/alternative; b=1;"
         ' boundary="sep"'],
        "--sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKeep me\r\n--sep\r\n"
        "Content-Type: text/html; charset=x-garbage\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    )  # fmt: skip
    while b"--sep" in garbage:
        garbage = garbage.replace(b"--sep", b"")
    assert parse_email(raw + garbage).body_text == "Keep me"


_LOCAL_PART = st.text(alphabet=string.ascii_lowercase + string.digits + "._%+-", min_size=1,
                      max_size=10)  # fmt: skip
_DOMAIN = st.lists(
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8),
    min_size=2,
    max_size=3,
).map(".".join)
_SIMPLE_ADDRESS = st.builds("{}@{}".format, _LOCAL_PART, _DOMAIN)
_PHRASE = st.text(alphabet=string.ascii_letters + " .=?_'-\u00e9\u00fc", max_size=20)
_QUOTED_TEXT = st.lists(
    st.characters(blacklist_characters='"\\\r\n') | st.sampled_from(['\\"', "\\\\", ","]),
    max_size=12,
).map("".join)
_SIMPLE_MAILBOX = st.one_of(
    _SIMPLE_ADDRESS,
    st.builds("{} <{}>".format, _PHRASE, _SIMPLE_ADDRESS),
    st.builds('"{}" <{}>'.format, _QUOTED_TEXT, _SIMPLE_ADDRESS),
)


@FUZZ_SETTINGS
@given(st.lists(_SIMPLE_MAILBOX, min_size=1, max_size=5), st.sampled_from([",", ", ", " ,  "]))
def test_address_fast_path_agrees_with_getaddresses(mailboxes: list[str], separator: str) -> None:
    value = separator.join(mailboxes)
    expected = [(" ".join(name.split()), addr) for name, addr in getaddresses([value])]
    actual = [(" ".join(name.split()), addr) for name, addr in split_address_list(value)]
    assert actual == expected
