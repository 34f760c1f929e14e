"""The process that holds an embedded (chdb) ledger serves read-only queries to others.

It listens on 127.0.0.1 (an ephemeral port) and writes the address to
``<ledger path>/.handrail-owner.json``; ``open_reader`` finds it there. Every query runs
on the owner's own connection with ``readonly=2``, one at a time, so a reader can neither
write nor see a half-applied setting.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from handrail.ledger.reader import OWNER_FILE, ClientReader, QueryError


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    raise TypeError(type(value).__name__)


class OwnerServer:
    """Serve ``ClientReader(client)`` over HTTP until ``stop()``."""

    def __init__(self, client: Any, ledger_path: Path) -> None:
        reader, lock = ClientReader(client), threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                try:
                    with lock:
                        rows = reader.query(request["sql"], request.get("parameters") or {})
                    status, body = 200, {"rows": rows}
                except (QueryError, KeyError) as exc:
                    status, body = 400, {"error": str(exc)}  # type: ignore[dict-item]
                data = json.dumps(body, default=_jsonable).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._file = ledger_path / OWNER_FILE
        host, port = self._server.server_address[:2]
        tmp = self._file.with_suffix(".tmp")
        url = f"http://{host!s}:{port}"
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        os.replace(tmp, self._file)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="handrail-ledger-owner", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._file.unlink(missing_ok=True)
