"""Google's batch wire format, as googleapiclient's BatchHttpRequest writes and reads it.

Request: multipart/mixed; each part is `Content-Type: application/http` with a
`Content-ID: <base + n>` and an embedded HTTP request (request line, headers, body).
Response: multipart/mixed parts with `Content-ID: <response-base + n>`, each holding
`HTTP/1.1 <code> <reason>`, headers, a blank line and the body. The client splits the
embedded response at the first CRLF CRLF, so CRLF line endings are mandatory here.
"""

from __future__ import annotations

import email.parser
import email.policy
import secrets
from dataclasses import dataclass
from http import HTTPStatus


@dataclass
class InnerRequest:
    content_id: str
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class BatchFormatError(ValueError):
    pass


def _unfold(value: str) -> str:
    return "".join(value.splitlines()).strip()


def _parse_part(content_id: str, payload: str) -> InnerRequest:
    request_line, _, rest = payload.lstrip("\r\n").partition("\n")
    words = request_line.strip().split()
    if len(words) < 2:
        raise BatchFormatError(f"bad inner request line: {request_line!r}")
    inner = email.parser.Parser(policy=email.policy.compat32).parsestr(rest)
    headers = {name.lower(): _unfold(value) for name, value in inner.items()}
    body = inner.get_payload()
    body_bytes = body.encode("utf-8") if isinstance(body, str) else b""
    return InnerRequest(content_id, words[0].upper(), words[1], headers, body_bytes)


def parse_batch(content_type: str, body: bytes) -> list[InnerRequest]:
    """Split a batch body into its inner requests, in order."""
    if not content_type.lower().startswith("multipart/"):
        raise BatchFormatError("batch requests must be multipart/mixed")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BatchFormatError("batch body is not multipart")
    requests = []
    for part in message.get_payload():
        payload = part.get_payload()
        if not isinstance(payload, str):
            raise BatchFormatError("batch part is not application/http")
        requests.append(_parse_part(_unfold(part.get("Content-ID", "")), payload))
    return requests


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
