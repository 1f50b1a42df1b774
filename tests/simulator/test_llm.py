"""The OpenAI-compatible LLM stub and its failure modes."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from appsrc.simulator import LlmStub

PROMPT = {
    "model": "any",
    "messages": [
        {"role": "system", "content": "You write replies."},
        {"role": "user", "content": "Draft a reply to Jane about the term sheet"},
    ],
}


@pytest.fixture
def llm():
    with LlmStub() as stub:
        yield stub


def complete(stub, body=PROMPT, timeout=5):
    return requests.post(stub.url + "v1/chat/completions", json=body, timeout=timeout)


def test_fast_answers_deterministically(llm):
    first, second = complete(llm).json(), complete(llm).json()
    content = first["choices"][0]["message"]["content"]
    assert content == second["choices"][0]["message"]["content"]
    assert content.startswith('Regarding "Draft a reply to Jane about the term":')
    assert first["choices"][0]["finish_reason"] == "stop"
    other = complete(llm, {"messages": [{"role": "user", "content": "Something else entirely"}]}).json()
    assert other["choices"][0]["message"]["content"] != content
    assert [r.status for r in llm.requests] == [200, 200, 200]
    assert llm.requests[0].body == PROMPT


def test_models_endpoint(llm):
    models = requests.get(llm.url + "v1/models", timeout=5).json()
    assert models["data"][0]["id"] == "stub-model"


def test_slow_requests_are_served_concurrently(llm):
    llm.mode, llm.slow_delay_s = "slow", 0.5
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: complete(llm), range(4)))
    elapsed = time.monotonic() - started
    assert all(answer.status_code == 200 for answer in answers)
    # Real time is the point: four 0.5 s answers served one by one take 2 s; together, about
    # 0.5 s (the bound leaves a loaded machine room).
    assert 0.5 <= elapsed < 1.5


def test_slow_mode_trips_client_timeouts(llm):
    llm.mode, llm.slow_delay_s = "slow", 1.0
    with pytest.raises(requests.Timeout):
        complete(llm, timeout=0.2)


def test_down_mode_answers_503(llm):
    llm.mode = "down"
    answer = complete(llm)
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "server_error"


def test_stopped_stub_refuses_connections_and_restarts_on_the_same_port(llm):
    url = llm.url
    llm.stop()
    with pytest.raises(requests.ConnectionError):
        complete(llm)
    llm.start()
    assert llm.url == url
    assert complete(llm).status_code == 200


def test_garbage_alternates_non_json_and_missing_choices(llm):
    llm.mode = "garbage"
    first, second = complete(llm), complete(llm)
    assert first.status_code == second.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.text)
    assert "choices" not in second.json()


def test_bad_requests_are_rejected(llm):
    assert complete(llm, {"model": "x"}).status_code == 400
    assert complete(llm, dict(PROMPT, stream=True)).status_code == 400
    with pytest.raises(ValueError):
        llm.mode = "sleepy"
