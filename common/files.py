"""Who may read what handrail writes: file and directory modes (I/O).

Private by default: directories 0700, files 0600. With ``files.group`` set, that Unix
group may read too: directories 0750 (plus set-group-ID, so that what a library creates
inside, e.g. the ClickHouse engine's parts, gets the group as well), files 0640, both
given to the group.

A file is created with its mode from the start (``os.open`` with 0600, then given to the
group and opened up to 0640): nobody else can read it in between. A directory or file
that handrail opens again is set to its mode when this user owns it, so what an earlier
version left at 0755/0644 is tightened. The SDK uses these explicit modes; the
``handrail`` commands also set their umask (``FileModes.restrict_umask``) for what
libraries create. An agent's process keeps its own umask.
"""

from __future__ import annotations

import fcntl
import grp
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from handrail.errors import HandrailError

if TYPE_CHECKING:
    from handrail.settings import FileSettings


class FileGroupError(HandrailError):
    """``files.group`` names a group this machine does not have, or one this user is not
    in (so cannot give files to)."""


@dataclass(frozen=True, slots=True)
class FileModes:
    """The modes handrail's directories and files get; build one with ``of`` at start and
    pass it down."""

    gid: int | None = None
    """The group that may read; None: private to this user."""

    @classmethod
    def of(cls, settings: FileSettings) -> FileModes:
        """The modes the ``files`` settings ask for; ``FileGroupError`` for a group that
        does not exist or that this user is not in."""
        return cls() if settings.group is None else cls(_gid(settings.group))

    @property
    def directory_mode(self) -> int:
        """0700, or 0750 and set-group-ID with a group."""
        return 0o700 if self.gid is None else 0o2750

    @property
    def file_mode(self) -> int:
        """0600, or 0640 with a group."""
        return 0o600 if self.gid is None else 0o640

    @property
    def umask(self) -> int:
        """0o077, or 0o027 with a group."""
        return 0o077 if self.gid is None else 0o027

    def restrict_umask(self) -> None:
        """Set this process's umask to ``umask``: for handrail's own commands only, never in
        an agent's process."""
        os.umask(self.umask)

    def directory(self, path: Path) -> Path:
        """A directory handrail owns (spool, ledger, checkpoints): create it and its missing
        parents with the directory mode, or set it to that mode if it exists. Returns it."""
        self._make(path)
        self.secure(path)
        return path

    def parents(self, path: Path) -> None:
        """Create the missing parent directories of the file ``path`` with the directory
        mode; existing ones are left as they are (they may not be handrail's)."""
        self._make(path.parent)

    def open(self, path: Path, mode: str = "ab") -> IO[Any]:
        """``open(path, mode)``, with a file it creates made with the file mode from the
        start, and an existing one of this user's set to it."""
        return open(path, mode, opener=self._opener)

    def write(self, path: Path, data: bytes | str, *, fsync: bool = True) -> None:
        """Replace ``path`` with ``data`` atomically: written to ``<name>.tmp`` beside it
        (with the file mode), fsync'd when asked, renamed over it, the rename made durable.
        One writer per path at a time."""
        tmp = path.with_name(f"{path.name}.tmp")
        with self.open(tmp, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if fsync:
            _fsync_directory(path.parent)

    def secure(self, target: Path | int) -> None:
        """Set an existing directory or file (a path or an open descriptor) to its mode, and
        give it to the group; one that another user owns, or a symlink, is left alone."""
        st = os.fstat(target) if isinstance(target, int) else os.lstat(target)
        if st.st_uid != os.geteuid() or stat.S_ISLNK(st.st_mode):
            return
        want = self.directory_mode if stat.S_ISDIR(st.st_mode) else self.file_mode
        gid = st.st_gid if self.gid is None else self.gid
        if gid != st.st_gid:
            os.chown(target, -1, gid)  # this clears set-group-ID: the chmod sets it again
        if gid != st.st_gid or stat.S_IMODE(st.st_mode) != want:
            os.chmod(target, want)

    def _opener(self, path: str, flags: int) -> int:
        # never through a symlink: one planted in handrail's directories would have a
        # file elsewhere truncated and given handrail's mode
        fd = os.open(path, flags | os.O_NOFOLLOW, 0o600)
        try:
            self.secure(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _make(self, path: Path) -> None:
        missing: list[Path] = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                continue  # made meanwhile by another process
            self.secure(directory)


PRIVATE = FileModes()
"""The default: directories 0700, files 0600."""


def _gid(group: str) -> int:
    try:
        gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise FileGroupError(
            f"files.group: there is no Unix group {group!r} on this machine"
        ) from None
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise FileGroupError(
            f"files.group: this user is not in the group {group!r}, so cannot give it files"
        )
    return gid


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(handle: IO[Any], *, shared: bool = False) -> bool:
    """Take ``handle``'s lock (``flock``: exclusive, or shared) without waiting; False when
    another process holds it (the handle stays open)."""
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(handle: IO[Any]) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def locked(handle: IO[Any]) -> Iterator[None]:
    """``handle``'s exclusive lock, waited for, held for the block."""
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        unlock(handle)
