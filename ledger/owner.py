"""The process that holds an embedded (chdb) ledger serves forensic reads to others.

HTTP over a Unix socket in the ledger's directory (``owner_socket.py``), to this user (or
the team's group) only. Every query runs on a client of the owner's own, not the writer's
(``ClientReader``: one SELECT over the ledger, read-only, bounded in time and size), a few at
a time, so no reader can change, block or slow what the owner writes. A client gets a few
seconds to send its request (``REQUEST_S``) and at most ``MAX_CLIENTS`` are served at once;
a malformed request gets a 4xx, a client beyond the cap a 503.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import socketserver
import sys
import threading
import time
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, NoReturn

from handrail.ledger.client import connect
from handrail.ledger.errors import LedgerBusyError, QueryError
from handrail.ledger.owner_client import owner_pid
from handrail.ledger.owner_socket import Address, peer, socket_path
from handrail.ledger.reader import ClientReader
from handrail.settings import ReadSettings

MAX_CLIENTS = 8
READERS = 2
"""Queries run at once, each on a client of its own: a slow one does not hold up the next."""
REQUEST_S = 5.0
"""How long a client has to send its whole request."""
MAX_REQUEST_BYTES = 1 << 20
STOP_S = 3.0
"""How long a stop waits for a cancelled query to end."""
log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """A value JSON has no type for: dates in ISO 8601, bytes in hex, the rest as text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False  # a query still running does not hold up a stop

    def __init__(self, address: str, owner: OwnerServer) -> None:
        self.owner = owner
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.refusing = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone is no error
            log.exception("ledger owner: a request failed")

    def process_request(self, request: Any, client_address: Any) -> None:
        found = peer(request)
        if found is not None and found.uid != os.geteuid() and found.gid != self.owner.group:
            refusal = (403, f"uid {found.uid} may not read this ledger")
        elif not self.slots.acquire(blocking=False):
            refusal = (503, "too many readers at once; try again")
        else:
            super().process_request(request, client_address)
            return
        if self.refusing.acquire(blocking=False):
            threading.Thread(target=self._refuse, args=(request, *refusal), daemon=True).start()
        else:  # a flood: no answer
            request.close()

    def _refuse(self, request: socket.socket, status: int, error: str) -> None:
        try:
            _refuse(request, status, error)
        finally:
            self.refusing.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _refuse(request: socket.socket, status: int, error: str) -> None:
    """Answer ``status`` and close, on a thread of its own (it waits up to a second)."""
    body = json.dumps({"error": error}).encode()
    head = f"HTTP/1.0 {status} Refused\r\nContent-Type: application/json\r\n"
    with contextlib.suppress(OSError):
        request.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        request.shutdown(socket.SHUT_WR)
        request.settimeout(1.0)  # read what the client sent, so that closing does not
        while request.recv(65536):  # reset the connection before it reads the answer
            pass
    request.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_S  # each read and write of the socket

    def setup(self) -> None:
        super().setup()
        self._deadline = threading.Timer(REQUEST_S, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        """A client that has not sent its whole request in time is disconnected."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def do_POST(self) -> None:
        if self.path != "/query":
            self._answer(404, {"error": "POST /query only"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, {"error": "a Content-Length is required"})
            return
        if not 0 <= length <= MAX_REQUEST_BYTES:
            self._answer(413, {"error": f"a request is at most {MAX_REQUEST_BYTES} bytes"})
            return
        try:
            request = json.loads(self.rfile.read(length))
            sql, parameters = request["sql"], request.get("parameters") or {}
            if not isinstance(sql, str) or not isinstance(parameters, dict):
                raise TypeError("sql must be a string and parameters an object")
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(400, {"error": f"malformed request: {exc}"})
            return
        self._deadline.cancel()
        self._answer(*self.server.owner.run(sql, parameters))

    def do_GET(self) -> None:
        self._answer(405, {"error": "POST /query only"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=_jsonable).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class OwnerServer:
    """Serve forensic reads of the chdb ledger at ``ledger`` until ``stop()``."""

    def __init__(
        self, dsn: str, ledger: Path, limits: ReadSettings, group: int | None = None
    ) -> None:
        self.group = group
        self._dsn = dsn
        self._limits = limits
        self._path = socket_path(ledger)
        holder = owner_pid(ledger)
        if holder is not None:
            raise LedgerBusyError(f"the ledger at {ledger} is served by process {holder}")
        self._path.unlink(missing_ok=True)  # a dead owner's socket
        self._readers: queue.Queue[ClientReader] = queue.Queue()
        for _ in range(READERS):
            self._readers.put(ClientReader(dsn, limits))
        self._address = Address(self._path)
        self._server = _Server(self._address.path, self)
        os.chmod(self._address.path, 0o660 if group is not None else 0o600)
        if group is not None:
            os.chown(self._address.path, -1, group)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="handrail-ledger-owner", daemon=True
        )
        self._thread.start()

    def run(self, sql: str, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One query on a free reader; (HTTP status, answer)."""
        try:
            reader = self._readers.get(timeout=self._limits.max_seconds)
        except queue.Empty:
            return 503, {"error": "the ledger's readers are busy; try again"}
        try:
            return 200, {"rows": reader.query(sql, parameters)}
        except QueryError as exc:
            return 400, {"error": str(exc)}
        finally:
            self._readers.put(reader)

    def stop(self) -> bool:
        """Stop serving and cancel the queries still running (the writer has stopped by
        now: every query left is a reader's). False if one has not ended within
        ``STOP_S``: the engine checks a cancel only between blocks, so the caller should
        leave without waiting for it (everything the writer wrote is on disk)."""
        self._server.shutdown()
        self._server.server_close()
        self._path.unlink(missing_ok=True)
        self._address.close()
        control = connect(self._dsn)
        try:
            control.command("KILL QUERY WHERE query_id != queryID() ASYNC")
        finally:
            control.close()
        deadline = time.monotonic() + STOP_S
        for _ in range(READERS):  # each comes back once its (cancelled) query has ended
            try:
                reader = self._readers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                log.warning("a forensic query did not end within %.0fs of its cancel", STOP_S)
                return False
            reader.close()
        return True


def leave_now() -> NoReturn:
    """End the process at once, after ``stop()`` found a forensic query still running:
    the engine's own shutdown would wait for it (a single block can run for minutes)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
