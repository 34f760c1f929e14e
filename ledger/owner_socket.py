"""The Unix socket through which the owner of an embedded ledger serves its readers.

It lives in the ledger's directory (``<ledger>/.handrail-owner.sock``), which is private
(0700, or 0750 for a team's group), so only the owner's user (or that group) can reach
it; and both ends ask the kernel who is at the other end (``SO_PEERCRED``): the owner
serves only its own user (or a process whose primary group is the team's), and a reader
talks only to an owner running as itself or as the user who owns the ledger's directory,
so a socket planted by someone else is refused before anything is sent.

A Unix socket's path is limited to about 100 bytes; a longer one is reached through
``/proc/self/fd/<directory fd>/<name>`` (Linux), which names the same file.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from handrail.ledger.errors import OwnerError

SOCKET_NAME = ".handrail-owner.sock"
_MAX_PATH = 100


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def socket_path(ledger: Path) -> Path:
    return ledger / SOCKET_NAME


class Address:
    """A usable address for ``path``: the path itself, or a short alias of it that holds
    its directory open (close it after use)."""

    def __init__(self, path: Path) -> None:
        self._fd: int | None = None
        self.path = str(path)
        if len(self.path.encode()) > _MAX_PATH and sys.platform.startswith("linux"):
            self._fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            self.path = f"/proc/self/fd/{self._fd}/{path.name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def peer(sock: socket.socket) -> Peer | None:
    """Who is at the other end of a connected Unix socket (None where the platform does
    not say: there the directory's mode alone keeps strangers out)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, 12))
    return Peer(pid, uid, gid)


def connect(path: Path, timeout_s: float) -> tuple[socket.socket, Peer | None]:
    """A connection to the owner at ``path``, checked to run as this user or as the user
    who owns the ledger's directory (a team member reading through ``files.group``);
    raises ``ConnectionError`` if nobody listens and ``OwnerError`` for a stranger's."""
    address = Address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect(address.path)
        found = peer(sock)
        if found is not None and found.uid not in (os.geteuid(), path.parent.stat().st_uid):
            raise OwnerError(
                f"the ledger's owner socket {path} is served by uid {found.uid}, not by you "
                f"(uid {os.geteuid()}) nor the ledger's owner: refusing to read from it"
            )
    except BaseException:
        sock.close()
        raise
    finally:
        address.close()
    return sock, found
