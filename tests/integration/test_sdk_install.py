"""``pip install handrail`` with no extras, into a fresh venv (``bench.install`` makes it;
``HANDRAIL_TEST_WHEELS=DIR`` installs offline from the wheels in DIR): the server side is
absent, an agent records into the spool, and the ``handrail`` command names the extra it
needs instead of failing on an import."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.install import make_sdk_venv, server_side_present

pytestmark = pytest.mark.timeout(900)

AGENT = """
import sys
from pathlib import Path
from handrail.producers import Recorder
from handrail.settings import AgentIdentity, Settings, SpoolSettings

spool = Path(sys.argv[1])
with Recorder(Settings(spool=SpoolSettings(dir=spool)), AgentIdentity(name="sdk-only")) as rec:
    with rec.workflow():
        rec.decision("sdk.install.check", "recorded with the SDK alone")
server = {"chdb", "clickhouse_connect", "faust", "uvloop", "typer", "rich", "yaml", "jsonschema"}
print(*sorted(server & {name.split(".")[0] for name in sys.modules}))
"""
READ = """
import sys
from pathlib import Path
import fastavro

records = [r for f in sorted(Path(sys.argv[1]).rglob("*")) if f.is_file() and f.suffix == ".avro"
           for r in fastavro.reader(f.open("rb"))]
print(sum("sdk.install.check" in repr(r) for r in records))
"""


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = os.environ.get("HANDRAIL_TEST_WHEELS")
    place = tmp_path_factory.mktemp("sdk") / "venv"
    return make_sdk_venv(place, Path(wheels) if wheels else None)


def run(python: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_the_sdk_install_holds_no_server_side(sdk_python: Path) -> None:
    assert server_side_present(sdk_python) == []
    done = run(sdk_python, "import importlib.util as u; print(u.find_spec('typer'))")
    assert done.stdout.strip() == "None"


def test_an_agent_records_with_the_sdk_alone(sdk_python: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    done = run(sdk_python, AGENT, str(spool))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""  # nothing of the server side, nor yaml or jsonschema, loaded
    read = run(sdk_python, READ, str(spool))
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "1"


@pytest.mark.parametrize("args", [("--help",), ("run",), ("approvals", "list")])
def test_the_command_names_the_extra_it_needs(sdk_python: Path, args: tuple[str, ...]) -> None:
    done = subprocess.run([str(sdk_python.parent / "handrail"), *args], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "pip install 'handrail[cli]'" in done.stderr
    assert "handrail[server]" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
