"""The local-LLM client against the OpenAI-compatible stub server: the reusable `chat_completion`,
its failure modes, the local-network rule, and bounded concurrency with per-call fallbacks."""

from __future__ import annotations

import time

import pytest

from appsrc.llm import LlmConfig, LlmError, chat_completion, complete_concurrently, make_chat_fn

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Summarise the week"}]


def config(stub, timeout_s=5.0) -> LlmConfig:
    return LlmConfig(stub.url.rstrip("/"), "spark-test", timeout_s)


def test_chat_completion_posts_to_v1_chat_completions_and_returns_the_text(llm):
    text = chat_completion(config(llm), MESSAGES, max_tokens=123)
    assert text.startswith('Regarding "Summarise the week"')
    [request] = llm.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1/chat/completions", 200)
    assert request.body["model"] == "spark-test" and request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 123 and request.body["stream"] is False


def test_a_base_url_ending_in_v1_is_not_doubled(llm):
    assert LlmConfig(llm.url + "v1").endpoint == llm.url + "v1/chat/completions"
    assert chat_completion(LlmConfig(llm.url + "v1/", "m", 5), MESSAGES)
    assert [r.path for r in llm.requests] == ["/v1/chat/completions"]


@pytest.mark.parametrize("mode, words", [("down", "HTTP 503"), ("garbage", "not a chat completion")])
def test_server_errors_and_garbage_raise(llm, mode, words):
    llm.mode = mode
    for _ in range(2):  # garbage alternates between a non-JSON body and JSON without choices
        with pytest.raises(LlmError, match=words):
            chat_completion(config(llm), MESSAGES)


def test_a_slow_server_times_out(llm):
    llm.mode = "slow"  # the stub answers, correctly, after 1 s: only the timeout raises this
    with pytest.raises(LlmError, match="did not answer within 0.3 s"):
        chat_completion(config(llm, timeout_s=0.3), MESSAGES)


def test_connection_refused(llm):
    llm.stop()
    with pytest.raises(LlmError, match="unreachable"):
        chat_completion(config(llm), MESSAGES)


@pytest.mark.parametrize("url", ["https://8.8.8.8/", "http://[2001:4860:4860::8888]:8000"])
def test_a_public_endpoint_is_refused_before_any_request(url):
    """The digest is not anonymized: a cloud endpoint is refused (no connection is attempted)."""
    with pytest.raises(LlmError, match="public address"):
        chat_completion(LlmConfig(url, "m", 5), MESSAGES)


def test_proxies_from_the_environment_are_ignored(llm, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a dead proxy: used, it would fail
    monkeypatch.setenv("NO_PROXY", "")
    assert chat_completion(config(llm), MESSAGES)


def test_make_chat_fn_is_none_without_a_url():
    assert make_chat_fn(None) is None and make_chat_fn(LlmConfig("")) is None


def test_concurrent_calls_finish_in_about_one_call_time(llm):
    llm.mode = "slow"  # 1 s per answer
    chat = make_chat_fn(config(llm))
    # Fifty at once, as for a 50-person team (the stub listens with a realistic backlog).
    jobs = {n: [{"role": "user", "content": f"person {n}"}] for n in range(50)}
    started = time.monotonic()
    results = complete_concurrently(jobs, chat, lambda n: f"fallback {n}", max_workers=64, deadline_s=5)
    elapsed = time.monotonic() - started
    # Real time is the point (the calls overlap). Sequential they take 50 s; a generous bound
    # of 10 s leaves a loaded 2-core machine room and still proves they ran together.
    assert elapsed < 10, elapsed
    assert all(r.source == "llm" for r in results.values()) and len(llm.requests) == 50


def test_each_call_has_its_own_fallback_and_a_slow_one_never_delays_the_rest():
    def chat(messages):
        who = messages[0]["content"]
        if who == "slow":
            time.sleep(3)
        if who == "broken":
            raise LlmError("boom")
        if who == "junk":
            return "  "
        return f"A paragraph about {who} that is long enough."

    jobs = {w: [{"role": "user", "content": w}] for w in ("ok", "slow", "broken", "junk")}
    started = time.monotonic()
    results = complete_concurrently(
        jobs, chat, lambda w: f"fallback for {w}", deadline_s=0.5, accept=lambda t: t.strip() or None
    )
    # The slow call takes 3 s; returning well before it (deadline 0.5 s, generous bound 2.5 s
    # for a loaded machine) proves nobody waited for it.
    assert time.monotonic() - started < 2.5
    assert {w: r.source for w, r in results.items()} == {
        "ok": "llm",
        "slow": "fallback",
        "broken": "fallback",
        "junk": "fallback",
    }
    assert results["slow"].text == "fallback for slow" and "deadline" in results["slow"].error
    assert results["broken"].error == "boom"


def test_no_chat_fn_means_every_fallback_and_no_threads():
    results = complete_concurrently({1: [], 2: []}, None, lambda k: f"f{k}")
    assert {k: (r.text, r.source) for k, r in results.items()} == {1: ("f1", "fallback"), 2: ("f2", "fallback")}


def test_a_redirect_is_an_error_and_the_prompt_never_reaches_its_target(llm):
    """A server that answers 307 elsewhere gets an error, not a second request with the prompt."""
    from appsrc.simulator import LlmStub

    with LlmStub() as elsewhere:
        llm.mode, llm.redirect_to = "redirect", elsewhere.url
        with pytest.raises(LlmError, match="HTTP 307"):
            chat_completion(config(llm), MESSAGES)
        assert [r.status for r in llm.requests] == [307]
        assert elsewhere.requests == []


def test_the_request_goes_to_the_address_that_was_checked(llm, monkeypatch):
    """DNS rebinding: the name's first answer passes the local-network check, a second lookup
    would point elsewhere. The prompt goes to the checked address, never to the second answer."""
    import socket

    from appsrc.simulator import LlmStub

    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2"])

    def rebinding(host, port, *args, **kwargs):
        if host != "llm.fund.internal":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.2")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    with LlmStub(host="127.0.0.2", port=int(llm.url.rsplit(":", 1)[1].strip("/"))) as other:
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        url = llm.url.replace("127.0.0.1", "llm.fund.internal").rstrip("/")
        assert chat_completion(LlmConfig(url, "m", 5), MESSAGES).startswith("Regarding")
    assert [r.path for r in llm.requests] == ["/v1/chat/completions"]
    assert other.requests == []
