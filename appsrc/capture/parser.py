"""Raw RFC 822 bytes (Gmail ``messages.get?format=raw``) to normalized email fields.

Why not `email.parser`: it is several times too slow for a backfill (figures in
docs/performance.md, the reasoning in docs/decisions/), because the feed parser compiles a new
regular expression for every MIME boundary (each message has its own, so the `re` cache
never hits) and walks every line of every part in Python, including a 30 MB attachment.
This module instead finds the structure with `bytes.find` and regular expressions that run
in C over index ranges of the raw bytes: headers are read field by field, multipart bodies
are split on their delimiter lines (RFC 2046 §5.1.1), and only the parts that become
`body_text` are ever decoded. The stdlib still does what it is good at: `getaddresses` for
unusual address lists, `parsedate_tz` for dates, `binascii` for transfer decoding,
`html.unescape` for entities.

`parse_email` is total: for any bytes it returns a best-effort `ParsedEmail` (listing what
was wrong in `defects`) or raises `UnparseableEmail` when nothing useful can be recovered.
Work and memory are bounded by the constants below, whatever the input size.
"""

import binascii
import codecs
import functools
import html
import itertools
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz
from typing import NamedTuple, cast

from appsrc.matching.addresses import (
    Address,
    domain_of,
    flatten_comments,
    normalize_address,
    split_address_list,
)

__all__ = [
    "Address",
    "Attachment",
    "ParsedEmail",
    "UnparseableEmail",
    "domain_of",
    "normalize_address",
    "normalize_message_id",
    "parse_email",
]

MAX_SUBJECT_CHARS = 998  # RFC 5322 §2.1.1 line length limit
MAX_NAME_CHARS = 200  # display names land in VARCHAR(255) columns
MAX_FILENAME_CHARS = 255
MAX_MESSAGE_ID_CHARS = 250  # longer ones are garbage, and would not fit VARCHAR(255)
MAX_REFERENCES = 100  # the root plus the most recent ancestors
MAX_HEADER_VALUE_BYTES = 16 * 1024  # per field name, all occurrences together
MAX_HEADER_FIELDS = 1000  # wanted fields per header section
MAX_HEADER_SECTION_BYTES = 4 * 1024 * 1024  # fields further down are ignored
MAX_MIME_DEPTH = 8
MAX_MIME_PARTS = 200
MAX_SHARED_PART_HEADER_BYTES = 512  # part header sections up to this size are read once each
MAX_SHARED_ADDRESS_LIST_CHARS = 1000  # ...and address fields up to this size
MAX_DEFECTS = 32
# Encoded bytes read per wanted body character: quoted-printable UTF-8 takes up to 9 bytes
# per character; HTML adds markup, often inline CSS, around every word.
TEXT_BYTES_PER_CHAR = 12
HTML_BYTES_PER_CHAR = 60
_MIN_BODY_BYTES = 4096

_EARLIEST_YEAR, _LATEST_YEAR = 1970, 2100  # outside this a Date header is garbage


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str  # RFC 2231 / RFC 2047 decoded, may be ""
    content_type: str  # "type/subtype", lower-case, no parameters
    size: int  # decoded bytes, estimated from the encoded length (never decoded)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None
    subject: str
    from_addr: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    sent_at: datetime | None  # aware, UTC
    in_reply_to: str | None
    references: tuple[str, ...]
    body_text: str
    body_truncated: bool
    attachments: tuple[Attachment, ...]
    is_bulk: bool
    bulk_reason: str | None
    list_domain: str | None  # the domain a mailing list that relayed it names itself by
    size: int
    defects: tuple[str, ...]


class UnparseableEmail(Exception):
    """Nothing useful could be recovered; `reason` is "empty", "no_headers" or "no_addresses"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_email(raw: bytes, *, max_body_chars: int = 20_000) -> ParsedEmail:
    """Parse one raw message; raises only `UnparseableEmail` (and TypeError/ValueError for
    arguments that are not bytes / a non-negative limit)."""
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    if max_body_chars < 0:
        raise ValueError("max_body_chars must be >= 0")
    return _MessageParser(raw, max_body_chars).parse()


_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_BARE_MESSAGE_ID = re.compile(r"[^\s<>@]+@[^\s<>@]+\Z")
_WHITESPACE = re.compile(r"\s+")
_PRINTABLE_ID = re.compile(r"[^\s<>\x00-\x1f\x7f-\x9f]+\Z")


def normalize_message_id(value: str | None) -> str | None:
    """The first ``<id>`` token of a Message-ID / In-Reply-To style value, brackets kept.

    RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">". Case is kept (ids compare
    literally); whitespace inside the brackets is folding debris and removed. A value without
    brackets is accepted only as a single ``left@right`` token. Returns None when nothing
    usable is left, so the caller falls back to its own dedupe key.
    """
    if not value:
        return None
    match = _MESSAGE_ID.search(value)
    if match:
        return _bracketed_id(match.group(1))
    token = value.strip()
    return _bracketed_id(token) if _BARE_MESSAGE_ID.match(token) else None


def _bracketed_id(token: str) -> str | None:
    if not _PRINTABLE_ID.match(token):
        token = _WHITESPACE.sub("", token)
        if not _PRINTABLE_ID.match(token):
            return None
    return f"<{token}>" if len(token) + 2 <= MAX_MESSAGE_ID_CHARS else None


# --- charsets ------------------------------------------------------------------------------

# Labels whose real content is, in practice, UTF-8 or Windows-1252 (WHATWG maps the Latin-1
# and ASCII labels to windows-1252; mislabelled UTF-8 is the commonest mail charset bug).
_SNIFFED_LABELS = frozenset(
    [
        "unknown-8bit",
        "x-unknown",
        "unknown",
        "default",
        "8bit",
        "x-user-defined",
        "us-ascii",
        "ascii",
        "ansi_x3.4-1968",
        "iso-8859-1",
        "iso8859-1",
        "iso_8859-1",
        "latin1",
        "latin-1",
        "l1",
        "cp819",
        "windows-1252",
        "cp1252",
        "x-cp1252",
    ]
)
# Supersets that decode what mailers actually send under these labels.
_SUPERSETS = {
    "gb2312": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "euc-cn": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "x-sjis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932", "shift_jis_2004"),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext"),
    "euc-jp": ("euc_jp", "euc_jis_2004"),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "big5": ("big5hkscs", "cp950"),
    "tis-620": ("cp874",),
    "windows-874": ("cp874",),
    "iso-8859-8-i": ("iso8859_8",),
    "x-mac-roman": ("mac_roman",),
}
# Python-specific codecs that no mail charset names, some of them slow on hostile input.
_REFUSED_CODECS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"})
_MAX_LABEL_CHARS = 40
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class _CharsetPlan:
    own: tuple[str, ...]  # the label's codec (or supersets), tried strictly
    fallbacks: tuple[str, ...]  # tried strictly when the label lies: "charset_mismatch"
    last_resort: str  # decoded with errors="replace": "undecodable_text"
    known: bool  # False: the label names no usable charset, "unknown_charset"
    # ASCII bytes always mean ASCII characters (no 7-bit escapes, no UTF-16), so pure-ASCII
    # data decodes to itself and control bytes never sit inside a multibyte character.
    ascii_compatible: bool


_SNIFF = _CharsetPlan(("utf-8", "cp1252"), (), "cp1252", True, True)
_UTF8 = _CharsetPlan(("utf-8",), ("cp1252",), "utf-8", True, True)
_UNKNOWN = _CharsetPlan((), ("utf-8", "cp1252"), "cp1252", False, True)


@functools.lru_cache(maxsize=256)
def _charset_plan(raw_label: str | None) -> _CharsetPlan:
    label = (raw_label or "").strip().strip("\"'").partition("*")[0].lower()  # RFC 2231 §5
    if not label or label in _SNIFFED_LABELS:
        return _SNIFF
    try:
        infos = [codecs.lookup(name) for name in _SUPERSETS.get(label, (label,))]
    except (LookupError, ValueError):
        return _UNKNOWN
    names = tuple(info.name for info in infos)
    if names[0] == "utf-8":
        return _UTF8
    if any(info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True) for info in infos):
        return _UNKNOWN
    stateful = names[0].startswith(("iso2022", "hz"))  # 7-bit escapes switch charsets
    try:
        ascii_compatible = _PRINTABLE_ASCII.decode(names[0]) == _PRINTABLE_ASCII.decode("ascii")
    except UnicodeDecodeError:
        ascii_compatible = False
    return _CharsetPlan(names, ("utf-8",), names[0], True, ascii_compatible and not stateful)


def _decode_bytes(
    data: bytes, label: str | None, *, partial: bool = False, strip_controls: bool = False
) -> tuple[str, str | None]:
    """Decode text whatever its label claims; return (text, defect name or None).

    Tries the labelled charset (or its superset), then UTF-8 (the usual mislabel), then
    falls back to replacement characters: never raises, never returns lone surrogates.
    `partial` data was cut at an arbitrary byte: an incomplete last character is dropped.
    `strip_controls` removes C0 controls but tab and line feed, carriage returns included
    (so CRLF becomes LF), cheaply on the bytes when the charset allows it.
    """
    plan = _charset_plan(label[:_MAX_LABEL_CHARS] if label else None)
    if strip_controls and plan.ascii_compatible:
        data = data.translate(None, _CONTROL_BYTES)
    if plan.ascii_compatible and data.isascii():
        return data.decode("ascii"), None if plan.known else "unknown_charset"
    for codec in plan.own + plan.fallbacks:
        try:
            text = codecs.getincrementaldecoder(codec)().decode(data, final=False) if partial else data.decode(codec)
        except UnicodeDecodeError:
            continue
        defect = None if codec in plan.own else "charset_mismatch"
        break
    else:
        text, defect = data.decode(plan.last_resort, "replace"), "undecodable_text"
    if strip_controls and not plan.ascii_compatible:
        text = _CONTROL_CHARS.sub("", text)
    return text, defect if plan.known else "unknown_charset"


# --- text cleanup ---------------------------------------------------------------------------

_LINE_NOISE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_EXTRA_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")


def _one_line(text: str, limit: int) -> str:
    """Collapse whitespace and control characters to single spaces, strip, bound."""
    if not text.isprintable() or "  " in text:
        text = _LINE_NOISE.sub(" ", text)
    return text.strip()[:limit].rstrip()


def _collapse_blank_lines(text: str) -> str:
    return _EXTRA_BLANK_LINES.sub("\n\n", text).strip()


# Raw-text elements are dropped with their content; an unclosed one runs to the end, as in
# browsers. Every pattern stops at the next "<" or has a \Z alternative, so the regular
# expressions stay linear on hostile markup.
_HTML_HIDDEN = re.compile(r"<(script|style|title|template)\b[^<>]*>.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.I | re.S)
_HTML_LINE_BREAK = re.compile(
    r"<(?:br|/?(?:p|div|tr|li|h[1-6]|table|blockquote|pre|ul|ol|dl|dt|dd|hr|section|article"
    r"|header|footer))\b[^<>]*>",
    re.I,
)
_HTML_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_HTML_TAG = re.compile(r"</?[a-zA-Z!?][^<>]*>")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")


def _html_to_text(markup: str) -> str:
    """Readable text from HTML: hidden elements dropped, blocks on their own lines."""
    text = _WHITESPACE.sub(" ", _HTML_HIDDEN.sub(" ", markup))
    text = _HTML_CELL_END.sub(" ", _HTML_LINE_BREAK.sub("\n", text))
    text = html.unescape(_HTML_TAG.sub("", text))  # may yield white space ("&#13;")
    text = _SPACE_AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text))
    return _collapse_blank_lines(text)


# --- RFC 2047 encoded words ----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([qQbB])\?([^?]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _lenient_b64decode(data: bytes) -> tuple[bytes, bool]:
    """Decode base64, repairing bad padding and stray bytes; return (bytes, was_clean)."""
    try:
        return binascii.a2b_base64(data), True
    except binascii.Error:
        cleaned = _NOT_BASE64.sub(b"", data)
        if len(cleaned) % 4 == 1:  # a lone last character carries no whole byte
            cleaned = cleaned[:-1]
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4)), False


# --- MIME ------------------------------------------------------------------------------------

# A header field is a name, a colon and a value with its folded continuation lines (RFC 5322
# §2.2); the obsolete space before the colon is allowed (§4.5).
_FIELD_VALUE = rb"[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)"
_FIELD_START = rb"[!-9;-~]{1,200}[ \t]*:"
_FIELD = re.compile(_FIELD_START)
# The header section ends at the first line that neither starts a field nor continues one:
# normally the blank line before the body.
_SECTION_END = re.compile(rb"\n(?![ \t]|" + _FIELD_START + rb")")
# A byte-order mark, blank lines and an mbox "From " line (not the obsolete "From :").
_LEADING_NOISE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*(?:From (?![ \t]*:)[^\n]*\n)?")
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*\r?(?:\n|\Z)")  # RFC 2046 §5.1.1 transport padding
_MIME_TYPE = re.compile(r"([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)")
# One plain parameter, e.g. `text/plain; charset="UTF-8"`: the common case, parsed in one go.
_SIMPLE_PARAMETER = re.compile(r'\s*([^\s;]+)\s*;\s*([a-zA-Z0-9-]+)\s*=\s*(?:"([^"\\=]*)"|([^\s;"\\=]*))\s*;?\s*')
_PARAMETER = re.compile(r';\s*([^\s;="]+?)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
_TOKEN = re.compile(r"[a-z0-9._+-]{1,40}")
_QUOTED_PAIR = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class _FieldFinder:
    """Finds the named fields of a header section: `first` at its start, `rest` after a line
    break (continuation lines start with white space, so they never match). The line break
    gives the regular expression engine a literal prefix to scan for, and matching a
    lower-cased copy of the section is much faster than IGNORECASE alternatives."""

    first: re.Pattern
    rest: re.Pattern

    @classmethod
    def for_names(cls, names: str) -> "_FieldFinder":
        alternatives = b"(" + b"|".join(re.escape(name.encode()) for name in names.split()) + b")"
        return cls(
            re.compile(alternatives + _FIELD_VALUE),
            re.compile(b"\n" + alternatives + _FIELD_VALUE),
        )

    def find(self, raw: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
        """(lower-case name, value start, value end) of each wanted field, in order."""
        section = raw[start:end].lower()
        matches: Iterable[re.Match] = self.rest.finditer(section)
        if first := self.first.match(section):
            matches = itertools.chain((first,), matches)
        return [(match[1], start + match.start(2), start + match.end(2)) for match in matches]


_CONTENT_FIELDS = "content-type content-transfer-encoding content-disposition content-id"
_LIST_FIELDS = "list-id list-post mailing-list list-unsubscribe list-unsubscribe-post x-google-group-id"
_MESSAGE_FIELD_NAMES = (
    "from sender reply-to to cc bcc subject date message-id in-reply-to references precedence "
    "auto-submitted x-original-sender " + _LIST_FIELDS + " " + _CONTENT_FIELDS
)
_MESSAGE_FIELDS = _FieldFinder.for_names(_MESSAGE_FIELD_NAMES)
_PART_FIELDS = _FieldFinder.for_names(_CONTENT_FIELDS)
_FIELD_NAMES = {name.encode(): name for name in _MESSAGE_FIELD_NAMES.split()}  # as found -> as keyed
_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")
_ADDRESS_FIELD_NAMES = frozenset(name.encode() for name in _ADDRESS_FIELDS)
_SINGLE_FIELDS = ("from", "sender", "subject", "date", "message-id", "in-reply-to", "references")
_BODY_TYPES = ("text/plain", "text/html")
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})

# Zone names seen in Date headers beyond the US ones `parsedate_tz` knows (RFC 822 §5);
# ambiguous abbreviations (IST, CST in Asia) are left out and count as UTC.
_ZONE_OFFSETS_MINUTES = {
    "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "MET": 60, "CEST": 120, "MEST": 120,
    "EET": 120, "EEST": 180, "MSK": 180, "SGT": 480, "HKT": 480, "JST": 540, "KST": 540,
    "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}  # fmt: skip
_ZONE_AFTER_TIME = re.compile(r"\d:\d\d(?::\d\d)?\s+\(?([A-Za-z]{2,5})\b")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_COMMON_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\s+"
    r"(\d{2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})(?:\s*\([^()]*\))?\s*\Z",
    re.IGNORECASE,
)


class _Head(NamedTuple):
    """What the content headers of one MIME entity say."""

    content_type: str
    params: dict[str, str]  # shared between messages (see `_shared_part_head`): read only
    disposition: str
    filename: str
    transfer_encoding: str
    has_content_id: bool


class _Entity(NamedTuple):
    """One MIME entity: its content headers and where its body lies in the raw bytes."""

    content_type: str
    params: dict[str, str]
    disposition: str
    filename: str
    transfer_encoding: str
    has_content_id: bool
    body_start: int
    body_end: int


class _BodyPart(NamedTuple):
    content_type: str
    charset: str
    transfer_encoding: str
    start: int
    end: int


class _MessageParser:
    """Holds the raw bytes, the limits and the defects seen while parsing one message."""

    def __init__(self, raw: bytes, max_body_chars: int) -> None:
        self._raw = raw
        self._max_body_chars = max_body_chars
        self._defects: dict[str, None] = {}  # insertion-ordered set
        self._body_parts: list[_BodyPart] = []
        self._inline_text_parts: list[_BodyPart] = []
        self._attachments: list[Attachment] = []
        self._part_count = 0

    def parse(self) -> ParsedEmail:
        raw = self._raw
        if b"\n" not in raw and b"\r" in raw:  # classic Mac line ends
            raw = self._raw = raw.replace(b"\r", b"\n")
        noise = _LEADING_NOISE.match(raw)  # matches at least the empty string
        start = noise.end() if noise else 0
        if start == len(raw):
            raise UnparseableEmail("empty", "The message is empty.")
        if not _FIELD.match(raw, start):
            raise UnparseableEmail("no_headers", "The message does not start with header fields.")
        fields, body_start = self._read_fields(start, len(raw), _MESSAGE_FIELDS)
        for name in _SINGLE_FIELDS:
            if len(fields.get(name, ())) > 1:
                self._defect(f"duplicate_header:{name}")

        addresses = {name: self._addresses(fields, name) for name in _ADDRESS_FIELDS}
        if not any(addresses.values()):
            raise UnparseableEmail("no_addresses", "The message has no valid sender or recipient.")
        from_addr = next(iter(addresses["from"] or addresses["sender"]), None)
        if "from" not in fields:
            self._defect("missing_header:from")
        list_address = _list_address(fields)
        if from_addr is not None and "x-original-sender" in fields:
            from_addr = self._original_sender(fields, from_addr, list_address, addresses["reply-to"])

        self._walk(_Entity(*self._head(fields, "text/plain"), body_start, len(raw)), depth=0, parent="")
        if not self._body_parts:
            self._body_parts = self._inline_text_parts
        body_text, body_truncated = self._body_text()
        bulk_reason = _bulk_reason(fields)
        return ParsedEmail(
            message_id=self._message_id(fields, "message-id"),
            subject=_one_line(self._decode_words(_first(fields, "subject")), MAX_SUBJECT_CHARS),
            from_addr=from_addr,
            reply_to=addresses["reply-to"],
            to=addresses["to"],
            cc=addresses["cc"],
            bcc=addresses["bcc"],
            sent_at=self._sent_at(fields),
            in_reply_to=self._message_id(fields, "in-reply-to"),
            references=self._references(fields),
            body_text=body_text,
            body_truncated=body_truncated,
            attachments=tuple(self._attachments),
            is_bulk=bulk_reason is not None,
            bulk_reason=bulk_reason,
            list_domain=_list_domain(fields, list_address),
            size=len(self._raw),
            defects=tuple(self._defects),
        )

    def _defect(self, name: str) -> None:
        if len(self._defects) < MAX_DEFECTS:
            self._defects[name] = None

    def _text(self, data: bytes, label: str | None) -> str:
        text, defect = _decode_bytes(data, label)
        if defect:
            self._defect(defect)
        return text

    # --- header section ---

    def _read_fields(self, start: int, end: int, finder: _FieldFinder) -> tuple[dict[str, list[str]], int]:
        """Read the header section at `start`; return (wanted fields, body start)."""
        section_end = self._section_end(start, end)
        fields = self._fields(start, section_end, finder)
        return fields, self._body_start(section_end, end)

    def _section_end(self, start: int, end: int) -> int:
        """Where the header section at `start` ends, found in one C-speed search. A line that
        is neither a field nor a continuation ends it early (as `email.feedparser` does), so
        a missing blank line loses no body text."""
        found_end = _SECTION_END.search(self._raw, start, end)
        return found_end.end() if found_end else end

    def _fields(self, start: int, section_end: int, finder: _FieldFinder) -> dict[str, list[str]]:
        """The fields `finder` wants from the header section [start, section_end)."""
        raw = self._raw
        scanned_end = min(section_end, start + MAX_HEADER_SECTION_BYTES)
        if scanned_end < section_end:
            self._defect("header_section_truncated")
        found = finder.find(raw, start, scanned_end)
        if len(found) > MAX_HEADER_FIELDS:
            self._defect("too_many_header_fields")
            del found[MAX_HEADER_FIELDS:]
        fields: dict[str, list[str]] = {}
        if scanned_end - start <= MAX_HEADER_VALUE_BYTES:  # no field can outgrow its room
            for name, value_start, value_end in found:
                fields.setdefault(_FIELD_NAMES[name], []).append(self._header_text(raw[value_start:value_end]))
            return fields
        room: dict[bytes, int] = {}  # value bytes left per field name, all occurrences together
        for name, value_start, value_end in found:
            left = room.get(name, MAX_HEADER_VALUE_BYTES)
            if value_end - value_start > left:
                self._defect(f"header_truncated:{name.decode()}")
                value_end = value_start + left
                if name in _ADDRESS_FIELD_NAMES:  # keep whole addresses only
                    value_end = max(value_start, raw.rfind(b",", value_start, value_end))
            room[name] = left - (value_end - value_start)
            if left:
                value = self._header_text(raw[value_start:value_end])
                fields.setdefault(name.decode(), []).append(value)
        return fields

    def _body_start(self, section_end: int, end: int) -> int:
        """The body starts after the blank line that ends the header section."""
        raw = self._raw
        if raw.startswith(b"\n", section_end, end):
            return section_end + 1
        if raw.startswith(b"\r\n", section_end, end):
            return section_end + 2
        if section_end < end:
            self._defect("missing_header_body_separator")
        return section_end

    def _header_text(self, value: bytes) -> str:
        """Unfolded header text; raw 8-bit bytes are read as UTF-8 (RFC 6532) or cp1252."""
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            text = self._text(value, None)
        if "\n" in text:
            text = text.replace("\r", "").replace("\n", "")
        return text.strip()

    def _decode_words(self, text: str) -> str:
        """Decode RFC 2047 encoded words; adjacent words of one charset are joined as bytes
        first, so a character split across two words survives (RFC 2047 §5, §6.2)."""
        if "=?" not in text:
            return text
        pieces: list[str] = []
        run_charset: str | None = None
        run = bytearray()
        position = 0
        for match in _ENCODED_WORD.finditer(text):
            gap = text[position : match.start()]
            if gap and (run_charset is None or not gap.isspace()):
                if run_charset is not None:
                    pieces.append(self._text(bytes(run), run_charset))
                    run_charset, run = None, bytearray()
                pieces.append(gap)
            charset, encoding, encoded = match.groups()
            if encoding in "bB":
                data, clean = _lenient_b64decode(encoded.encode("ascii", "ignore"))
                if not clean:
                    self._defect("bad_encoded_word")
            else:
                data = binascii.a2b_qp(encoded.encode(), header=True)
            if run_charset is not None and charset.lower() != run_charset.lower():
                pieces.append(self._text(bytes(run), run_charset))
                run = bytearray()
            run_charset = charset
            run += data
            position = match.end()
        if run_charset is not None:
            pieces.append(self._text(bytes(run), run_charset))
        pieces.append(text[position:])
        return "".join(pieces)

    def _original_sender(
        self, fields: dict[str, list[str]], from_addr: Address, list_address: str | None, reply_to: tuple[Address, ...]
    ) -> Address:
        """The author of a message a mailing list re-sent under its own address.

        A list that cannot forward a sender's mail under the sender's domain (DMARC) rewrites
        From to its own address, e.g. "'Gil Moss' via Investor Relations <ir@fund.com>", and
        keeps the author in X-Original-Sender (Google Groups) and usually Reply-To. Only that
        shape is undone: X-Original-Sender names one other address, and From is the list's own
        posting address or says "via".
        """
        original = self._addresses(fields, "x-original-sender")
        if len(original) != 1 or original[0].email == from_addr.email:
            return from_addr
        if from_addr.email != list_address and " via " not in from_addr.name:
            return from_addr
        author = original[0].email
        name = next((a.name for a in reply_to if a.email == author and a.name), "")
        if not name and " via " in from_addr.name:
            name = _strip_quotes(from_addr.name.rsplit(" via ", 1)[0].strip())
        return Address(author, name or original[0].name)

    def _addresses(self, fields: dict[str, list[str]], name: str) -> tuple[Address, ...]:
        """Valid addresses of one field in order, deduplicated by address; a later duplicate
        only contributes a display name the first occurrence lacked."""
        values = fields.get(name)
        if not values:
            return ()
        found: dict[str, str] = {}
        pairs: Iterable[tuple[str, str]]
        for value in values:
            if len(value) <= MAX_SHARED_ADDRESS_LIST_CHARS:
                pairs, defects = _shared_address_list(value, name)
                for defect in defects:
                    self._defect(defect)
            else:
                pairs = self._address_list(value, name)
            for email, display in pairs:
                if not found.get(email):
                    found[email] = display
        return tuple(Address(email, display) for email, display in found.items())

    def _address_list(self, value: str, name: str) -> list[tuple[str, str]]:
        """(address, display name) of each valid address of one field value."""
        if ("(" in value or ")" in value) and flatten_comments(value)[1]:
            self._defect(f"malformed_comments:{name}")
        pairs = []
        for raw_name, raw_addr in split_address_list(value):
            email = normalize_address(raw_addr)
            if email is None:
                self._defect(f"invalid_address:{name}")
                continue
            display = raw_name and _strip_quotes(_one_line(self._decode_words(raw_name), MAX_NAME_CHARS))
            pairs.append((email, display))
        return pairs

    def _message_id(self, fields: dict[str, list[str]], name: str) -> str | None:
        value = _first(fields, name)
        normalized = normalize_message_id(value)
        if value and normalized is None:
            self._defect(f"invalid_message_id:{name}")
        return normalized

    def _references(self, fields: dict[str, list[str]]) -> tuple[str, ...]:
        ids = dict.fromkeys(
            normalized
            for token in _MESSAGE_ID.findall(_first(fields, "references"))
            if (normalized := _bracketed_id(token))
        )
        references = tuple(ids)
        if len(references) > MAX_REFERENCES:
            self._defect("references_truncated")
            references = references[:1] + references[1 - MAX_REFERENCES :]
        return references

    def _sent_at(self, fields: dict[str, list[str]]) -> datetime | None:
        value = _first(fields, "date")
        if not value:
            self._defect("missing_header:date")
            return None
        sent_at = _parse_date(value)
        if sent_at is None:
            self._defect("invalid_date")
        return sent_at

    # --- MIME structure ---

    def _head(self, fields: dict[str, list[str]], default_type: str) -> _Head:
        if not fields:
            return _Head(default_type, {}, "", "", "", False)
        declared, params = self._parameters(_first(fields, "content-type"))
        content_type = _MIME_TYPE.match(declared)
        if content_type is None and "content-type" in fields:
            self._defect("invalid_content_type")
        disposition, disposition_params = "", cast(dict[str, str], {})
        if "content-disposition" in fields:
            disposition, disposition_params = self._parameters(fields["content-disposition"][0])
        filename = disposition_params.get("filename") or params.get("name")
        encoding = _TOKEN.match(_first(fields, "content-transfer-encoding").strip(' \t"').lower())
        return _Head(
            # RFC 2045 §5.2 default, or message/rfc822 inside a digest (RFC 2046 §5.1.5)
            content_type=content_type.group(1) if content_type else default_type,
            params=params,
            disposition=disposition,
            filename=_one_line(filename, MAX_FILENAME_CHARS) if filename else "",
            transfer_encoding=encoding.group() if encoding else "",
            has_content_id=bool(_first(fields, "content-id")),
        )

    def _part(self, start: int, end: int, default_type: str) -> _Entity:
        """One part of a multipart. Its header section is read once per distinct text: most
        parts of most mail carry the same few (`Content-Type: text/plain; charset="UTF-8"`)."""
        section_end = self._section_end(start, end)
        if section_end - start > MAX_SHARED_PART_HEADER_BYTES:
            fields = self._fields(start, section_end, _PART_FIELDS)
            body_start = self._body_start(section_end, end)
            return _Entity(*self._head(fields, default_type), body_start, end)
        head, field_defects, head_defects = _shared_part_head(self._raw[start:section_end], default_type)
        for defect in field_defects:
            self._defect(defect)
        body_start = self._body_start(section_end, end)  # defects in the order of reading
        for defect in head_defects:
            self._defect(defect)
        return _Entity(*head, body_start, end)

    def _parameters(self, value: str) -> tuple[str, dict[str, str]]:
        """Split ``type/subtype; name=value; ...`` (RFC 2045 §5.1, RFC 2183) with RFC 2231
        extended and continued values; returns the lower-cased main value and the decoded
        parameters. A plain value may be RFC 2047 encoded, as Outlook and Gmail do
        for file names."""
        simple = _SIMPLE_PARAMETER.fullmatch(value)
        if simple:
            main, name, quoted, bare = simple.groups()
            return main.lower(), {name.lower(): quoted if quoted is not None else bare}
        main, _, rest = value.partition(";")
        main = main.strip().lower()
        if not rest.strip():
            return main, {}
        plain: dict[str, str] = {}
        extended: dict[str, dict[int | None, tuple[str, bool]]] = {}
        for match in _PARAMETER.finditer(";" + rest):
            name, quoted, bare = match.groups()
            text = _unescape_quoted(quoted) if quoted is not None else bare.strip().strip('"')
            name = name.lower()
            encoded = name.endswith("*")
            base, star, section = name.rstrip("*").partition("*")
            if star and section.isdigit() and len(section) <= 3:
                extended.setdefault(base, {}).setdefault(int(section), (text, encoded))
            elif not star and encoded:
                extended.setdefault(base, {}).setdefault(None, (text, True))
            elif not star:
                plain.setdefault(base, text)
        # Only file names are RFC 2047 encoded in the wild; a boundary must stay byte-exact.
        params = {
            name: self._decode_words(text) if name in ("name", "filename") else text for name, text in plain.items()
        }
        for name, sections in extended.items():
            params[name] = self._rfc2231_value(sections)
        return main, params

    def _rfc2231_value(self, sections: dict[int | None, tuple[str, bool]]) -> str:
        """Join RFC 2231 §3-4 sections; an unnumbered ``name*`` wins over numbered ones."""
        ordered = (
            [sections[None]]
            if None in sections
            else [sections[key] for key in sorted(key for key in sections if key is not None)]
        )
        charset = ""
        data = bytearray()
        for index, (text, encoded) in enumerate(ordered):
            if encoded:
                if index == 0 and text.count("'") >= 2:
                    charset, _, text = text.split("'", 2)
                data += urllib.parse.unquote_to_bytes(text)
            else:
                data += text.encode()
        return self._text(bytes(data), charset)

    def _walk(self, entity: _Entity, depth: int, parent: str) -> None:
        """Visit one entity: recurse into multiparts, collect body parts and attachments."""
        self._part_count += 1
        if self._part_count > MAX_MIME_PARTS:
            self._defect("too_many_parts")
            return
        if entity.content_type.startswith("multipart/"):
            if depth >= MAX_MIME_DEPTH:
                self._defect("nesting_too_deep")
                return
            subtype = entity.content_type.partition("/")[2]
            child_default = "message/rfc822" if subtype == "digest" else "text/plain"
            for start, end in self._split_multipart(entity):
                self._walk(self._part(start, end, child_default), depth + 1, subtype)
                if self._part_count > MAX_MIME_PARTS:
                    return
            return
        is_attachment = entity.disposition == "attachment" or bool(entity.filename)
        if entity.content_type in _BODY_TYPES and entity.disposition != "attachment":
            part = _BodyPart(
                entity.content_type,
                entity.params.get("charset", ""),
                entity.transfer_encoding,
                entity.body_start,
                entity.body_end,
            )
            if not is_attachment:
                self._body_parts.append(part)
                return
            # Text shown inline under a file name (Apple Mail, some mobile mailers): an
            # attachment, and the body too when the message has no other text.
            self._inline_text_parts.append(part)
        if is_attachment or not (parent == "related" and entity.has_content_id):
            # Resources embedded in an HTML body (multipart/related, RFC 2387, referenced
            # by Content-ID) are part of the body, not attachments.
            self._attachments.append(Attachment(entity.filename, entity.content_type, self._decoded_size(entity)))

    def _split_multipart(self, entity: _Entity) -> list[tuple[int, int]]:
        """Body ranges of the parts of a multipart entity (RFC 2046 §5.1.1).

        A delimiter is a line of "--" boundary, optionally "--" (close) and transport
        padding; the line break before it belongs to the delimiter. Preamble and epilogue are
        dropped. A multipart without boundary or parts is read as plain text instead, so a
        mislabelled body is not lost.
        """
        raw, start, end = self._raw, entity.body_start, entity.body_end
        boundary = entity.params.get("boundary", "").rstrip()
        delimiter = b"--" + boundary.encode("utf-8", "replace")
        ranges: list[tuple[int, int]] = []
        part_start: int | None = None
        closed = False
        position = start
        while boundary and not closed:
            if position == start and raw.startswith(delimiter, start, end):
                line_start = start
            else:
                # The line break ending the previous delimiter may start this one.
                found = raw.find(b"\n" + delimiter, max(start, position - 1), end)
                if found < 0:
                    break
                line_start = found + 1
            position = line_start + 1
            tail = _DELIMITER_TAIL.match(raw, line_start + len(delimiter), end)
            if tail is None:
                continue  # a longer boundary, or text that merely starts like one
            if part_start is not None:
                part_end = line_start - 1
                if part_end > part_start and raw[part_end - 1] == 0x0D:
                    part_end -= 1
                ranges.append((part_start, max(part_start, part_end)))
            closed = tail.group(1) is not None
            part_start = position = tail.end()
            if len(ranges) == MAX_MIME_PARTS:
                self._defect("too_many_parts")
                return ranges
        if part_start is not None and not closed:
            self._defect("missing_close_boundary")
            ranges.append((part_start, end))
        if not ranges:
            self._defect("multipart_without_parts" if boundary else "multipart_without_boundary")
            self._body_parts.append(_BodyPart("text/plain", "", entity.transfer_encoding, start, end))
        return ranges

    def _decoded_size(self, entity: _Entity) -> int:
        """Estimate the decoded size from the encoded bytes without decoding them."""
        raw, start, end = self._raw, entity.body_start, entity.body_end
        length = end - start
        if entity.transfer_encoding == "base64":
            payload = length - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)
            padding = raw.count(b"=", max(start, end - 4), end)
            return max(0, payload * 3 // 4 - padding)
        if entity.transfer_encoding == "quoted-printable":
            escapes = raw.count(b"=", start, end)
            return max(0, length - 2 * escapes - raw.count(b"=\r\n", start, end))
        return length

    # --- body text ---

    def _body_text(self) -> tuple[str, bool]:
        """text/plain parts joined, else text/html parts converted; bounded."""
        limit = self._max_body_chars
        for content_type in _BODY_TYPES:
            texts: list[str] = []
            truncated = False
            length = 0
            for part in self._body_parts:
                if part.content_type != content_type or length > limit:
                    continue
                text, capped = self._decode_part(part, limit - length)
                truncated |= capped
                if text:
                    texts.append(text)
                    length += len(text) + 2
            body = "\n\n".join(texts)
            if body:
                if len(body) > limit:
                    body, truncated = body[:limit].rstrip(), True
                return body, truncated
        return "", False

    def _decode_part(self, part: _BodyPart, wanted_chars: int) -> tuple[str, bool]:
        """Decode a body part, reading only as many encoded bytes as the limit can use."""
        is_html = part.content_type == "text/html"
        per_char = HTML_BYTES_PER_CHAR if is_html else TEXT_BYTES_PER_CHAR
        budget = max(_MIN_BODY_BYTES, wanted_chars * per_char)
        capped = part.end - part.start > budget
        data = self._raw[part.start : part.start + budget if capped else part.end]
        if part.transfer_encoding == "base64":
            data, clean = _lenient_b64decode(data)
            if not clean and not capped:
                self._defect("bad_base64")
        elif part.transfer_encoding == "quoted-printable":
            data = binascii.a2b_qp(data)
        elif part.transfer_encoding not in _IDENTITY_ENCODINGS:
            self._defect("unknown_transfer_encoding")
        text, defect = _decode_bytes(data, part.charset, partial=capped, strip_controls=True)
        if defect:
            self._defect(defect)
        text = _html_to_text(text) if is_html else _collapse_blank_lines(text)
        return text, capped or len(text) > wanted_chars


@functools.lru_cache(maxsize=64)
def _utc_offset(seconds: int) -> timezone:
    return timezone(timedelta(seconds=seconds))


@functools.lru_cache(maxsize=1024)
def _shared_part_head(section: bytes, default_type: str) -> tuple[_Head, tuple[str, ...], tuple[str, ...]]:
    """A part's header section read on its own: (head, defects of its fields, of its head)."""
    reader = _MessageParser(section, 0)
    fields = reader._fields(0, len(section), _PART_FIELDS)
    field_defects = tuple(reader._defects)
    reader._defects.clear()
    return reader._head(fields, default_type), field_defects, tuple(reader._defects)


@functools.lru_cache(maxsize=4096)
def _shared_address_list(value: str, name: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """An address field's value read on its own, once per distinct text (people write to the
    same correspondents): ((address, display name), ...) and the defects it has."""
    reader = _MessageParser(b"", 0)
    return tuple(reader._address_list(value, name)), tuple(reader._defects)


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _unescape_quoted(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text


def _strip_quotes(name: str) -> str:
    """'"Jane Doe"' and "'Jane Doe'" (quotes inside an encoded word, or doubled) → Jane Doe."""
    while len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def _bulk_reason(fields: dict[str, list[str]]) -> str | None:
    """Why a message looks bulk or automatic, or None for person-to-person mail. Reasons that
    only say a mailing list relayed it come last: the matcher lifts those for the fund's own
    groups (`matcher.bulk_reason`), whose mail is person-to-person.

    - Auto-Submitted with any value but "no" (RFC 3834 §5): auto-replies, notifications.
    - Precedence: bulk or junk (RFC 2076 §3.9, de facto for mass mail).
    - List-Unsubscribe-Post (RFC 8058): one-click unsubscription, which bulk senders must offer
      and mailing lists of people do not.
    - Precedence: list, List-Id (RFC 2919), List-Unsubscribe and List-Post (RFC 2369),
      Mailing-list and X-Google-Group-Id: a mailing list or a group relayed it.
    X-Auto-Response-Suppress is not used: Exchange also sets it on ordinary mail.
    """
    auto_submitted = _first(fields, "auto-submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        token = _TOKEN.fullmatch(auto_submitted)
        return f"auto-submitted:{token.group()}" if token else "auto-submitted"
    precedence = _first(fields, "precedence").strip().lower()
    if precedence in ("bulk", "junk"):
        return f"precedence:{precedence}"
    if _first(fields, "list-unsubscribe-post"):
        return "list-unsubscribe-post"
    if precedence == "list":
        return "precedence:list"
    for name in ("list-id", "list-unsubscribe", "list-post", "mailing-list", "x-google-group-id"):
        if _first(fields, name):
            return name
    return None


_LIST_ID = re.compile(r"<([^<>\s]+)>")
_MAILTO = re.compile(r"<\s*mailto:([^<>?\s]+)", re.IGNORECASE)
_URL_HOST = re.compile(r"<\s*https?://([^/<>:?\s]+)", re.IGNORECASE)
_MAILING_LIST = re.compile(r"\s*list\s+([^;\s]+)", re.IGNORECASE)


def _list_address(fields: dict[str, list[str]]) -> str | None:
    """The address people write to for the list that relayed a message: List-Post's mailto
    (RFC 2369), else Mailing-list's "list ADDRESS" (Google Groups, ezmlm)."""
    post = _MAILTO.search(_first(fields, "list-post"))
    if post:
        return normalize_address(urllib.parse.unquote(post.group(1)))
    listed = _MAILING_LIST.match(_first(fields, "mailing-list"))
    return normalize_address(listed.group(1)) if listed else None


def _list_domain(fields: dict[str, list[str]], list_address: str | None) -> str | None:
    """The domain a relaying list names itself by: List-Id's id ("ir.fund.com", RFC 2919),
    else its posting address's domain, else where List-Unsubscribe points (mailto first)."""
    list_id = _LIST_ID.search(_first(fields, "list-id"))
    candidate = list_id.group(1) if list_id else None
    if candidate is None and list_address:
        candidate = domain_of(list_address)
    if candidate is None:
        unsubscribe = _first(fields, "list-unsubscribe")
        mailto = _MAILTO.search(unsubscribe)
        address = normalize_address(urllib.parse.unquote(mailto.group(1))) if mailto else None
        host = _URL_HOST.search(unsubscribe)
        candidate = domain_of(address) if address else (host.group(1) if host else None)
    candidate = candidate.strip(".").lower() if candidate else None
    return candidate if candidate and "." in candidate and len(candidate) <= 253 else None


def _parse_date(value: str) -> datetime | None:
    """RFC 5322 §3.3 date-time (with §4.3 obsolete forms) or ISO 8601, as aware UTC.

    A missing, unknown or "-0000" zone means local time unknown: read as UTC. Out-of-range
    values (Feb 30, hour 25, year 1601) give None, so the caller falls back to Gmail's
    internalDate.
    """
    try:
        fields = _date_fields(value)
        if fields is None:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
        else:
            year, month, day, hour, minute, second, offset = fields
            parsed = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=_utc_offset(offset))
        sent_at = parsed.astimezone(UTC)
    except (ValueError, OverflowError, TypeError):
        return None
    return sent_at if _EARLIEST_YEAR <= sent_at.year <= _LATEST_YEAR else None


def _date_fields(value: str) -> tuple[int, int, int, int, int, int, int] | None:
    """(year, month, day, hour, minute, second, UTC offset in seconds), or None."""
    common = _COMMON_DATE.match(value)
    if common:  # the usual shape, without `parsedate_tz`'s general tokenizing
        day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = common.groups()
        offset = (int(zone_hours) * 60 + int(zone_minutes)) * (-60 if sign == "-" else 60)
        return (
            int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute),
            int(second or 0), offset,
        )  # fmt: skip
    try:
        parts = parsedate_tz(value)  # unknown zone names come back as offset 0
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second, *_, given_offset = parts
    offset = given_offset or 0
    zone = _ZONE_AFTER_TIME.search(value)
    if zone and zone.group(1).upper() in _ZONE_OFFSETS_MINUTES:
        offset = 60 * _ZONE_OFFSETS_MINUTES[zone.group(1).upper()]
    return year, month, day, hour, minute, second, offset
