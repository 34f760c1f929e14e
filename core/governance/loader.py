"""Read a governance file: YAML, validated by the pydantic models; every error names the
file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from handrail.errors import HandrailError
from handrail.governance.model import Governance


class GovernanceError(HandrailError):
    """The governance file cannot be read or is not valid; the message says where."""


def load(path: Path) -> Governance:
    try:
        text = path.read_text()
    except OSError as exc:
        raise GovernanceError(f"{path}: cannot read the governance file: {exc}") from exc
    return parse(text, str(path))


def parse(text: str, source: str = "<governance>") -> Governance:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise GovernanceError(f"{source}{line}: not valid YAML: {exc}") from exc
    try:
        return Governance.model_validate(data or {})
    except ValidationError as exc:
        problems = [
            f"{source}:{_line(root, err['loc'])}: {'.'.join(map(str, err['loc'])) or '(top)'}: "
            f"{err['msg']}"
            for err in exc.errors()
        ]
        raise GovernanceError("invalid governance file:\n  " + "\n  ".join(problems)) from exc


def _line(node: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest YAML node on the error's path (1-based)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line
