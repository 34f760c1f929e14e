"""A real HTTP receiver on 127.0.0.1 for tests of outgoing webhooks (PagerDuty, Slack, ...).

    with Receiver() as rx:
        rx.fail_next("/pd", 1, 500)           # the next request to /pd gets a 500
        ...  post to rx.url("/pd") ...
        first, second = rx.wait_for("/pd", 2)
        assert second.json["event_action"] == "trigger"

Every request is recorded (method, path, headers, raw body, JSON body, time); by default
each is answered ``200`` with ``{"status": "success"}``. Threaded, so a slow answer
(``stall_next``) does not hold up the others.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    time: float
    json: Any = field(default=None)
    """The body parsed as JSON, or None if it is not JSON."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    delay_s: float = 0.0


_OK = _Answer(200, b'{"status": "success"}', {})


class Receiver:
    """A threaded ``http.server`` on a free port of 127.0.0.1 that records every request."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._scripted: dict[str, deque[_Answer]] = defaultdict(deque)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Receiver:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the API ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "the receiver is not running"
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """The full URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        """Requests so far (to ``path``, or all), oldest first."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def fail_next(
        self,
        path: str,
        n: int,
        status: int,
        *,
        body: bytes = b'{"status": "error"}',
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests to ``path`` with ``status`` (e.g. 500, 429, 400)."""
        with self._lock:
            for _ in range(n):
                self._scripted[path].append(_Answer(status, body, dict(headers or {})))

    def stall_next(self, path: str, n: int, seconds: float) -> None:
        """Wait ``seconds`` before answering the next ``n`` requests to ``path`` (timeouts)."""
        with self._lock:
            for _ in range(n):
                self._scripted[path].append(_Answer(200, _OK.body, {}, delay_s=seconds))

    def wait_for(self, path: str, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until ``path`` has had at least ``count`` requests; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(seen := self.requests(path)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{path}: {len(seen)} of {count} requests in {timeout}s")
                self._lock.wait(left)
            return seen

    def clear(self) -> None:
        """Forget recorded requests and scripted answers."""
        with self._lock:
            self._requests.clear()
            self._scripted.clear()

    # -- called by the handler ----------------------------------------------------------------

    def _receive(self, request: ReceivedRequest) -> _Answer:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            queue = self._scripted.get(request.path)
            return queue.popleft() if queue else _OK


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            answer = receiver._receive(
                ReceivedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parts.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    time=time.time(),
                    json=parsed,
                )
            )
            if answer.delay_s:
                time.sleep(answer.delay_s)
            try:
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the client gave up (a timeout test)

        do_POST = do_PUT = do_GET = _serve  # noqa: N815 - http.server names

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
