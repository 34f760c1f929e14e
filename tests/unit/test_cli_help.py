"""Every ``handrail`` command's ``--help``, as a newcomer reads it: a flag shows as a flag
(``--json``), never with a ``<bool>`` placeholder as if it took a value."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from handrail.cli.app import app


def _help(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, (words, result.output)
    return result.output


def _commands(output: str) -> list[str]:
    """The command names a group's help lists under ``Commands`` (plain or rich help)."""
    section = output.split("Commands", 1)[1] if "Commands" in output else ""
    return re.findall(r"^(?:  |│ )([a-z][\w-]*) ", section, re.MULTILINE)


def test_no_help_shows_a_bool_placeholder() -> None:
    seen, shown = [], {}
    for name in _commands(_help()):
        out = _help(name)
        seen.append(name)
        shown[name] = out
        for sub in _commands(out):
            seen.append(f"{name} {sub}")
            shown[f"{name} {sub}"] = _help(name, sub)
    assert {"explain", "sql", "demo", "ledger verify", "approvals list", "run"} <= set(seen)
    assert [words for words, out in shown.items() if "<bool>" in out] == []
    assert re.search(r"^  --json +Print JSON", shown["explain"], re.MULTILINE)
