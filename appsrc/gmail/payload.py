"""Gmail's `format=full` answer turned back into RFC 822 bytes the parser reads.

Large messages are fetched in `format=full` because Gmail then leaves attachment bodies out
(each is an `attachmentId` and a size): a 25 MB data-room PDF costs a few kilobytes instead of
~35 MB of base64 that the client library copies several times over. Capture only keeps
attachment metadata, so nothing is lost: headers are Gmail's own, text bodies come back decoded
(their charset stays in their Content-Type), and each left-out attachment becomes an empty part
whose real size is returned beside the bytes.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 32  # Gmail nests far less; a deeper tree is cut rather than recursed into


@dataclass
class Rendered:
    raw: bytes
    attachments: list[tuple[str, int]] = field(default_factory=list)  # (filename, size), in order


def raw_from_full_payload(payload: dict) -> Rendered:
    """The message of a `format=full` `payload`, and its left-out attachments' sizes."""
    rendered = Rendered(b"")
    # Unguessable, so no decoded body can end a multipart early or invent a part.
    prefix = secrets.token_hex(12)
    boundaries = (f"=_{prefix}_{n}" for n in itertools.count())
    rendered.raw = b"".join(_part(payload if isinstance(payload, dict) else {}, rendered, boundaries, 0))
    return rendered


def _part(part: dict, rendered: Rendered, boundaries, depth: int) -> list[bytes]:
    mime_type = str(part.get("mimeType") or "text/plain").lower()
    children = part.get("parts") if isinstance(part.get("parts"), list) else None
    as_multipart = children is not None and mime_type.startswith("multipart/") and depth < MAX_DEPTH
    # Transfer encodings no longer apply (bodies come decoded) and a multipart gets our boundary;
    # anything else (a message/rfc822 Gmail expanded, say) keeps its own Content-Type.
    dropped = {"content-transfer-encoding"} | ({"content-type"} if as_multipart else set())
    lines = [
        _header(h)
        for h in (part.get("headers") or ())
        if isinstance(h, dict) and str(h.get("name", "")).lower() not in dropped
    ]
    lines = [line for line in lines if line]
    if as_multipart:
        boundary = next(boundaries)
        lines.append(f'Content-Type: {_token(mime_type)}; boundary="{boundary}"'.encode())
        out = [b"\r\n".join(lines), b"\r\n\r\n"]
        for child in children or ():
            if isinstance(child, dict):
                out += [f"--{boundary}\r\n".encode(), *_part(child, rendered, boundaries, depth + 1), b"\r\n"]
        out.append(f"--{boundary}--\r\n".encode())
        return out
    lines.append(b"Content-Transfer-Encoding: binary")
    body: dict[str, Any] = part["body"] if isinstance(part.get("body"), dict) else {}
    data = _decode(body.get("data"))
    if data is None:
        data = b""
        if body.get("attachmentId"):
            size = body.get("size")
            rendered.attachments.append(
                (str(part.get("filename") or ""), size if isinstance(size, int) and size >= 0 else 0)
            )
    return [b"\r\n".join(lines), b"\r\n\r\n", data]


def _header(header: dict) -> bytes:
    name = "".join(c for c in str(header.get("name", "")) if 33 <= ord(c) <= 126 and c != ":")
    if not name:
        return b""
    value = " ".join(str(header.get("value", "")).split())  # no CR or LF can reach the message
    return f"{name}: {value}".encode("utf-8", "surrogatepass")


def _token(mime_type: str) -> str:
    return "".join(c for c in mime_type if c.isalnum() or c in "/-+.") or "multipart/mixed"


def _decode(data: object) -> bytes | None:
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None
