"""Handoff contracts, evaluated (pure apart from importing the model a contract names, which
the loader checked when the agent loaded the governance file):
which declared edge a handoff travels, whether its payload conforms to the edge's
contract, and the receiver's checks run on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from handrail.governance import Governance
from handrail.governance.loader import contract_model
from handrail.governance.model import Contract, HandoffDecl
from handrail.producers.errors import ConfigurationError, InvalidEventError
from handrail.producers.handoff import payload_digest
from handrail.producers.validation import DEFAULT_LIMITS, depth_problem, safe_text

CheckFn = Callable[[Any], object]
"""A receiver's check: gets the payload; a falsy result or an exception fails it."""


def edge(governance: Governance, sender: str, receiver: str) -> HandoffDecl | None:
    return next(
        (h for h in governance.handoffs if (h.sender, h.receiver) == (sender, receiver)), None
    )


def contract_name(contract: Contract) -> str:
    return contract.model or "json_schema"


def conform(contract: Contract, payload: Any) -> tuple[Any, list[str]]:
    """The payload as the contract gives it (a model instance for a model contract), and
    what is wrong with it (``field: problem``; empty when it conforms)."""
    too_deep = depth_problem(payload, DEFAULT_LIMITS.max_payload_depth)
    if too_deep is not None:  # (the validators recurse: the stack would run out)
        return payload, [f"(payload): {too_deep}"]
    if contract.model is not None:
        try:
            return contract_model(contract.model).model_validate(payload), []
        except ValidationError as exc:
            return payload, [
                safe_text(f"{'.'.join(map(str, e['loc'])) or '(payload)'}: {e['msg']}")
                for e in exc.errors()
            ]
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - loads on a JSON Schema contract

    errors = Draft202012Validator(contract.json_schema or {}).iter_errors(data)
    return payload, sorted(
        safe_text(f"{'.'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}")
        for e in errors
    )


def integrity(payload: Any, expected_sha256: str) -> dict[str, Any]:
    """Is this the payload the sender offered (by its SHA-256)?"""
    try:
        same, detail = payload_digest(payload) == expected_sha256, None
    except InvalidEventError as exc:  # too deep, a lone surrogate, not JSON: not the offer
        same, detail = False, safe_text(str(exc))
    if not same and detail is None:
        detail = "not the payload the sender offered"
    return {"name": "payload_sha256", "passed": same, "detail": detail}


def run_checks(
    declared: tuple[str, ...], payload: Any, checks: Mapping[str, CheckFn]
) -> list[dict[str, Any]]:
    """The receiver's checks, declared ones first: ``{name, passed, detail}`` each. A
    declared check with no implementation in ``checks`` is a programming error."""
    missing = [name for name in declared if name not in checks]
    if missing:
        raise ConfigurationError(
            f"the governance file declares checks {missing} for this handoff; pass them in checks="
        )
    results = []
    for name in (*declared, *(n for n in checks if n not in declared)):
        try:
            passed, detail = bool(checks[name](payload)), None
        except Exception as exc:  # a check that raises has failed, and says why
            passed, detail = False, safe_text(f"{type(exc).__name__}: {exc}")
        results.append({"name": name, "passed": passed, "detail": detail})
    return results
