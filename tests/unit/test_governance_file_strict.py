"""The governance file means exactly what it says: a key given twice is refused naming both
lines, a number that is not finite is refused at its line, errors name the line an editor
shows, and the loading agent's handoff contracts are imported and checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from handrail.governance import GovernanceError, load, parse
from handrail.producers import Recorder
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings

AGENTS = "agents:\n  bot: {owner: t}\n"
RIGHT = "rights:\n  - action: x\n    effect: allow\n"


def refused(text: str, path: Path, agent: str | None = None) -> str:
    file = path / "g.yaml"
    file.write_text(text)
    with pytest.raises(GovernanceError) as err:
        load(file, agent=agent)
    return str(err.value).replace(str(file), "g.yaml")


# -- a key given twice -----------------------------------------------------------------------

DUPLICATES = [
    pytest.param("mode: enforce\n" + AGENTS + "mode: shadow\n", 4, "mode", 1, id="mode"),
    pytest.param(
        "agents:\n  bot:\n    owner: t\n    daily_budget_usd: 10\n    daily_budget_usd: 1000\n",
        5, "daily_budget_usd", 4, id="nested",
    ),
    pytest.param("agents:\n  bot: {owner: t, owner: u}\n", 2, "owner", 2, id="flow"),
    pytest.param(AGENTS + "agents:\n  evil: {owner: x}\n", 3, "agents", 1, id="section"),
    pytest.param(AGENTS + RIGHT + '    "effect": deny\n', 6, "effect", 5, id="quoted-same-key"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "key", "first"), DUPLICATES)
def test_a_key_given_twice_is_refused_naming_both_lines(
    tmp_path: Path, text: str, line: int, key: str, first: int
) -> None:
    """``mode: enforce`` then ``mode: shadow`` silently turned enforcement off."""
    assert refused(text, tmp_path) == (
        f"g.yaml:{line}: key {key!r} is given twice, on line {first} and on line {line}: "
        "give it once"
    )


def test_a_merged_key_may_be_overridden() -> None:
    """A merge (``<<: *anchor``) then a key of its own is YAML's override, not a duplicate."""
    text = "agents:\n  bot: &base {owner: t, oncall: pager}\n  bot2:\n    <<: *base\n    owner: u\n"
    gov = parse(text)
    assert (gov.agents["bot2"].owner, gov.agents["bot2"].oncall) == ("u", "pager")


# -- numbers that are not finite ------------------------------------------------------------

NON_FINITE = [".inf", "-.inf", ".nan", ".NaN", "1.0e+400"]
"""YAML's own floats that are not finite."""
READ_AS_NON_FINITE = ["1e400", '"inf"', "'Infinity'"]
"""Strings to YAML (its floats need a dot and a signed exponent) that a float field reads."""
FIELDS = [
    pytest.param(RIGHT + "    spend: {{per_request_usd: {}}}\n", 4,
                 "rights.0.spend.per_request_usd", id="spend-cap"),
    pytest.param("agents:\n  bot:\n    owner: t\n    daily_budget_usd: {}\n", 4,
                 "agents.bot.daily_budget_usd", id="daily-budget"),
    pytest.param(RIGHT + "    approval:\n      timeout_s: {}\n", 5,
                 "rights.0.approval.timeout_s", id="approval-timeout"),
    pytest.param("handoffs:\n  - {{from: a, to: b, owner: t, deadline_s: {}}}\n", 2,
                 "handoffs.0.deadline_s", id="handoff-deadline"),
]  # fmt: skip
IN_A_SCHEMA = (
    "handoffs:\n  - from: a\n    to: b\n    owner: t\n    contract:\n"
    "      json_schema: {{type: number, maximum: {}}}\n"
)


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("template", "line"),
    [*[pytest.param(*p.values[:2], id=p.id) for p in FIELDS],
     pytest.param(IN_A_SCHEMA, 6, id="inside-a-json-schema")],
)  # fmt: skip
def test_a_number_that_is_not_finite_is_refused_at_its_line(
    tmp_path: Path, template: str, line: int, number: str
) -> None:
    assert refused(template.format(number), tmp_path) == (
        f"g.yaml:{line}: {number} is not a finite number"
    )


@pytest.mark.parametrize("number", READ_AS_NON_FINITE)
@pytest.mark.parametrize(("template", "line", "field"), FIELDS)
def test_a_string_a_number_field_reads_as_infinite_is_refused_at_its_line(
    tmp_path: Path, template: str, line: int, field: str, number: str
) -> None:
    assert refused(template.format(number), tmp_path) == (
        f"invalid governance file:\n  g.yaml:{line}: {field}: inf is not a finite number"
    )


# -- errors at the line an editor shows -----------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=repr)
def test_a_line_separator_in_a_string_does_not_move_later_lines(
    tmp_path: Path, separator: str
) -> None:
    text = f'{AGENTS}rights:\n  - action: x\n    reason: "a{separator}b"\n    effect: maybe\n'
    assert "g.yaml:6: rights.0.effect: Input should be" in refused(text, tmp_path)
    broken = f'{AGENTS}rights:\n  - action: x\n    reason: "a{separator}b"\n    effect: [\n'
    assert refused(broken, tmp_path).startswith("g.yaml:7: not valid YAML")


def test_a_control_character_is_refused_at_its_line(tmp_path: Path) -> None:
    assert refused(AGENTS + "mode: \x01\n", tmp_path) == (
        "g.yaml:3: not valid YAML: character #x0001: special characters are not allowed"
    )


def test_an_unclosed_bracket_names_where_it_opened(tmp_path: Path) -> None:
    message = refused("agents:\n  bot: {owner: t\nrights: []\n", tmp_path)
    assert message == (
        "g.yaml:3: not valid YAML: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping on line 2)"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(AGENTS + RIGHT + "    retries: {max_retries: !!int abc}\n", 6, id="bad-int"),
        pytest.param(AGENTS + "mode: !!timestamp 2024-99-99\n", 3, id="bad-timestamp"),
        pytest.param(AGENTS + RIGHT + f"    retries: {{max_retries: {'9' * 5000}}}\n", 6,
                     id="int-too-long"),
    ],
)  # fmt: skip
def test_a_scalar_its_tag_cannot_read_is_an_error_at_its_line(
    tmp_path: Path, text: str, line: int
) -> None:
    """It raised a bare ValueError."""
    assert refused(text, tmp_path).startswith(f"g.yaml:{line}: not valid YAML: cannot read this")


def test_windows_newlines_and_bad_utf8_keep_their_lines(tmp_path: Path) -> None:
    file = tmp_path / "g.yaml"
    file.write_bytes(b"agents:\r\n  bot: {owner: t}\r\nmode: loose\r\n")
    with pytest.raises(GovernanceError, match=r"g.yaml:3: mode: Input should be"):
        load(file)
    file.write_bytes(b"agents:\n  bot: {owner: t}\nmode: \xff\n")
    with pytest.raises(GovernanceError, match=r"g.yaml:3: not UTF-8"):
        load(file)


SCHEMA_EDGE = "handoffs:\n  - from: a\n    to: b\n    owner: t\n    contract:\n      json_schema:\n"


def test_aliases_that_expand_past_the_bound_are_refused_before_anything_expands_them(
    tmp_path: Path,
) -> None:
    """Eight lines that expand to 11 million subschemas: checking the JSON Schema ran for
    minutes (the refusal comes from the node graph, before anything is expanded)."""
    defs = "".join(
        f"          s{n}: &s{n} {{allOf: [{', '.join([f'*s{n - 1}'] * 10)}]}}\n"
        for n in range(1, 8)
    )
    text = SCHEMA_EDGE + "        $defs:\n          s0: &s0 {type: string}\n" + defs
    assert refused(text, tmp_path) == "g.yaml:14: its aliases expand past 1,000,000 nodes"


def test_a_node_that_contains_itself_is_refused(tmp_path: Path) -> None:
    """A JSON Schema that is its own property raised RecursionError."""
    text = SCHEMA_EDGE + "        &s {type: object, properties: {next: *s}}\n"
    assert refused(text, tmp_path) == "g.yaml:7: a node contains itself"


def test_nesting_too_deep_is_an_error_not_a_crash(tmp_path: Path) -> None:
    assert "nested too deeply" in refused("mode: " + "[" * 5000 + "]" * 5000 + "\n", tmp_path)


# -- handoff contracts, checked at load -----------------------------------------------------

EDGE = "handoffs:\n  - from: bot\n    to: writer\n    owner: t\n    contract:\n      model: {}\n"


@pytest.mark.parametrize(
    ("model", "why"),
    [
        pytest.param("os:system", "is not a pydantic model", id="a-function"),
        pytest.param("json:JSONDecoder", "is not a pydantic model", id="a-class"),
        pytest.param("pydantic:BaseModel", "is not a pydantic model", id="any-payload"),
        pytest.param("handrail_nowhere.mod:Summary", "cannot be imported: ModuleNotFoundError",
                     id="no-module"),
        pytest.param("handrail.producers.handoff:Nope", "cannot be imported: AttributeError",
                     id="no-name"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("agent", ["bot", "writer"])
def test_a_contract_that_is_not_a_model_is_refused_at_load(
    tmp_path: Path, agent: str, model: str, why: str
) -> None:
    """Found only at the first handoff before."""
    message = refused(AGENTS + EDGE.format(model), tmp_path, agent=agent)
    assert message.startswith(
        f"invalid governance file:\n  g.yaml:8: handoffs.0.contract.model: "
        f"handoff contract model {model} {why}"
    )


def test_only_the_loading_agents_contracts_are_imported(tmp_path: Path) -> None:
    """Another agent's contract may live in a package this process does not have; the CLI
    and the processors (no agent) import none."""
    file = tmp_path / "g.yaml"
    file.write_text(AGENTS + EDGE.format("handrail_nowhere.mod:Summary"))
    for agent in ("someone-else", None):
        assert load(file, agent=agent).handoffs[0].contract is not None
    file.write_text(AGENTS + EDGE.format("handrail.producers.handoff:HandoffTicket"))
    assert load(file, agent="bot").handoffs[0].receiver == "writer"


def test_a_recorder_does_not_start_on_a_contract_it_cannot_import(tmp_path: Path) -> None:
    file = tmp_path / "g.yaml"
    file.write_text(AGENTS + EDGE.format("os:system"))
    settings = Settings(
        spool=SpoolSettings(dir=tmp_path / "spool"), governance=GovernanceSettings(file=file)
    )
    with pytest.raises(GovernanceError, match="handoff contract model os:system is not a pyd"):
        Recorder(settings, AgentIdentity(name="bot", owner="t"))


# -- waits and deadlines the SDK can act on --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        pytest.param(AGENTS + RIGHT + "    approval: {timeout_s: 1e12}\n", 6,
                     "rights.0.approval.timeout_s", id="approval-timeout"),
        pytest.param("handoffs:\n  - {from: a, to: b, owner: t, deadline_s: 31622401}\n", 2,
                     "handoffs.0.deadline_s", id="handoff-deadline"),
    ],
)  # fmt: skip
def test_a_wait_longer_than_a_year_is_refused_at_load(
    tmp_path: Path, text: str, line: int, field: str
) -> None:
    """A 10^12 s approval timeout raised OverflowError into the agent at its first guarded
    call (and a 10^10 s one InvalidEventError: an expiry past 2299)."""
    assert refused(text, tmp_path).startswith(
        f"invalid governance file:\n  g.yaml:{line}: {field}: "
    )
    assert "is longer than 31,622,400 s (366 days)" in refused(text, tmp_path)
    assert parse(text.replace("1e12", "31622400").replace("31622401", "31622400"))
