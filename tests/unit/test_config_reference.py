"""The configuration reference (``docs/configuration.md``) is generated from ``Settings``
by ``scripts/config_reference.py``: the committed file must be current, every setting
must be in it, and every variable it names must be one that ``Settings`` reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import config_reference
import pytest
from pydantic import BaseModel, Field, SecretStr

from handrail.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_committed_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        "docs/configuration.md is stale: run python scripts/config_reference.py"
    )


def _variables() -> list[str]:
    return [row[0].strip("`") for t in config_reference.tables() if not t.items for row in t.rows]


def _leaves(model: type[BaseModel], path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every setting that is not itself a section, by its path."""
    found: set[tuple[str, ...]] = set()
    for name, info in model.model_fields.items():
        sub = config_reference._model(info.annotation)
        found |= _leaves(sub, (*path, name)) if sub else {(*path, name)}
    return found


def test_every_setting_is_listed_once() -> None:
    variables = _variables()
    assert len(variables) == len(set(variables))
    expected = {"HANDRAIL_" + "__".join(p).upper() for p in _leaves(Settings)}
    assert set(variables) == expected
    # the sections nested deepest are there too: the detectors' default thresholds
    assert "HANDRAIL_PROCESSORS__RULES__DEFAULTS__SILENCE__HEARTBEAT_INTERVAL_S" in expected


def _cap(s: Settings) -> object:
    return s.processors.rules.defaults.spend.request_cap_usd


def _list_items(s: Settings) -> object:
    return s.producer.limits.max_list_items


def _attempts(s: Settings) -> object:
    return s.alerts.retry.max_attempts


def _rows(s: Settings) -> object:
    return s.ledger.reads.max_rows


@pytest.mark.parametrize(
    ("variable", "read", "expected"),
    [
        ("HANDRAIL_PROCESSORS__RULES__DEFAULTS__SPEND__REQUEST_CAP_USD", _cap, 7.5),
        ("HANDRAIL_PRODUCER__LIMITS__MAX_LIST_ITEMS", _list_items, 12),
        ("HANDRAIL_ALERTS__RETRY__MAX_ATTEMPTS", _attempts, 9),
        ("HANDRAIL_LEDGER__READS__MAX_ROWS", _rows, 11),
    ],
)
def test_a_listed_variable_is_read(
    variable: str,
    read: Callable[[Settings], object],
    expected: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The names the reference gives are the ones pydantic-settings reads, at any depth."""
    assert variable in _variables()
    monkeypatch.chdir(tmp_path)  # no .env or handrail.toml of the work tree
    assert read(Settings()) != expected
    monkeypatch.setenv(variable, str(expected))
    assert read(Settings()) == expected


class _Item(BaseModel):
    """An item of a list."""

    kind: Literal["a", "b"] = Field(description="Which.")


class _Inner(BaseModel):
    """An inner section."""

    limit: int = Field(3, gt=0, le=10, description="A bound.")
    token: SecretStr = Field(SecretStr("s3cret"), description="A secret.")


class _Root(BaseModel):
    inner: _Inner | None = Field(None, description="Optional section.")
    items: list[_Item] = Field(default_factory=list, description="Things.")
    path: Path = Field(Path("x/y"), description="Where.")


def test_rows_give_type_bounds_default_and_item_tables() -> None:
    text = config_reference.render(_Root)
    assert "| `HANDRAIL_INNER__LIMIT` | int (> 0, ≤ 10) | `3` | A bound. |" in text
    assert "| `HANDRAIL_INNER__TOKEN` | str (secret) | `**********` | A secret. |" in text
    assert "s3cret" not in text  # a secret's default never shows
    assert "| `HANDRAIL_PATH` | Path | `x/y` | Where. |" in text
    assert "| `HANDRAIL_ITEMS` | list[_Item] | `[]` | Things. Items: [_Item](#_item) |" in text
    assert '| `kind` | "a" \\| "b" | required | Which. |' in text
    assert "## inner\n\nOptional section." in text
