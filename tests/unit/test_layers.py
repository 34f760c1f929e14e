"""The layers point one way at run time: the SDK and the settings load nothing of the server
side, ``handrail --help`` loads no pipeline, a command whose extra is missing names it, and
no module imports a package that is still importing it (import-linter checks the rest:
``[tool.importlinter]`` in pyproject.toml)."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from handrail.cli import command
from handrail.cli.lazy import LAZY, LazyCommand

SERVER_SIDE = {
    "chdb", "clickhouse_connect", "faust", "mode", "aiokafka", "uvloop", "httpx", "typer",
    "rich", "handrail.processors", "handrail.ledger", "handrail.embedded", "handrail.demo",
    "handrail.cli",
}  # fmt: skip
BLOCKED = ("chdb", "clickhouse_connect", "faust", "mode", "aiokafka", "uvloop", "httpx")
"""The server extra's packages, made unimportable to play an install without it."""


def loaded_after(code: str, *, blocked: tuple[str, ...] = ()) -> set[str]:
    """The packages (and handrail's subpackages) a fresh interpreter has loaded after ``code``."""
    script = (
        "import json, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"{code}\n"
        "names = {n for n, m in sys.modules.items() if m is not None}\n"
        "print(json.dumps(sorted({'.'.join(n.split('.')[:2]) if n.startswith('handrail.') "
        "else n.split('.')[0] for n in names})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    return set(json.loads(done.stdout.splitlines()[-1]))


def handrail(*args: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.argv = ['handrail', *{args!r}]\n"
        "from handrail.cli.command import main\n"
        "main()\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip


def test_the_sdk_loads_nothing_of_the_server_side_nor_what_it_needs_later() -> None:
    # PyYAML with a governance file, jsonschema with a JSON Schema contract, kafka-python
    # with a Kafka connection, PyNaCl with public keys to verify; cryptography only to sign
    loaded = loaded_after("import handrail.producers")
    later = {"yaml", "jsonschema", "kafka", "nacl", "cryptography"}
    assert loaded & (SERVER_SIDE | later) == set()


def test_the_settings_load_no_processors() -> None:
    assert loaded_after("import handrail.settings") & SERVER_SIDE == set()


def test_help_loads_no_pipeline_ledger_or_faust() -> None:
    code = (
        "sys.argv = ['handrail', '--help']\nfrom handrail.cli.command import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    loaded = loaded_after(code)
    assert {"typer", "handrail.cli"} <= loaded  # the help was made
    pipeline = {"chdb", "clickhouse_connect", "faust", "mode", "aiokafka", "uvloop",
                "handrail.embedded", "handrail.ledger", "handrail.processors"}  # fmt: skip
    assert loaded & pipeline == set()


def test_without_the_server_extra_help_lists_every_command() -> None:
    done = handrail("--help", blocked=BLOCKED)
    assert done.returncode == 0, done.stderr
    for name in LAZY:
        assert f" {name} " in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("sql", "SELECT 1"),
        ("explain", "wf-1"),
        ("run",),
        ("ledger", "verify"),
        ("sink", "run"),
        ("processors", "run", "--kafka", "127.0.0.1:1"),
    ],
)
def test_a_command_without_the_server_extra_names_it(args: tuple[str, ...]) -> None:
    done = handrail(*args, blocked=BLOCKED)
    assert done.returncode == 2
    assert "handrail[server]" in done.stderr
    assert f"handrail {args[0]}: needs " in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(LAZY))
def test_a_lazy_command_is_the_command_it_names(name: str) -> None:
    lazy = LazyCommand(name, *LAZY[name])
    real = lazy.load()
    assert (real.help or "").split("\n\n")[0].strip() == lazy.help


def _own_package_imports() -> list[str]:
    """``from P import m`` in a module of package P (or below) whose package P imports that
    module back: the module runs while P is half made, and P's names may be missing."""
    graph = grimp.build_graph("handrail", exclude_type_checking_imports=True)
    found = []
    for module in sorted(graph.modules):
        path = graph_file(module)
        if path is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            package = node.module
            if not module.startswith(package + ".") or package not in graph.modules:
                continue
            if graph.find_shortest_chain(importer=package, imported=module) is not None:
                found.append(f"{module}: from {package} import ...")
    return found


def graph_file(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def test_no_module_imports_the_package_that_is_importing_it() -> None:
    assert _own_package_imports() == []


def test_every_module_of_the_root_is_in_a_layer() -> None:
    """A new module or package of ``handrail`` gets a place in the layers contract, or
    import-linter would never check it."""
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    named = {name.strip() for layer in layers["layers"] for name in re.split(r"[|:]", layer)}
    graph = grimp.build_graph("handrail")
    tops = {module.split(".")[1] for module in graph.modules if module != "handrail"}
    assert tops - named == set()


def test_the_command_knows_what_the_extras_install() -> None:
    """``handrail.cli.command`` names the extra for a missing module it lists; each distribution
    the cli and server extras install (by the venv's metadata) has its module listed."""
    wanted = set()
    for requirement in importlib.metadata.requires("handrail") or []:
        if re.search(r"extra == .(cli|server).", requirement):
            wanted.add(re.split(r"[\s\[<>=;!~]", requirement, maxsplit=1)[0].lower())
    wanted.discard("handrail")  # server includes handrail[cli]
    modules: dict[str, set[str]] = {name: set() for name in wanted}
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            modules.get(dist.lower().replace("_", "-"), set()).add(top)
    assert {"chdb", "faust-streaming", "uvloop", "typer"} <= wanted
    assert {name for name, tops in modules.items() if not tops & command.EXTRA_MODULES} == set()


def test_a_missing_module_of_no_extra_is_a_bug_and_shows_as_one() -> None:
    done = handrail("sql", "SELECT 1", blocked=("orjson",))  # the SDK's own: a broken install
    assert done.returncode == 1
    assert "handrail[server]" not in done.stderr
    assert "ModuleNotFoundError" in done.stderr
