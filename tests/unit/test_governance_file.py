"""The governance file: a bad one names the file, the line and the field; the published
JSON Schema is the one the models give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handrail.governance import Governance, GovernanceError, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        pytest.param(
            "agents:\n  bot: {owner: t}\nrights:\n  - action: x\n    effect: maybe\n",
            5, "rights.0.effect", "Input should be", id="unknown-effect",
        ),
        pytest.param(
            "agents:\n  bot: {owner: t}\nrights:\n  - action: x\n    effect: allow\n"
            "  - action: y\n    effect: allow\n    spend: {per_request_usd: -1}\n",
            8, "rights.1.spend.per_request_usd", "Input should be greater than 0",
            id="negative-cap",
        ),
        pytest.param(
            "agents:\n  bot: {}\n", 2, "agents.bot.owner", "Field required", id="missing-owner",
        ),
        pytest.param(
            "agents:\n  bot: {owner: t}\nrights:\n  - action: x\n    effect: allow\n"
            "    when: always\n",
            6, "rights.0.when", "Extra inputs", id="unknown-field",
        ),
        pytest.param("mode: loose\n", 1, "mode", "Input should be", id="unknown-mode"),
        pytest.param(
            "handoffs:\n  - from: a\n    to: b\n    owner: t\n    contract:\n"
            "      model: pkg.mod:Name\n      json_schema: {type: object}\n",
            6, "handoffs.0.contract", "Value error, give exactly one of", id="two-contracts",
        ),
        pytest.param(
            "handoffs:\n  - from: a\n    to: b\n    owner: t\n    contract:\n"
            "      json_schema: {type: objekt}\n",
            6, "handoffs.0.contract", "Value error, not a valid JSON Schema", id="bad-json-schema",
        ),
    ],
)  # fmt: skip
def test_an_invalid_file_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text(text)
    with pytest.raises(GovernanceError) as err:
        load(path)
    assert f"{path}:{line}: {field}: {message}" in str(err.value)


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("agents:\n  bot: {owner: t\nrights: []\n")
    with pytest.raises(GovernanceError, match=rf"{path}:3: not valid YAML"):
        load(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GovernanceError, match="cannot read the governance file"):
        load(tmp_path / "nope.yaml")


def test_the_example_file_is_valid() -> None:
    gov = load(ROOT / "docs" / "governance.example.yaml")
    assert (gov.mode, len(gov.rights), gov.handoffs[0].receiver) == ("enforce", 4, "analyst")


def test_the_published_json_schema_is_current() -> None:
    published = json.loads((ROOT / "docs" / "governance.schema.json").read_text())
    assert published == Governance.model_json_schema(by_alias=True)
