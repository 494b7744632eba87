"""A real local HTTP server that speaks the OpenAI chat-completions protocol, with failure modes.

The model name in the request picks the behaviour: fake-ok answers; fake-slow sleeps past
any timeout; fake-429 and fake-500 answer with those statuses; fake-badjson sends broken
JSON; fake-cut breaks the connection mid-answer (mid-stream when streaming); fake-length answers
as fake-ok but stops at its token limit (finish_reason "length"); fake-chunked
streams as most hosted providers do: chunked transfer encoding on a kept-alive connection, CRLF
line ends, and chunks that split lines and events anywhere. fake-adder sums the numbers it is
asked about and fake-judge grades such sums (for graded batch selection). fake-letter-b and
fake-letter-c answer a multiple-choice question with that letter alone; fake-letter-b-verbose
answers B with a reason, ignoring the requested format (for cascades' checks); fake-together-b
and fake-together-c answer that letter only once two such calls are in flight at once, and fail
with a 500 when the other never comes (for calls made side by side).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["Hello", " from", " the", " local", " provider", "."]


LINGER_S = 30.0


class Handler(BaseHTTPRequestHandler):
    server: FakeOpenAIServer
    # Keep-alive, as real providers do: a response with a Content-Length leaves the
    # connection open; streams and cut answers close it (see _close_after).
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the second waits for
    # the client's delayed ACK of the first (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.last_path = self.path  # an absolute URL when the call came as to a proxy
        self.server.last_proxy_auth = self.headers.get("Proxy-Authorization", "")
        if self.path.endswith("/messages"):
            return self._anthropic(body)
        model = body.get("model", "")
        self.server.calls[model] += 1
        self.server.bodies.append(body)
        self.server.last_auth = self.headers.get("Authorization", "")
        behaviour = getattr(self, "_" + model.replace("fake-", "").replace("-", "_"), None)
        if behaviour is None:
            return self._send(404, {"error": {"message": f"no model {model}"}})
        behaviour(body)

    def _ok(self, body: dict[str, Any]) -> None:
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        if body.get("stream"):
            return self._stream(body, cut=False)
        self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}})

    def _adder(self, body: dict[str, Any]) -> None:
        """Answers with the sum of the numbers in the last message: right on "What is 2 + 3?"."""
        numbers = [int(n) for n in re.findall(r"-?\d+", body["messages"][-1]["content"])]
        self._answer(body, f"The answer is {sum(numbers)}.")

    def _judge(self, body: dict[str, Any]) -> None:
        """Grades a batch-sample judging prompt: 10 when the answer's last number is the request's sum."""
        said = body["messages"][-1]["content"]
        request = re.search(r"Request: (.*)", said)
        answer = re.search(r"Answer: (.*)", said)
        asked = sum(int(n) for n in re.findall(r"-?\d+", request.group(1))) if request else None
        given = re.findall(r"-?\d+", answer.group(1)) if answer else []
        self._answer(body, f"Score: {10 if given and int(given[-1]) == asked else 0}")

    def _letter_b(self, body: dict[str, Any]) -> None:
        """A multiple-choice answer as asked: the letter alone (also fake-letter-c)."""
        self._answer(body, "B")

    def _letter_c(self, body: dict[str, Any]) -> None:
        self._answer(body, "C")

    def _together_b(self, body: dict[str, Any]) -> None:
        """B, once another fake-together call has arrived while this one waits (also fake-together-c)."""
        self._together(body, "B")

    def _together_c(self, body: dict[str, Any]) -> None:
        self._together(body, "C")

    def _together(self, body: dict[str, Any], letter: str) -> None:
        try:
            self.server.together.wait()
        except threading.BrokenBarrierError:
            self.server.together.reset()
            return self._send(500, {"error": {"message": "the other call never came while this one waited"}})
        self._answer(body, letter)

    def _letter_b_verbose(self, body: dict[str, Any]) -> None:
        """A multiple-choice answer that ignores the requested format: the letter with a reason."""
        self._answer(body, "B) because it is the largest of them all")

    def _answer(self, body: dict[str, Any], content: str) -> None:
        if body.get("stream"):
            return self._stream(body, cut=False, words=[content])
        self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}})

    def _length(self, body: dict[str, Any]) -> None:
        if body.get("stream"):
            return self._stream(body, cut=False, finish="length")
        self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)},
                                      "finish_reason": "length"}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}})

    def _slow(self, body: dict[str, Any]) -> None:
        time.sleep(3)
        self._ok(body)

    def _429(self, body: dict[str, Any]) -> None:
        self._send(429, {"error": {"message": "rate limited"}})

    def _500(self, body: dict[str, Any]) -> None:
        self._send(500, {"error": {"message": "boom"}})

    def _badjson(self, body: dict[str, Any]) -> None:
        raw = b'{"choices": [{"message": '
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _cut(self, body: dict[str, Any]) -> None:
        if body.get("stream"):
            return self._stream(body, cut=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "500")
        self._close_after()
        self.end_headers()
        self.wfile.write(b'{"choices": [')  # then the connection closes, short of Content-Length

    def _stream(self, body: dict[str, Any], *, cut: bool, finish: str = "stop", words: list[str] = WORDS) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self._close_after()
        self.end_headers()
        for index, event in enumerate(_stream_events(body, finish, words)):
            if cut and index == 2:
                self.wfile.flush()
                return  # the connection closes without [DONE]
            self.wfile.write(f"data: {event}\n\n".encode())
            self.wfile.flush()
            time.sleep(self.server.stream_pause_s)  # a slow model: its words arrive one by one

    def _chunked(self, body: dict[str, Any], *, linger_s: float = 0.0) -> None:
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        if not body.get("stream"):
            return self._ok(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        raw = "".join(f"data: {event}\r\n\r\n" for event in _stream_events(body)).encode()
        for start in range(0, len(raw), 7):
            piece = raw[start:start + 7]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        time.sleep(linger_s)
        self.wfile.write(b"0\r\n\r\n")

    def _lingering(self, body: dict[str, Any]) -> None:
        """A stream whose closing chunk comes long after [DONE]."""
        self._chunked(body, linger_s=LINGER_S)

    def _anthropic(self, body: dict[str, Any]) -> None:
        """Anthropic's Messages API, enough of it to check the provider speaks it."""
        self.server.calls[body.get("model", "")] += 1
        self.server.last_auth = self.headers.get("x-api-key", "")
        self.server.last_body = body
        if not body.get("stream"):
            return self._send(200, {"type": "message", "role": "assistant", "stop_reason": "end_turn",
                                    "content": [{"type": "text", "text": "".join(WORDS)}],
                                    "usage": {"input_tokens": 12, "output_tokens": 6}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self._close_after()
        self.end_headers()
        events = [{"type": "message_start", "message": {"usage": {"input_tokens": 12}}}]
        events += [{"type": "content_block_delta", "delta": {"type": "text_delta", "text": w}} for w in WORDS]
        events += [{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
                   {"type": "message_stop"}]
        for event in events:
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

    def _close_after(self) -> None:
        """A body without a (true) Content-Length ends when the connection does."""
        self.send_header("Connection", "close")
        self.close_connection = True

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _stream_events(body: dict[str, Any], finish: str = "stop", words: list[str] = WORDS) -> list[str]:
    """A streamed answer's server-sent event payloads, [DONE] included."""
    chunks = [{"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]} for word in words]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}})
    return [json.dumps({"id": "x", "object": "chat.completion.chunk", "model": body["model"], **c}) for c in chunks] + [
        "[DONE]"]


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls: Counter[str] = Counter()
        self.last_auth = ""
        self.last_path = ""
        self.last_proxy_auth = ""
        self.last_body: dict[str, Any] = {}
        self.bodies: list[dict[str, Any]] = []  # every chat-completions request, as sent
        self.delay_s = delay_s
        self.stream_pause_s = 0.0  # between streamed events
        self.connections = 0  # accepted so far: kept-alive connections serve several calls
        self.lock = threading.Lock()
        self.together = threading.Barrier(2, timeout=10)  # fake-together-*: two calls at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out hang up on purpose; their broken pipes are expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def main() -> None:
    """Serve until killed, in a process of its own (scripts/bench_gateway.py); prints the URL."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    server = FakeOpenAIServer(delay_s=parser.parse_args().delay)
    print(server.url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
