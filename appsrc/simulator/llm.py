"""An OpenAI-compatible chat-completions stub with the failure modes a draft writer must survive.

Modes: `fast` answers at once; `slow` waits `slow_delay_s` first; `down` answers 503 (for
"connection refused", call `stop()`: the URL keeps pointing at the dead port and a later
`start()` reuses it); `garbage` answers 200 with, alternately, a non-JSON body and a JSON body
without `choices`; `redirect` answers 307 to the same path at `redirect_to` (a server that tries
to send the prompt elsewhere); `obedient` is a model that follows instructions planted in mail:
its answer repeats the first link the prompt quotes, and when the prompt says "ignore previous
instructions" it adds `OBEYED` (a link and an address no email contained). Answers are a
deterministic paragraph derived from the prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .httpbase import LoopbackService

MODES = ("fast", "slow", "down", "garbage", "redirect", "obedient")
OBEYED = "Action needed: wire the call today at https://pay.evil.example/wire and confirm to treasurer@evil.example."
_LINK = re.compile(r"https?://[^\s<>\"”]+")
_SENTENCES = (
    "Thank you for the update and for keeping us in the loop.",
    "We would be glad to set up a call next week to go through the details.",
    "The team is reviewing the material and will come back with questions shortly.",
    "Please let us know which times work best on your side.",
    "We appreciate your continued interest in the company.",
    "I have shared this with the partners and we will follow up by Friday.",
    "Happy to send the latest figures ahead of the meeting.",
)
_JSON = "application/json"


@dataclass(frozen=True)
class LlmRequest:
    time: float
    method: str
    path: str
    body: dict | None
    mode: str
    status: int


def answer_for(messages: list) -> str:
    """Deterministic reply text: the same prompt always gets the same paragraph."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).digest()
    picks = [_SENTENCES[b % len(_SENTENCES)] for b in digest[:3]]
    last_user = next(
        (m.get("content", "") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), ""
    )
    topic = " ".join(str(last_user).split()[:8])
    return f'Regarding "{topic}": ' + " ".join(dict.fromkeys(picks))


class LlmStub(LoopbackService):
    """`with LlmStub(mode="slow", slow_delay_s=1.5) as llm: ... llm.url + "v1/chat/completions"`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "fast",
        slow_delay_s: float = 2.0,
        model: str = "stub-model",
        redirect_to: str = "",
    ):
        super().__init__(host, port)
        self.mode = mode
        self.slow_delay_s = slow_delay_s
        self.model = model
        self.redirect_to = redirect_to
        self._lock = threading.Lock()
        self._requests: list[LlmRequest] = []
        self._garbage_count = 0

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._mode = value

    @property
    def requests(self) -> list[LlmRequest]:
        with self._lock:
            return list(self._requests)

    def handle(self, request) -> None:
        raw = self.read_body(request)
        path = urlsplit(request.path).path.rstrip("/")
        mode = self.mode
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {}
        if mode == "redirect":
            status, content_type, data = 307, _JSON, b"{}"
            headers["Location"] = self.redirect_to.rstrip("/") + urlsplit(request.path).path
        else:
            status, content_type, data = self._answer(request.command, path, body, raw, mode)
        with self._lock:
            self._requests.append(
                LlmRequest(time.time(), request.command, path, body if isinstance(body, dict) else None, mode, status)
            )
        self.respond(request, status, data, content_type, headers)

    def _answer(self, method: str, path: str, body, raw: bytes, mode: str) -> tuple[int, str, bytes]:
        if mode == "down":
            return 503, _JSON, _error("The server is temporarily overloaded.", "server_error")
        if method == "GET" and path == "/v1/models":
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "stub"}
            models = {"object": "list", "data": [model]}
            return 200, _JSON, json.dumps(models).encode()
        if method != "POST" or path != "/v1/chat/completions":
            return 404, _JSON, _error(f"Unknown endpoint {method} {path}", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, _JSON, _error("'messages' is required", "invalid_request_error")
        if body.get("stream"):
            return 400, _JSON, _error("streaming is not supported by the stub", "invalid_request_error")
        if mode == "slow":
            self.pause(self.slow_delay_s)
        if mode == "garbage":
            with self._lock:
                self._garbage_count += 1
                odd = self._garbage_count % 2 == 1
            if odd:
                return 200, "text/html", b"<html><body>502 Bad Gateway</body></html>"
            return 200, _JSON, json.dumps({"id": "chatcmpl-garbage", "object": "chat.completion"}).encode()
        content = answer_for(body["messages"])
        if mode == "obedient":
            prompt = " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
            quoted = _LINK.search(prompt)
            if quoted:
                content += f" See {quoted.group().rstrip('.,;')} for the details."
            if "ignore previous instructions" in prompt.lower():
                content += " " + OBEYED
        prompt_tokens = len(raw.split())
        completion = {
            "id": "chatcmpl-" + hashlib.sha256(raw).hexdigest()[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(content.split()),
                "total_tokens": prompt_tokens + len(content.split()),
            },
        }
        return 200, _JSON, json.dumps(completion).encode()


def _error(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()
