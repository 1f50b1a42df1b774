"""Google's batch wire format, as googleapiclient's BatchHttpRequest writes and reads it.

Request: multipart/mixed; each part is `Content-Type: application/http` with a
`Content-ID: <base + n>` and an embedded HTTP request (request line, headers, body).
Response: multipart/mixed parts with `Content-ID: <response-base + n>`, each holding
`HTTP/1.1 <code> <reason>`, headers, a blank line and the body. The client splits the
embedded response at the first CRLF CRLF, so CRLF line endings are mandatory here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from http import HTTPStatus

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]+")


@dataclass
class InnerRequest:
    content_id: str
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class BatchFormatError(ValueError):
    pass


def _split_head(data: bytes) -> tuple[dict[str, str], bytes]:
    """Header lines (unfolded, lower-case names) and whatever follows the first blank line."""
    match = _BLANK_LINE.search(data)
    head, rest = (data[: match.start()], data[match.end() :]) if match else (data, b"")
    headers = {}
    for line in _FOLD.sub(b" ", head).splitlines():
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parse_part(part: bytes) -> InnerRequest:
    part_headers, payload = _split_head(part)
    request_line, _, rest = payload.lstrip(b"\r\n").partition(b"\n")
    words = request_line.decode("latin-1").split()
    if len(words) < 2:
        raise BatchFormatError(f"bad inner request line: {request_line[:80]!r}")
    headers, body = _split_head(rest)
    length = headers.get("content-length", "")
    body = body[: int(length)] if length.isdigit() else body.rstrip(b"\r\n")
    return InnerRequest(part_headers.get("content-id", ""), words[0].upper(), words[1], headers, body)


def parse_batch(content_type: str, body: bytes) -> list[InnerRequest]:
    """Split a batch body into its inner requests, in order.

    A plain boundary split: the stdlib email parser compiles a regex per boundary and
    costs milliseconds per batch, which would make the simulator the benchmark's bottleneck.
    """
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/") or not match:
        raise BatchFormatError("batch requests must be multipart/mixed with a boundary")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    chunks = body.split(delimiter)[1:]
    requests: list[InnerRequest] = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            return requests
        # The line break before a delimiter belongs to the delimiter (RFC 2046).
        requests.append(_parse_part(chunk.removesuffix(b"\n").removesuffix(b"\r").lstrip(b"\r\n")))
    raise BatchFormatError("batch body has no closing boundary")


def response_content_id(request_content_id: str) -> str:
    """`<base + n>` becomes `<response-base + n>`, the form the client maps back."""
    inner = request_content_id.strip()
    inner = inner[1:-1] if inner.startswith("<") and inner.endswith(">") else inner
    return f"<response-{inner}>"


def render_batch(parts: list[tuple[str, int, bytes]]) -> tuple[str, bytes]:
    """(content-type, body) for [(request Content-ID, status, JSON body), ...]."""
    boundary = "batch_" + secrets.token_hex(12)
    chunks = []
    for content_id, status, body in parts:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        chunks.append(
            (
                f"--{boundary}\r\n"
                "Content-Type: application/http\r\n"
                f"Content-ID: {response_content_id(content_id)}\r\n\r\n"
                f"HTTP/1.1 {status} {reason}\r\n"
                "Content-Type: application/json; charset=UTF-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)
