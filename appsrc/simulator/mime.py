"""RFC 822 handling the way Gmail presents it: header scans, snippets and payload trees.

Insertion must stay cheap (a 100,000-message mailbox is loaded in one go), so threading
only needs `scan_headers`, a byte-level scan of the header block. Snippets take a fast
path for well-formed mail; the stdlib `email` parser (compat32, which never raises on
garbage) handles everything else and `format=full`.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
import html
import re
from typing import Any

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ANGLE_ID = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_STYLE_OR_SCRIPT = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))')
_PART_HEADERS = frozenset({"content-type", "content-transfer-encoding", "content-disposition"})

SNIPPET_CHARS = 200


def b64url(data: bytes) -> str:
    """Gmail's JSON carries bytes as base64url *with* padding."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Accept padded or unpadded base64url, as Gmail does for `raw`."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def header_block(raw: bytes) -> bytes:
    """The bytes before the first empty line (the whole message when it has no body)."""
    end = _HEADER_END.search(raw)
    return raw[: end.start()] if end else raw


def scan_headers(raw: bytes, names: frozenset[str]) -> dict[str, str]:
    """First value of each wanted header (lower-case names), unfolded, without parsing MIME."""
    text = _FOLD.sub("", header_block(raw).decode("latin-1"))
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        key = name.strip().lower()
        if sep and key in names and key not in found:
            found[key] = value.strip()
    return found


def message_ids(value: str | None) -> list[str]:
    """The `<...>` ids in a Message-ID, In-Reply-To or References value."""
    return _ANGLE_ID.findall(value or "")


def decode_rfc2047(value: str) -> str:
    """Best-effort decoding of encoded words; undecodable parts are kept as they are."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, UnicodeError, ValueError, email.errors.MessageError):
        return value  # e.g. CharsetError for a charset name with non-ASCII bytes


def thread_subject(value: str | None) -> str:
    """Subject as Gmail compares it for threading: decoded, without Re:/Fwd: prefixes."""
    subject = _REPLY_PREFIX.sub("", decode_rfc2047(value or ""))
    return _WHITESPACE.sub(" ", subject).strip().casefold()


def parse(raw: bytes) -> email.message.Message:
    """compat32 never raises on broken input, which matters for garbage MIME."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def clean_header_value(value: str) -> str:
    """Unfold and turn raw 8-bit bytes (kept as surrogates by the parser) back into text."""
    value = _FOLD.sub("", str(value))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value.replace("\x00", "")


def header_list(part: email.message.Message, only: set[str] | None = None) -> list[dict]:
    """Headers in message order as Gmail lists them: [{name, value}]."""
    return [
        {"name": name, "value": clean_header_value(value)}
        for name, value in part.items()
        if only is None or name.lower() in only
    ]


def _decoded_payload(part: email.message.Message) -> bytes:
    """A leaf's body with its transfer encoding undone (b"" for none)."""
    data = part.get_payload(decode=True)  # bytes, or None for a multipart
    return data if isinstance(data, bytes) else b""


def _children(part: email.message.Message) -> list[email.message.Message]:
    """A multipart's sub-parts (the parser keeps them as a list of messages)."""
    if not part.is_multipart():
        return []
    return [child for child in part.get_payload() if isinstance(child, email.message.Message)]


def decoded_text(part: email.message.Message) -> str:
    """A leaf's text, tolerating missing and mislabelled charsets."""
    data = _decoded_payload(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except (LookupError, ValueError):  # an unknown charset, or a name no codec lookup accepts ("a\0b")
        return data.decode("utf-8", "replace")


class _NotSimple(Exception):
    """The message needs the full parser; the fast path never guesses."""


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    kind = value.split(";", 1)[0].strip().lower() or "text/plain"
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(value)}
    if any(name.endswith("*") for name in params):
        raise _NotSimple
    return kind, params


def _decode_body(body: bytes, encoding: str, charset: str) -> str:
    encoding = encoding.strip().lower()
    if encoding == "quoted-printable":
        body = binascii.a2b_qp(body)
    elif encoding == "base64":
        try:
            body = binascii.a2b_base64(body)
        except binascii.Error:
            raise _NotSimple from None
    elif encoding not in ("", "7bit", "8bit", "binary"):
        raise _NotSimple
    try:
        return body.decode(charset or "us-ascii")
    except (LookupError, ValueError):  # UnicodeDecodeError, and charset names with a NUL in them
        raise _NotSimple from None


def _simple_texts(raw: bytes, depth: int = 0) -> tuple[str | None, str | None]:
    """(first text/plain, first text/html) of a well-formed message, without the email parser.

    The stdlib parser costs more than all the simulator's other per-call work; the common
    shapes (text, alternative, mixed) are handled here and anything else raises.
    """
    if depth > 3:
        raise _NotSimple
    headers = scan_headers(raw, _PART_HEADERS)
    end = _HEADER_END.search(raw)
    body = raw[end.end() :] if end else b""
    kind, params = _content_type(headers.get("content-type", "text/plain"))
    _, disposition = _content_type(headers.get("content-disposition", ""))
    if "filename" in disposition or "name" in params:
        return None, None
    if kind in ("text/plain", "text/html"):
        text = _decode_body(body, headers.get("content-transfer-encoding", ""), params.get("charset", ""))
        return (text, None) if kind == "text/plain" else (None, text)
    if not kind.startswith("multipart/") or not params.get("boundary"):
        return None, None
    delimiter = b"--" + params["boundary"].encode("latin-1")
    chunks = (b"\n" + body).split(b"\n" + delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _NotSimple
    plain = html_text = None
    for chunk in chunks[1:-1]:
        rest_of_delimiter_line, _, part = chunk.partition(b"\n")
        if rest_of_delimiter_line.strip():  # e.g. a nested boundary that extends this one
            raise _NotSimple
        part_plain, part_html = _simple_texts(part.removesuffix(b"\r"), depth + 1)
        plain = plain if plain is not None else part_plain
        html_text = html_text if html_text is not None else part_html
    return plain, html_text


def _texts(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return _simple_texts(raw)
    except _NotSimple:
        pass
    plain = html_text = None
    for part in parse(raw).walk():
        if part.is_multipart() or part.get_filename():
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = decoded_text(part)
        elif kind == "text/html" and html_text is None:
            html_text = decoded_text(part)
    return plain, html_text


def snippet(raw: bytes) -> str:
    """Gmail's snippet: ~200 chars of the text body, whitespace collapsed, HTML-escaped.

    Gmail really escapes snippets (`It&#39;s`), a detail clients must undo.
    """
    plain, html_text = _texts(raw)
    if plain is not None:
        text = plain
    elif html_text is not None:
        text = html.unescape(_TAG.sub(" ", _STYLE_OR_SCRIPT.sub(" ", html_text)))
    else:
        text = ""
    text = _WHITESPACE.sub(" ", text.replace("\x00", "")).strip()[:SNIPPET_CHARS]
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def attachment_id(gmail_id: str, part_id: str) -> str:
    """Opaque like Gmail's, but decodable so attachments.get needs no extra state."""
    return "ANGjdJ" + b64url(f"{gmail_id}/{part_id}".encode()).rstrip("=")


def parse_attachment_id(value: str) -> tuple[str, str] | None:
    if not value.startswith("ANGjdJ"):
        return None
    try:
        gmail_id, _, part_id = b64url_decode(value[6:]).decode().partition("/")
    except (ValueError, UnicodeDecodeError):
        return None
    return gmail_id, part_id


def _leaf_bytes(part: email.message.Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if isinstance(inner, email.message.Message) else b""
    return _decoded_payload(part)


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename() or ""
    except (LookupError, ValueError, UnicodeError):
        return ""
    return decode_rfc2047(clean_header_value(name))


def _is_leaf(part: email.message.Message) -> bool:
    return not part.is_multipart() or part.get_content_type() == "message/rfc822"


def _part_tree(part: email.message.Message, part_id: str, gmail_id: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": _filename(part),
        "headers": header_list(part),
    }
    if not _is_leaf(part):
        node["body"] = {"size": 0}
        node["parts"] = [
            _part_tree(child, f"{part_id}.{index}" if part_id else str(index), gmail_id)
            for index, child in enumerate(_children(part))
        ]
        return node
    data = _leaf_bytes(part)
    if node["filename"]:
        node["body"] = {"attachmentId": attachment_id(gmail_id, part_id), "size": len(data)}
    elif data:
        node["body"] = {"size": len(data), "data": b64url(data)}
    else:
        node["body"] = {"size": 0}
    return node


def payload_tree(raw: bytes, gmail_id: str) -> dict:
    """`format=full`: the parsed MIME tree; attachments are referenced by attachmentId."""
    return _part_tree(parse(raw), "", gmail_id)


def payload_metadata(raw: bytes, only: set[str] | None) -> dict:
    """`format=metadata`: top-level headers only, narrowed by `metadataHeaders`."""
    msg = parse(header_block(raw) + b"\r\n\r\n")
    return {
        "partId": "",
        "mimeType": msg.get_content_type(),
        "filename": "",
        "headers": header_list(msg, only),
        "body": {"size": 0},
    }


def find_part(raw: bytes, part_id: str) -> email.message.Message | None:
    """The part addressed by a Gmail partId ("", "1", "0.2", ...)."""
    part = parse(raw)
    for index in filter(None, part_id.split(".")):
        children = _children(part)
        if not index.isdigit() or int(index) >= len(children):
            return None
        part = children[int(index)]
    return part


def attachment_bytes(raw: bytes, part_id: str) -> bytes | None:
    part = find_part(raw, part_id)
    return None if part is None or not _is_leaf(part) else _leaf_bytes(part)


def envelope_recipients(raw: bytes) -> list[str]:
    """To, Cc and Bcc addresses, the recipients Gmail delivers a sent message to."""
    found = scan_headers(raw, frozenset({"to", "cc", "bcc"}))
    pairs = email.utils.getaddresses([found.get(name, "") for name in ("to", "cc", "bcc")])
    return [address for _, address in pairs if "@" in address]
