"""Forensic reads are one SELECT over the ledger and nothing else, on every path: a reader
of its own (``ClientReader``), the owner of an embedded ledger over its socket, and the
``handrail sql`` command (which reaches that owner). Real chdb, real processes.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from handrail.ledger.client import connect
from handrail.ledger.errors import OwnerError, QueryError, QueryRefused
from handrail.ledger.migrate import migrate
from handrail.ledger.owner import MAX_CLIENTS, REQUEST_S, OwnerServer
from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import ClientReader, Reader, open_reader
from handrail.settings import ReadSettings

LIMITS = ReadSettings(max_seconds=5, max_rows=1_000, max_bytes=1 << 20, max_memory=256 << 20)
ESCAPES = {
    "file table function": ("SELECT * FROM file('/etc/hostname', 'LineAsString')", "file()"),
    "file function": ("SELECT file('/etc/hostname')", "file()"),
    "write a file": (
        "INSERT INTO FUNCTION file('escape.txt', 'RawBLOB') SELECT 'written'",
        "only a SELECT",
    ),
    "into outfile": ("SELECT 'written' INTO OUTFILE 'outfile.txt'", "INTO OUTFILE"),
    "url": ("SELECT * FROM url('http://127.0.0.1:9/x', CSV, 'a Int32')", "url()"),
    "s3": ("SELECT * FROM s3('http://127.0.0.1:9/b/k.csv', CSV, 'a Int32')", "s3()"),
    "remote": ("SELECT * FROM remote('127.0.0.1:9', system.one)", "remote()"),
    "executable": ("SELECT * FROM executable('touch x', CSV, 'a Int32')", "executable()"),
    "mysql": ("SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')", "mysql()"),
    "postgresql": ("SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')", "postgresql"),
    "input": ("SELECT * FROM input('a Int32')", "input()"),
    "a table function in IN": ("SELECT 1 WHERE 1 IN (SELECT * FROM file('x'))", "file()"),
    "a dictionary": ("SELECT dictGet('d', 'a', toUInt64(1))", "dictGet()"),
    "a file named as a table": ("SELECT * FROM `stolen.csv`", "not a table of the ledger"),
    "a file named plainly": ("SELECT * FROM stolen", "not a table of the ledger"),
    "a file behind IN": ("SELECT 1 WHERE (1, 2) IN stolen", "not a table of the ledger"),
    "a quoted path": ("SELECT * FROM '/etc/hostname'", "not a plain identifier"),
    "a system table": ("SELECT query FROM system.processes", "not a table of the ledger"),
    "a path behind an alias-like name": (
        "SELECT * FROM `x (alias y/../../../../../../../../etc/hostname` LIMIT 1",
        "not a plain identifier",
    ),
    "a line break in a name": (
        "SELECT * FROM `stolen\n      TableIdentifier events`",
        "malformed",
    ),
    "a line break in an alias": (
        "SELECT 1 AS `a) (children 1)\n     Literal 1 (alias b`, * FROM `stolen`",
        "malformed",
    ),
    "a path as an identifier parameter": (
        "SELECT * FROM {t:Identifier}",
        "not a plain identifier",
    ),
    "a default of a format structure": (
        "SELECT x FROM format(JSONEachRow, 'x String DEFAULT file(''/etc/hostname'')', '{}')",
        "format()",
    ),
    "a default of a values structure": (
        "SELECT * FROM values('x String DEFAULT file(''/etc/hostname'')', ('a'))",
        "values()",
    ),
    "the server's paths": ("SELECT getServerSetting('path')", "getServerSetting()"),
    "two statements": ("SELECT 1; SELECT 2", "Multi-statements"),
    "a statement after a select": (
        "SELECT 1; INSERT INTO FUNCTION file('escape.txt', 'RawBLOB') SELECT 'w'",
        "Multi-statements",
    ),
    "an insert": ("INSERT INTO quarantine (topic) VALUES ('x')", "only a SELECT"),
    "ddl": ("DROP TABLE events", "only a SELECT"),
    "set": ("SET max_result_rows = 0", "only a SELECT"),
    "system": ("SYSTEM DROP QUERY CACHE", "only a SELECT"),
    "kill": ("KILL QUERY WHERE 1", "only a SELECT"),
    "settings clause": ("SELECT 1 SETTINGS max_result_rows = 0", "SETTINGS"),
    "format": ("SELECT 1 FORMAT JSON", "FORMAT"),
    "too many rows": ("SELECT number FROM numbers(5000)", "max rows"),
    "a result in one wide block": (
        "SELECT repeat('x', 100000) AS a FROM numbers(300)",
        "larger than",
    ),
    "too much memory": (
        "SELECT length(groupArray(repeat('x', 1000))) FROM numbers(1000000)",
        "memory limit",
    ),
    "too long": (
        "WITH RECURSIVE r AS (SELECT 0 AS n UNION ALL SELECT n + 1 + sleep(1) FROM r "
        "WHERE n < 30) SELECT max(n) FROM r",
        "Timeout exceeded",
    ),
}
PARAMETERS = {"a path as an identifier parameter": {"t": "x (alias y/../../../../etc/hostname"}}
PLAIN = "SELECT count() AS n FROM events WHERE workflow_id = {w:String}"


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ledger whose owner (this process) serves it; the working directory holds files a
    query might try to read in place of a table."""
    tmp = tmp_path_factory.mktemp("reads")
    ledger = tmp / "ledger"
    writer = connect(f"chdb://{ledger}")
    migrate(writer)
    for name in ("stolen", "stolen.csv"):
        (tmp / name).write_text("1,2\n")
    cwd = Path.cwd()
    os.chdir(tmp)
    owner = OwnerServer(f"chdb://{ledger}", ledger, LIMITS)
    try:
        yield tmp
    finally:
        owner.stop()
        os.chdir(cwd)
        writer.close()


def files(tmp: Path) -> set[str]:
    """Every path under ``tmp`` but the ledger's (the engine renames and removes its own
    parts while a walk lists them)."""
    found = set()
    for root, dirs, names in os.walk(tmp):
        dirs[:] = [d for d in dirs if d != "ledger"]
        found.update(str((Path(root) / n).relative_to(tmp)) for n in (*dirs, *names))
    return found


def own_reader(tmp: Path) -> Reader:
    return ClientReader(f"chdb://{tmp / 'ledger'}", LIMITS)


def owner_reader(tmp: Path) -> Reader:
    reader = open_reader(f"chdb://{tmp / 'ledger'}", LIMITS)
    assert type(reader).__name__ == "OwnerReader"
    return reader


def cli(tmp: Path, sql: str, *params: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANDRAIL_LEDGER__DSN": f"chdb://{tmp / 'ledger'}",
           "HANDRAIL_LEDGER__READS__MAX_SECONDS": "5"}  # fmt: skip
    argv = [sys.executable, "-m", "handrail", "sql", sql, "--json"]
    argv += [arg for p in params for arg in ("-p", p)]
    return subprocess.run(
        argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("escape", list(ESCAPES))
@pytest.mark.parametrize("path", ["own reader", "owner"])
def test_a_query_that_reaches_beyond_the_ledger_is_refused(
    place: Path, path: str, escape: str
) -> None:
    sql, reason = ESCAPES[escape]
    before = files(place)
    reader = own_reader(place) if path == "own reader" else owner_reader(place)
    try:
        with pytest.raises(QueryError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            reader.query(sql, PARAMETERS.get(escape))
        assert reader.query(PLAIN, {"w": "x"}) == [{"n": 0}], "the reader still reads"
    finally:
        reader.close()
    assert files(place) == before


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_handrail_sql_refuses_them_too(place: Path, escape: str) -> None:
    sql, reason = ESCAPES[escape]
    before = files(place)
    refused = cli(place, sql, *(f"{k}={v}" for k, v in PARAMETERS.get(escape, {}).items()))
    assert refused.returncode == 1
    assert reason in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert files(place) == before


def test_handrail_sql_runs_a_plain_select_with_parameters(place: Path) -> None:
    plain = cli(place, PLAIN, "w=ticket-1")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == [{"n": 0}]


def test_a_refused_query_is_a_refusal_not_an_error(place: Path) -> None:
    reader = own_reader(place)
    try:
        with pytest.raises(QueryRefused):
            reader.query(ESCAPES["write a file"][0])
    finally:
        reader.close()


# -- the owner's door -----------------------------------------------------------------------


def raw(tmp: Path, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REQUEST_S + 5)
        sock.connect(str(socket_path(tmp / "ledger")))
        sock.sendall(request)
        return b"".join(iter(lambda: sock.recv(65536), b""))


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /query HTTP/1.0\r\nContent-Length: 7\r\n\r\nnotjson", b" 400 "),
        (b'POST /query HTTP/1.0\r\nContent-Length: 9\r\n\r\n{"sql":1}', b" 400 "),
        (b"POST /query HTTP/1.0\r\n\r\n", b" 411 "),
        (b"POST /query HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n", b" 413 "),
        (b"GET /query HTTP/1.0\r\n\r\n", b" 405 "),
        (b"POST /other HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", b" 404 "),
        (b"\x00\x01garbage\r\n\r\n", b" 400 "),
    ],
)
def test_the_owner_answers_malformed_requests_with_a_4xx(
    place: Path, request_bytes: bytes, status: bytes
) -> None:
    assert status in raw(place, request_bytes).split(b"\r\n", 1)[0]


def test_idle_and_slow_clients_are_cut_and_a_crowd_is_bounded(place: Path) -> None:
    crowd = []
    for _ in range(40):  # half-open: connected, a request never finished
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(socket_path(place / "ledger")))
        with contextlib.suppress(OSError):  # beyond the cap the owner has hung up
            sock.sendall(b"POST /query HTTP/1.0\r\nContent-Len")
        crowd.append(sock)
    threads = threading.active_count()
    # served: a thread and its deadline each; refused: a thread each; and a few of pytest's
    assert threads <= 8 + MAX_CLIENTS * 3, f"{threads} threads for 40 idle clients"
    try:
        started = time.monotonic()
        for sock in crowd:
            sock.settimeout(REQUEST_S + 5)
            with contextlib.suppress(ConnectionResetError):  # a flood is hung up on
                sock.recv(1024)  # answered (503 beyond the cap) or cut at the deadline
        assert time.monotonic() - started < REQUEST_S + 3
        reader = owner_reader(place)
        assert reader.query(PLAIN, {"w": "x"}) == [{"n": 0}]
    finally:
        for sock in crowd:
            sock.close()


FAKE_OWNER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("ready", flush=True)
answer = b'HTTP/1.0 200 OK\r\nContent-Length: 22\r\n\r\n{"rows": [{"n": 666}]}'
while True:
    try:
        s.accept()[0].sendall(answer)
    except OSError:
        pass
"""
STRANGER_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:  # the owner may turn it away before it has sent anything
    s.sendall(b'POST /query HTTP/1.0\r\nContent-Length: 19\r\n\r\n{"sql": "SELECT 1"}')
except OSError:
    pass
print(b"".join(iter(lambda: s.recv(4096), b"")).decode())
"""
STRANGER_PYTHON = "/usr/bin/python3"
"""A Python another user may run (the test's own may live in root's home)."""


@contextmanager
def opened_up(*paths: Path) -> Iterator[None]:
    """``paths`` open to every user (and their parent directories passable) for a while."""
    modes = {p: p.stat().st_mode & 0o777 for p in {*paths, *paths[0].parents}}
    try:
        for p, mode in modes.items():
            p.chmod(0o777 if p in paths else mode | 0o001)
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def as_nobody() -> dict[str, int]:
    if os.geteuid() != 0:
        message = "needs root to run a process as another user"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)  # CI runs as root: never skipped there
        pytest.skip(message)
    stranger = pwd.getpwnam("nobody")
    return {"user": stranger.pw_uid, "group": stranger.pw_gid}


def test_a_reader_refuses_an_owner_socket_of_another_user(tmp_path: Path) -> None:
    """A stranger's process listening where the owner's socket should be is refused before
    anything is sent (the kernel names its user); an owner file of the old kind, pointing
    at a stranger's server, is not even read."""
    nobody = as_nobody()
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / ".handrail-owner.json").write_text(json.dumps({"url": "http://127.0.0.1:9"}))
    with opened_up(ledger):
        fake = subprocess.Popen(
            [STRANGER_PYTHON, "-c", FAKE_OWNER, str(socket_path(ledger))],
            stdout=subprocess.PIPE, text=True, **nobody,
        )  # fmt: skip
        assert fake.stdout is not None
        assert fake.stdout.readline().strip() == "ready"
    try:
        with pytest.raises(OwnerError, match=f"uid {nobody['user']}, not by you"):
            open_reader(f"chdb://{ledger}", LIMITS)
        refused = subprocess.run(
            [sys.executable, "-m", "handrail", "sql", "SELECT 1"],
            env={**os.environ, "HANDRAIL_LEDGER__DSN": f"chdb://{ledger}"},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert refused.returncode == 1
        assert "666" not in refused.stdout
        assert "not by you" in refused.stdout + refused.stderr
    finally:
        fake.kill()
        fake.wait()


def test_the_owner_serves_no_other_user(place: Path) -> None:
    """A process of another user that reaches the socket (its directory opened up on
    purpose here) is turned away by the owner itself."""
    nobody = as_nobody()
    ledger = place / "ledger"
    with opened_up(socket_path(ledger), ledger):
        answer = subprocess.run(
            [STRANGER_PYTHON, "-c", STRANGER_CLIENT, str(socket_path(ledger))],
            capture_output=True, text=True, timeout=60, check=False, **nobody,
        )  # fmt: skip
    assert answer.stdout.startswith("HTTP/1.0 403 "), answer.stdout + answer.stderr
    assert "may not read this ledger" in answer.stdout


def ask_as(uid: int, gid: int, sock: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGER_PYTHON, "-c", STRANGER_CLIENT, str(sock)], user=uid, group=gid,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_team_group_reads_through_the_owner_and_others_do_not(tmp_path: Path) -> None:
    """With ``files.group``, ``handrail run`` gives the ledger's directory and its socket to
    the group: a process whose group it is gets answers, another user's does not."""
    nobody = as_nobody()
    team = grp.getgrnam("daemon").gr_gid
    env = {**os.environ, "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool"),
           "HANDRAIL_SPOOL__CONTROL_LOG": str(tmp_path / "control.log"),
           "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
           "HANDRAIL_FILES__GROUP": "daemon"}  # fmt: skip
    run = subprocess.Popen([sys.executable, "-m", "handrail", "run"], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    sock = socket_path(tmp_path / "ledger")
    try:
        deadline = time.monotonic() + 120
        while not sock.exists():
            assert run.poll() is None, "handrail run exited"
            assert time.monotonic() < deadline, "no owner socket"
            time.sleep(0.1)
        assert (sock.stat().st_gid, sock.stat().st_mode & 0o777) == (team, 0o660)
        assert (tmp_path / "ledger").stat().st_gid == team
        with opened_up(tmp_path):
            member = ask_as(nobody["user"], team, sock)
            stranger = ask_as(nobody["user"], nobody["group"], sock)
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0
    assert member.stdout.startswith("HTTP/1.0 200 "), member.stdout + member.stderr
    assert '"rows": [{"1": 1}]' in member.stdout
    assert "Permission denied" in stranger.stderr, stranger.stdout + stranger.stderr


def test_verify_of_a_held_ledger_says_who_holds_it(place: Path) -> None:
    env = {**os.environ, "HANDRAIL_LEDGER__DSN": f"chdb://{place / 'ledger'}", "COLUMNS": "500"}
    shown = subprocess.run(
        [sys.executable, "-m", "handrail", "ledger", "verify"], env=env, cwd=place,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 1
    assert "is open elsewhere" in shown.stdout
    assert "Traceback" not in shown.stdout + shown.stderr
