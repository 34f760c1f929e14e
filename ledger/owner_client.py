"""A reader of an embedded ledger through the process that holds it (``ledger/owner.py``).

HTTP over the owner's Unix socket (``ledger/owner_socket.py``): every request opens a
connection that is checked to reach an owner of this user before the query is sent.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from handrail.ledger.errors import OwnerError, QueryError
from handrail.ledger.owner_socket import connect, socket_path
from handrail.settings import ReadSettings

_MARGIN_S = 10.0
"""Beyond the query's own limit, how long a reader waits for the owner's answer."""


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout_s: float) -> None:
        super().__init__("handrail-owner", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        self.sock, _ = connect(self._path, self.timeout or _MARGIN_S)


class OwnerReader:
    def __init__(self, path: Path, limits: ReadSettings) -> None:
        self._path = path
        self._timeout_s = limits.max_seconds + _MARGIN_S

    @classmethod
    def reach(cls, ledger: Path, limits: ReadSettings) -> OwnerReader | None:
        """The reader of the owner serving ``ledger``, if one answers there (a socket
        left by a dead owner does not); ``OwnerError`` for a stranger's socket."""
        if owner_pid(ledger) is None:
            return None
        return cls(socket_path(ledger), limits)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body = json.dumps({"sql": sql, "parameters": parameters or {}}).encode()
        connection = _Connection(self._path, self._timeout_s)
        try:
            connection.request("POST", "/query", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise OwnerError(f"the ledger's owner did not answer: {exc}") from None
        finally:
            connection.close()
        try:
            answer = json.loads(data)
        except ValueError:
            raise OwnerError(f"the ledger's owner answered {status} with no JSON") from None
        if status != 200:
            raise QueryError(str(answer.get("error", status)))
        rows: list[dict[str, Any]] = answer["rows"]
        return rows

    def close(self) -> None:
        return


def owner_pid(ledger: Path) -> int | None:
    """The pid of the live process of this user that serves ``ledger`` (None: none does);
    ``OwnerError`` if another user's process listens there."""
    path = socket_path(ledger)
    if not path.exists():
        return None
    try:
        sock, found = connect(path, timeout_s=2.0)
    except (ConnectionError, FileNotFoundError, TimeoutError):
        return None  # a socket left by a dead owner
    sock.close()
    return found.pid if found is not None else -1  # -1: alive, the platform hides its pid
