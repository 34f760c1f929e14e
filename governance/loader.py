"""Read a governance file: YAML, validated by the pydantic models; every error names the
file, the line and the field. The file means exactly what it says: a key given twice, a
number that is not finite (``.inf``, ``1e400``, ``"nan"``), a wait or deadline longer than
a year and YAML that is not valid are refused at their line (``strict_yaml``); given the
agent that loads it, each handoff contract on that agent's edges is imported and checked
at load, not at the first handoff. Processes that are not that agent (the CLI, the
processors) never import agent code."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from handrail.errors import HandrailError
from handrail.governance.model import Governance

if TYPE_CHECKING:  # yaml loads only when a governance file is read
    from yaml.nodes import Node

MAX_FILE_BYTES = 16 * 1024 * 1024
"""A governance file is a page or two; a larger one is a mistake (or a trick)."""
MAX_DURATION_S = 366 * 86_400
"""The longest wait or deadline a file may give: an approval's expiry and a handoff's
deadline are stamped on events, which the ledger holds only up to 2299 (a wait of 10^12 s
raised ``OverflowError`` into the agent at its first approval)."""


class GovernanceError(HandrailError):
    """The governance file cannot be read or is not valid; the message says where."""


def load(path: Path, *, agent: str | None = None) -> Governance:
    """The governance file at ``path``; ``agent``: the agent that will apply it (its
    handoff contracts are imported and checked now)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise GovernanceError(f"{path}: cannot read the governance file: {exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise GovernanceError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise GovernanceError(f"{path}:{line}: not UTF-8 (byte {exc.start})") from None
    # Newlines as a text file reads them (``\r\n`` and ``\r`` alike), so lines match.
    return parse(text.replace("\r\n", "\n").replace("\r", "\n"), str(path), agent=agent)


def parse(text: str, source: str = "<governance>", *, agent: str | None = None) -> Governance:
    """A governance file's text; ``source`` names it in errors; ``agent`` as for ``load``."""
    from handrail.governance.strict_yaml import StrictYamlError  # noqa: PLC0415 - loads yaml
    from handrail.governance.strict_yaml import load as load_yaml  # noqa: PLC0415

    try:
        root, data = load_yaml(text)
    except StrictYamlError as exc:
        line = "" if exc.line is None else f":{exc.line}"
        raise GovernanceError(f"{source}{line}: {exc.message}") from None
    try:
        governance = Governance.model_validate(data or {})
    except ValidationError as exc:
        problems = [
            f"{source}:{_line(text, root, err['loc'])}: {_dotted(err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
        raise GovernanceError("invalid governance file:\n  " + "\n  ".join(problems)) from None
    # A string the models read as a number ("inf", "Infinity"): YAML had no float there.
    problems = [
        f"{source}:{_line(text, root, loc)}: {_dotted(loc)}: {problem}"
        for loc, problem in _numbers(governance.model_dump(by_alias=True), ())
    ]
    if agent is not None:
        problems += _contract_problems(governance, agent, text, root, source)
    if problems:
        raise GovernanceError("invalid governance file:\n  " + "\n  ".join(problems))
    return governance


@cache
def contract_model(path: str) -> type[BaseModel]:
    """The pydantic model a handoff contract names (``pkg.mod:Name``), imported."""
    module, _, name = path.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except Exception as exc:  # importing runs the module: any error means no contract
        raise GovernanceError(
            f"handoff contract model {path} cannot be imported: {type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseModel)) or found is BaseModel:
        raise GovernanceError(f"handoff contract model {path} is not a pydantic model")
    return found


def _contract_problems(
    governance: Governance, agent: str, text: str, root: Node | None, source: str
) -> list[str]:
    problems = []
    for n, edge in enumerate(governance.handoffs):
        contract = edge.contract
        if contract is None or contract.model is None or agent not in (edge.sender, edge.receiver):
            continue
        try:
            contract_model(contract.model)
        except GovernanceError as exc:
            loc = ("handoffs", n, "contract", "model")
            problems.append(f"{source}:{_line(text, root, loc)}: {_dotted(loc)}: {exc}")
    return problems


def _numbers(value: Any, loc: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Numbers the SDK could not act on: not finite, or a duration (a field named ``*_s``)
    past ``MAX_DURATION_S``."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if not math.isfinite(value):
            yield loc, f"{value!r} is not a finite number"
        elif loc and str(loc[-1]).endswith("_s") and value > MAX_DURATION_S:
            yield loc, f"{value:g} s is longer than {MAX_DURATION_S:,} s (366 days)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _numbers(item, (*loc, n))


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(map(str, loc)) or "(top)"


def _line(text: str, node: Node | None, loc: tuple[Any, ...]) -> int:
    """The line of the deepest YAML node on the error's path (1-based)."""
    from yaml.nodes import MappingNode, SequenceNode  # noqa: PLC0415 - parse loaded yaml

    from handrail.governance.strict_yaml import line_at  # noqa: PLC0415

    line = 1 if node is None else line_at(text, node.start_mark.index)
    for part in loc:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = line_at(text, node.start_mark.index)
    return line
