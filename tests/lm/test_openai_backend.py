"""The openai backend against a real HTTP server on 127.0.0.1 started by the test."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arc_lm import GenerationRequest, LMConfig, OpenAISettings, ScoreRequest, load_backend
from arc_lm.api import FinishReason
from arc_lm.openai_backend import OpenAIBackend, OpenAIError


class FakeServer:
    """A tiny OpenAI-compatible server: scripted failures first, then deterministic answers."""

    def __init__(self):
        self.requests: list[tuple[str, dict, dict]] = []
        self.failures: list[tuple[int, dict]] = []  # (status, headers) served before any success
        self.delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append((self.path, dict(self.headers), body))
                    failure = server.failures.pop(0) if server.failures else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    if failure:
                        status, headers = failure
                        reply = (status, {"error": {"message": f"scripted {status}"}}, headers)
                    elif body.get("max_tokens") == 999:
                        reply = (400, {"error": {"message": "max_tokens too large"}}, None)
                    else:
                        reply = (200, server.answer(self.path, body), None)
                finally:
                    # Done before the answer is written: once the client has it, its next request may
                    # arrive before this handler would get back here (under load: a false 4 > 3).
                    with server.lock:
                        server.in_flight -= 1
                return self._send(*reply)

            def _send(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, path: str, body: dict) -> dict:
        if path == "/v1/completions" and body.get("echo"):
            text = body["prompt"]  # one "token" per character, log-prob -0.5 each (first: None)
            return {"choices": [{"index": 0, "text": text + "!", "logprobs": {
                "tokens": list(text) + ["!"], "text_offset": list(range(len(text) + 1)),
                "token_logprobs": [None] + [-0.5] * len(text)}}]}
        source = body.get("prompt") or body["messages"][-1]["content"]
        choices = []
        for i in range(body.get("n", 1)):
            text = f"{source[::-1]}#{i} STOP tail"
            if body.get("stop"):  # like real servers: cut before the first stop string
                cut = min((text.find(s) for s in body["stop"] if s in text), default=len(text))
                text = text[:cut]
            entry = {"index": i, "finish_reason": "stop" if body.get("stop") else "length"}
            lps = [-0.25] * 3
            if path == "/v1/chat/completions":
                entry["message"] = {"role": "assistant", "content": text}
                entry["logprobs"] = {"content": [{"token": "t", "logprob": v} for v in lps]} if body.get("logprobs") else None
            else:
                entry["text"] = text
                entry["logprobs"] = {"token_logprobs": lps} if body.get("logprobs") is not None else None
            choices.append(entry)
        return {"choices": choices[::-1], "usage": {"prompt_tokens": len(source), "completion_tokens": 3 * len(choices)}}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def backend_for(server, **kw) -> OpenAIBackend:
    settings = dict(base_url=server.url, model="served-model", api_key_env="ARC_TEST_KEY", backoff_s=0.01)
    settings.update(kw)
    return load_backend(LMConfig(backend="openai", openai=OpenAISettings(**settings)))


def test_completion_and_chat_requests(server, monkeypatch):
    monkeypatch.setenv("ARC_TEST_KEY", "sekret")
    b = backend_for(server)
    reqs = [
        GenerationRequest(prompt="abc", n=2, temperature=0.5, top_p=0.9, max_new_tokens=7, seed=3, stop=(" STOP",)),
        GenerationRequest(messages=[{"role": "user", "content": "xyz"}], logprobs=True),
    ]
    comp, chat = b.generate(reqs)
    assert comp.texts == ("cba#0", "cba#1")  # ordered by choice index, stop string cut
    assert comp.finish_reasons == (FinishReason.STOP, FinishReason.STOP)
    assert comp.prompt_tokens == 3 and comp.completion_tokens == (3, 3)
    assert chat.texts == ("zyx#0 STOP tail",) and chat.finish_reasons == (FinishReason.LENGTH,)
    assert chat.token_logprobs == ((-0.25, -0.25, -0.25),)
    by_path = {path: (headers, body) for path, headers, body in server.requests}
    headers, body = by_path["/v1/completions"]
    assert headers["Authorization"] == "Bearer sekret"
    assert body == {"model": "served-model", "n": 2, "temperature": 0.5, "top_p": 0.9, "max_tokens": 7,
                    "stop": [" STOP"], "seed": 3, "prompt": "abc"}
    _, body = by_path["/v1/chat/completions"]
    assert body["messages"] == [{"role": "user", "content": "xyz"}] and body["logprobs"] is True


def test_adapter_is_the_served_model_name_and_no_key_means_no_header(server, monkeypatch):
    monkeypatch.delenv("ARC_TEST_KEY", raising=False)
    b = backend_for(server)
    b.generate([GenerationRequest(prompt="a", adapter="task-lora", min_new_tokens=2, max_new_tokens=4)])
    _, headers, body = server.requests[0]
    assert body["model"] == "task-lora" and body["min_tokens"] == 2
    assert "Authorization" not in headers


@pytest.mark.parametrize("failures", [[(429, {})], [(503, {}), (500, {"Retry-After": "0"})]])
def test_retries_then_succeeds(server, failures):
    server.failures = list(failures)
    [res] = backend_for(server).generate([GenerationRequest(prompt="ab")])
    assert res.texts[0].startswith("ba#0")
    assert len(server.requests) == len(failures) + 1


def test_gives_up_after_max_retries(server):
    server.failures = [(429, {})] * 5
    with pytest.raises(OpenAIError, match="failed after 3 attempts.*HTTP 429"):
        backend_for(server, max_retries=2).generate([GenerationRequest(prompt="ab")])
    assert len(server.requests) == 3


def test_client_error_is_not_retried(server):
    with pytest.raises(OpenAIError, match="HTTP 400: max_tokens too large") as info:
        backend_for(server).generate([GenerationRequest(prompt="ab", max_new_tokens=999)])
    assert info.value.status == 400
    assert len(server.requests) == 1


def test_unreachable_server_is_an_error():
    b = load_backend(LMConfig(backend="openai", openai=OpenAISettings(
        base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, timeout_s=2)))
    with pytest.raises(OpenAIError, match="failed after 2 attempts"):
        b.generate([GenerationRequest(prompt="ab")])


def test_concurrency_is_bounded(server):
    server.delay_s = 0.1
    b = backend_for(server, concurrency=3)
    res = b.generate([GenerationRequest(prompt=f"p{i}") for i in range(9)])
    assert [r.texts[0].split("#")[0] for r in res] == [f"p{i}"[::-1] for i in range(9)]  # in order
    assert 1 < server.max_in_flight <= 3


def test_score_counts_continuation_tokens(server):
    [res] = backend_for(server).score([ScoreRequest("hello", ("ab", "xyz"))])
    assert res.logprobs == (-1.0, -1.5) and res.num_tokens == (2, 3)
    bodies = [body for _, _, body in server.requests]
    assert sorted(b["prompt"] for b in bodies) == ["helloab", "helloxyz"]
    assert all(b["echo"] is True and b["logprobs"] == 0 for b in bodies)
