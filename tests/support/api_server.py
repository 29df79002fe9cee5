"""A loopback HTTP server speaking the Anthropic and OpenAI wire formats, for tests without internet.

Point the real SDKs at it (``AsyncOpenAI(base_url=server.openai_base_url)``,
``AsyncAnthropic(base_url=server.base_url)``) or the autointerp backends
(``openai-compatible:MODEL@{server.openai_base_url}``). Nothing is mocked
client-side: requests go through the SDKs' real HTTP stack.

Handler-driven, like httpx's ``MockTransport``: a *handler* is a function
``RecordedRequest -> Reply``. The default handler, :func:`fake_llm`, answers
``POST /v1/chat/completions`` and ``POST /v1/messages`` with a deterministic
echo (token usage = whitespace words) and honours ``logprobs``/``top_logprobs``.
The batch endpoints (OpenAI ``/v1/files`` upload, ``/v1/batches`` create and
retrieve, ``/v1/files/{id}/content`` for the output and error files; Anthropic
``/v1/messages/batches`` create, retrieve and ``/results``) are emulated by the
server itself, answering every inner request with the same handler: non-200
items go to OpenAI's error file / Anthropic ``errored`` results.
``expire_batches = N`` makes the next N batches expire with only their first
half processed (the rest ``batch_expired`` / ``expired``).

Faults are plain replies: :func:`rate_limited` (429 + ``retry-after``),
:func:`overloaded` (529), :func:`server_error`, :func:`error` (any status),
:func:`slow`, :func:`dropped` (connection closed without a response) and
:func:`malformed` (a 200 whose body is not JSON). Queue them with
:meth:`ApiServer.script`: scripted replies answer the next HTTP requests in
order, before the handler is consulted.

Example::

    with ApiServer() as server:
        server.script(rate_limited(0.01), overloaded())
        ...  # run code against server.openai_base_url
        assert len(server.requests) == 3 and server.max_in_flight <= 4

Capacity: ``latency`` adds a delay to every reply; ``max_concurrency`` caps
requests handled at once; the extra ones wait in a queue (``overload="queue"``)
or get a 429 (``overload="reject"``). ``in_flight`` / ``max_in_flight`` count
requests received and not yet answered (queued ones included).

Run standalone (used by ``benchmarks/backends.py``)::

    python -m tests.support.api_server --latency 0.1 --max-concurrency 32
    # prints "http://127.0.0.1:PORT" on stdout, serves until stdin closes
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import email.policy
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = [
    "ApiServer",
    "RecordedRequest",
    "Reply",
    "anthropic_message",
    "dropped",
    "error",
    "fake_llm",
    "malformed",
    "openai_chat",
    "overloaded",
    "rate_limited",
    "server_error",
    "slow",
]


# ----------------------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received."""

    method: str
    path: str  # path without query string, e.g. '/v1/chat/completions'
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None if empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Reply:
    """What to answer. ``body`` may be bytes, str, or a JSON-able object."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without answering

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[RecordedRequest], Reply]


# ----------------------------------------------------------------------------------------------------------- faults
def error(status: int, message: str = "error", *, headers: dict[str, str] | None = None) -> Reply:
    """An error reply; the body carries both the OpenAI and the Anthropic error shapes."""
    body = {"type": "error", "error": {"type": "api_error", "message": message, "code": None, "param": None}}
    return Reply(status=status, body=body, headers=headers or {})


def rate_limited(retry_after: float | None = None, *, retry_after_ms: float | None = None) -> Reply:
    """429 with optional ``retry-after`` (seconds) and/or ``retry-after-ms`` headers."""
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = f"{retry_after_ms:g}"
    return error(429, "rate limited", headers=headers)


def overloaded() -> Reply:
    """Anthropic's 529 overloaded_error."""
    return Reply(status=529, body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def server_error(status: int = 500) -> Reply:
    return error(status, "internal server error")


def slow(reply: Reply, seconds: float) -> Reply:
    """``reply`` delivered after ``seconds`` (longer than a client timeout: the client gives up first)."""
    return Reply(status=reply.status, body=reply.body, headers=reply.headers, delay=reply.delay + seconds)


def dropped() -> Reply:
    """Close the connection without answering."""
    return Reply(drop=True)


def malformed() -> Reply:
    """A 200 whose body is not valid JSON."""
    body = b'{"id": "chatcmpl-broken", "choices": ['
    return Reply(status=200, body=body, headers={"content-type": "application/json"})


# ----------------------------------------------------------------------------------------------------------- payloads
def openai_chat(
    text: str,
    *,
    model: str = "fake-model",
    prompt_tokens: int = 10,
    completion_tokens: int | None = None,
    cached_tokens: int = 0,
    logprobs: list[tuple[str, float, dict[str, float]]] | None = None,
    finish_reason: str = "stop",
) -> Reply:
    """An OpenAI chat.completion; ``logprobs`` is a list of (token, logprob, {alt token: logprob})."""
    content = None
    if logprobs is not None:
        content = [
            {
                "token": tok,
                "logprob": lp,
                "bytes": list(tok.encode()),
                "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in top.items()],
            }
            for tok, lp, top in logprobs
        ]
    n_out = len(text.split()) if completion_tokens is None else completion_tokens
    return Reply(
        body={
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None if content is None else {"content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": n_out,
                "total_tokens": prompt_tokens + n_out,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
            },
        }
    )


def anthropic_message(
    text: str,
    *,
    model: str = "fake-model",
    input_tokens: int = 10,
    output_tokens: int | None = None,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    stop_reason: str = "end_turn",
) -> Reply:
    """An Anthropic Messages API message."""
    return Reply(body=_anthropic_body(text, model, input_tokens, output_tokens, cache_read_input_tokens,
                                      cache_creation_input_tokens, stop_reason))


def _anthropic_body(text, model, input_tokens, output_tokens, cache_read, cache_write, stop_reason) -> dict:
    return {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": len(text.split()) if output_tokens is None else output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


_ids = itertools.count(1)


def _words(body: dict) -> int:
    """Whitespace words of the system text and every message (the fake tokenizer)."""
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(b.get("text", "") for b in system)
    n = len(str(system).split())
    for m in body.get("messages", []):
        content = m.get("content", "")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content)
        n += len(str(content).split())
    return n


def _last_user_text(body: dict) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            content = m.get("content", "")
            return " ".join(b.get("text", "") for b in content) if isinstance(content, list) else str(content)
    return ""


def fake_llm(request: RecordedRequest) -> Reply:
    """Default handler: echo the last user message as ``'echo: <text>'``.

    Usage is exact and deterministic: input tokens = whitespace words of system + messages,
    output tokens = words of the reply. With OpenAI ``logprobs``, every reply word gets logprob -0.1
    and ``top_logprobs`` alternatives ``{word: -0.1, '<alt>': -2.5, ...}``.
    """
    body = request.json or {}
    text = "echo: " + _last_user_text(body)
    if request.path.endswith("/chat/completions"):
        lps = None
        if body.get("logprobs"):
            n_top = int(body.get("top_logprobs") or 0)
            lps = [
                (w, -0.1, dict([(w, -0.1)] + [(f"<alt{k}>", -2.5 - k) for k in range(max(n_top - 1, 0))]))
                for w in text.split()
            ]
        return openai_chat(text, model=body.get("model", "fake-model"), prompt_tokens=_words(body), logprobs=lps)
    if request.path.endswith("/messages"):
        return anthropic_message(text, model=body.get("model", "fake-model"), input_tokens=_words(body))
    return error(404, f"no route for {request.method} {request.path}")


# ----------------------------------------------------------------------------------------------------------- server
class ApiServer:
    """Threaded loopback server; use as a context manager. See the module docstring."""

    def __init__(
        self,
        handler: Handler = fake_llm,
        *,
        latency: float = 0.0,
        max_concurrency: int | None = None,
        overload: Literal["queue", "reject"] = "queue",
        batch_polls_until_done: int = 1,
        expire_batches: int = 0,
        record_bodies: bool = True,
    ):
        self.handler = handler
        self.on_answer: Callable[[RecordedRequest, Reply], None] | None = None  # runs once a reply is sent
        self.latency = latency
        self.overload = overload
        self.batch_polls_until_done = batch_polls_until_done
        self.expire_batches = expire_batches  # the next N batches expire with only their first half processed
        self.record_bodies = record_bodies
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._script: collections.deque[Reply] = collections.deque()
        self._capacity = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, dict] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self, port: int = 0) -> ApiServer:
        server = self

        class _Handler(_RequestHandler):
            api = server

        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ApiServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Root URL, e.g. 'http://127.0.0.1:PORT' (the Anthropic SDK's base_url)."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        """``base_url + '/v1'`` (the OpenAI SDK's base_url)."""
        return self.base_url + "/v1"

    # -- test API
    def script(self, *replies: Reply) -> None:
        """Answer the next HTTP requests with these replies, in order, before the handler is used."""
        with self._lock:
            self._script.extend(replies)

    def set_capacity(self, max_concurrency: int | None, overload: Literal["queue", "reject"] = "queue") -> None:
        """Cap requests handled at once (None: no cap); extra ones queue or get a 429."""
        self._capacity = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self.overload = overload

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``suffix``."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def reset(self) -> None:
        self.on_answer = None
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.max_in_flight = self.in_flight

    # -- dispatch (runs in a server thread)
    def _serve(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request if self.record_bodies else
                                 RecordedRequest(request.method, request.path, request.headers, b""))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            scripted = self._script.popleft() if self._script else None
        try:
            if self._capacity is not None:
                if self.overload == "reject":
                    if not self._capacity.acquire(blocking=False):
                        return rate_limited(0.05)
                else:
                    self._capacity.acquire()
            try:
                if self.latency:
                    time.sleep(self.latency)
                return scripted if scripted is not None else self._route(request)
            finally:
                if self._capacity is not None:
                    self._capacity.release()
        finally:
            with self._lock:
                self.in_flight -= 1

    def _route(self, request: RecordedRequest) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/v1/files":
            return self._upload(request)
        if method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            return Reply(body=self._files.get(path.split("/")[3], b""))
        if path.startswith(("/v1/batches", "/v1/messages/batches")):
            return self._batch_route(request)
        return self.handler(request)

    # -- batch emulation
    def _upload(self, request: RecordedRequest) -> Reply:
        ctype = request.headers.get("content-type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + ctype.encode() + b"\r\n\r\n" + request.body
        )
        data, filename = b"", "upload.jsonl"
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                data = part.get_payload(decode=True) or b""
                filename = part.get_filename() or filename
        file_id = f"file-{next(_ids)}"
        with self._lock:
            self._files[file_id] = data
        return Reply(body={"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                           "filename": filename, "purpose": "batch", "status": "processed"})

    def _batch_route(self, request: RecordedRequest) -> Reply:
        parts = request.path.strip("/").split("/")
        anthropic = parts[1] == "messages"
        ids = parts[3:] if anthropic else parts[2:]
        if request.method == "POST" and not ids:
            return self._create_anthropic_batch(request) if anthropic else self._create_openai_batch(request)
        if not ids or ids[0] not in self._batches:
            return error(404, f"no batch {ids[0] if ids else ''!r}")
        batch = self._batches[ids[0]]
        if request.method == "GET" and len(ids) == 1:
            with self._lock:
                batch["polls"] += 1
            return Reply(body=self._batch_status(batch))
        if request.method == "GET" and ids[1:] == ["results"] and anthropic:
            return Reply(body=batch["results"].encode(), headers={"content-type": "application/binary"})
        return error(404, f"no route for {request.method} {request.path}")

    def _run_inner(self, path: str, body: dict) -> Reply:
        return self.handler(RecordedRequest("POST", path, {}, json.dumps(body).encode()))

    def _expiring(self, n: int) -> int:
        """How many of a new batch's ``n`` items get processed (all, or half when it is set to expire)."""
        with self._lock:
            if self.expire_batches <= 0:
                return n
            self.expire_batches -= 1
            return n // 2

    def _create_openai_batch(self, request: RecordedRequest) -> Reply:
        """Like OpenAI: answers (200) go to the output file, failed and expired items to the error file."""
        body = request.json or {}
        items = [json.loads(line) for line in self._files.get(body.get("input_file_id", ""), b"").decode().splitlines()
                 if line.strip()]
        processed = self._expiring(len(items))
        out, err = [], []
        for k, item in enumerate(items):
            line = {"id": f"batch_req_{next(_ids)}", "custom_id": item["custom_id"], "response": None, "error": None}
            if k >= processed:
                line["error"] = {"code": "batch_expired", "message": "This request could not be executed before the "
                                 "completion window expired."}
                err.append(json.dumps(line))
                continue
            reply = self._run_inner(item["url"], item["body"])
            line["response"] = {"status_code": reply.status, "request_id": f"req_{next(_ids)}", "body": reply.body}
            (out if reply.status == 200 else err).append(json.dumps(line))
        batch_id = f"batch_{next(_ids)}"
        with self._lock:
            files = {}
            for kind, lines in (("output", out), ("error", err)):
                if lines:
                    files[kind] = f"file-{next(_ids)}"
                    self._files[files[kind]] = ("\n".join(lines) + "\n").encode()
            self._batches[batch_id] = {
                "kind": "openai", "id": batch_id, "polls": 0, "n": len(items), "output": files.get("output"),
                "error": files.get("error"), "input": body.get("input_file_id"), "endpoint": body.get("endpoint"),
                "expired": processed < len(items), "completed": len(out), "failed": len(err),
            }
        return Reply(body=self._batch_status(self._batches[batch_id]))

    def _create_anthropic_batch(self, request: RecordedRequest) -> Reply:
        items = (request.json or {}).get("requests", [])
        processed = self._expiring(len(items))
        out, counts = [], collections.Counter()
        for k, item in enumerate(items):
            if k >= processed:
                result: dict = {"type": "expired"}
            else:
                reply = self._run_inner("/v1/messages", item["params"])
                result = ({"type": "succeeded", "message": reply.body} if reply.status == 200
                          else {"type": "errored", "error": reply.body})
            counts[result["type"]] += 1
            out.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        batch_id = f"msgbatch_{next(_ids)}"
        with self._lock:
            self._batches[batch_id] = {"kind": "anthropic", "id": batch_id, "polls": 0, "n": len(out),
                                       "counts": counts, "results": "\n".join(out) + "\n"}
        return Reply(body=self._batch_status(self._batches[batch_id]))

    def _batch_status(self, batch: dict) -> dict:
        done = batch["polls"] >= self.batch_polls_until_done
        now = "2025-01-01T00:00:00Z"
        if batch["kind"] == "anthropic":
            n, c = batch["n"], batch["counts"]
            return {
                "id": batch["id"], "type": "message_batch", "processing_status": "ended" if done else "in_progress",
                "request_counts": {"processing": 0 if done else n, "succeeded": c["succeeded"] if done else 0,
                                   "errored": c["errored"] if done else 0, "canceled": 0,
                                   "expired": c["expired"] if done else 0},
                "created_at": now, "expires_at": now, "ended_at": now if done else None,
                "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results" if done else None,
            }
        status = ("expired" if batch["expired"] else "completed") if done else "in_progress"
        return {
            "id": batch["id"], "object": "batch", "endpoint": batch["endpoint"], "input_file_id": batch["input"],
            "completion_window": "24h", "created_at": int(time.time()), "status": status,
            "output_file_id": batch["output"] if done else None, "error_file_id": batch["error"] if done else None,
            "request_counts": {"total": batch["n"], "completed": batch["completed"] if done else 0,
                               "failed": batch["failed"] if done else 0},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:  # clients hanging up are expected (timeouts, drops)
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms Nagle/delayed-ACK stall per reply
    api: ApiServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.api._serve(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload, ctype = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = {"content-type": ctype, **{k.lower(): v for k, v in reply.headers.items()}}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self._headers_buffer.append(b"\r\n" + payload)  # head and body leave in one write
            self.flush_headers()
        except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout)
            self.close_connection = True
            return
        if self.api.on_answer is not None:
            self.api.on_answer(request, reply)

    do_GET = do_POST = do_DELETE = _handle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--overload", choices=["queue", "reject"], default="queue")
    args = parser.parse_args(argv)
    server = ApiServer(latency=args.latency, max_concurrency=args.max_concurrency, overload=args.overload,
                       record_bodies=False).start(args.port)
    print(server.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    print(json.dumps({"requests": len(server.requests), "max_in_flight": server.max_in_flight,
                      "server_cpu_s": round(time.process_time(), 2)}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
