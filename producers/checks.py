"""The checks of what an agent records: each event's payload arguments validated into
plain dicts, and the identifiers, labels, causations and ``authorize`` requests around it.

Values of exactly the schema's types pass a cheap check (``exact_fields``), anything else
goes through pydantic and the TypedDicts generated from the Avro schema (no model objects
on the hot path); either way the value rules of ``validation`` apply (finite numbers in
range, strings of scalar values, sizes within ``producer.limits``). An invalid argument
raises ``InvalidEventError`` naming the event type, the field and the rule it breaks,
never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from handrail.governance import Verdict
from handrail.producers.errors import InvalidEventError
from handrail.producers.exact_fields import EMPTY, Check, exact, exact_args
from handrail.producers.refs import EventRef, Fields
from handrail.producers.validation import (
    DEFAULT_LIMITS,
    identifiers_problem,
    is_event_id,
    labels_problem,
    problem,
)
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.schemas.models import EnforcementMode
from handrail.settings import AgentIdentity, EventLimits


@cache
def _validator(tag: str) -> Any:
    return TypeAdapter(PAYLOAD_FIELDS[tag]).validator


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic error's location, each part cut short (a key may be the caller's)."""
    return ".".join(str(part)[:40] for part in loc) or "(event)"


Request = tuple[str, str | None, float | None, int | None]
"""What an agent asks ``authorize`` about: action, resource, cost (USD), attempt."""
_REQUEST = ("action", "resource", "mode", "cost_usd", "attempt")


class EventChecks:
    """The SDK's validation under one set of limits (``producer.limits``): payloads,
    ``authorize`` requests, causations, workflow ids, labels and agent identities."""

    def __init__(self, limits: EventLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._exact: dict[str, Check] = {tag: exact(tag, limits) for tag in PAYLOAD_FIELDS}
        # An authorize request: the fields its policy_verdict event takes from the caller
        # (its effect, rule and reason are the SDK's), checked without building the event
        self._request = exact_args("policy_verdict", _REQUEST, limits)

    def fields(self, tag: str, /, **values: Any) -> Fields:
        """Validate payload arguments into plain dicts; name the field that is wrong."""
        fields = self._exact[tag](values)
        if fields is not None:
            return tag, fields
        try:
            fields = _validator(tag).validate_python(values)
        except ValidationError as exc:
            problems = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidEventError(f"invalid {tag} event: {problems}") from None
        except RecursionError:  # (pydantic's own guard catches most; never the agent's stack)
            raise InvalidEventError(f"invalid {tag} event: nested too deeply") from None
        found = problem(tag, fields, self.limits)
        if found is not None:
            raise InvalidEventError(f"invalid {tag} event: {found[0]}: {found[1]}")
        for name, value in fields.items():
            if value == [] and type(value) is list:
                fields[name] = EMPTY
        return tag, fields

    def request(
        self, action: Any, resource: Any, cost_usd: Any, attempt: Any, mode: EnforcementMode
    ) -> Request:
        """An ``authorize`` request as its policy_verdict event will hold it: checked as
        that event (converted, or ``InvalidEventError`` naming the field)."""
        if self._request(action, resource, mode, cost_usd, attempt):
            return action, resource, cost_usd, attempt  # as the event's check would take them
        _, v = self.fields(
            "policy_verdict", action=action, effect="allow", rule="", reason="",
            resource=resource, mode=mode, cost_usd=cost_usd, attempt=attempt,
        )  # fmt: skip
        return v["action"], v["resource"], v["cost_usd"], v["attempt"]

    def event_id(self, ref: object, tag: str) -> str:
        """The event id of ``ref`` (an ``EventRef`` or an event id string), the causation
        of a ``tag`` event."""
        value = ref.event_id if isinstance(ref, EventRef) else ref
        if not is_event_id(value):
            raise InvalidEventError(
                f"invalid {tag} event: caused_by: not an EventRef or an event id (a UUID)"
            )
        return value  # type: ignore[return-value]  # (is_event_id: a str)

    def workflow_id(self, value: object, tag: str) -> str:
        """``value`` if it is a valid workflow id (a non-empty identifier) for a ``tag`` event."""
        why = identifiers_problem([("workflow_id", value)], self.limits)
        if why is not None:
            raise InvalidEventError(f"invalid {tag} event: {why}")
        return value  # type: ignore[return-value]  # (checked: a str)

    def labels(self, labels: Mapping[str, str], tag: str = "any") -> dict[str, str]:
        """A copy of ``labels`` if every key and value is a valid identifier."""
        why = labels_problem(labels, self.limits)
        if why is not None:
            raise InvalidEventError(f"invalid {tag} event: labels: {why}")
        return dict(labels)

    def identity(self, agent: AgentIdentity) -> None:
        """Refuse an agent identity whose name, version or owner is not an identifier."""
        why = identifiers_problem(
            [("name", agent.name), ("version", agent.version), ("owner", agent.owner)],
            self.limits,
        )
        if why is not None:
            raise InvalidEventError(f"invalid agent identity: {why}")


DEFAULT_CHECKS = EventChecks()


def payload_fields(tag: str, /, **values: Any) -> Fields:
    """``EventChecks.fields`` under the default limits."""
    return DEFAULT_CHECKS.fields(tag, **values)


def verdict_fields(request: Request, verdict: Verdict, mode: EnforcementMode) -> Fields:
    """The policy_verdict event of a checked request and the SDK's own verdict on it."""
    action, resource, cost_usd, attempt = request
    return "policy_verdict", {
        "action": action, "effect": verdict.effect, "rule": verdict.rule,
        "reason": verdict.reason, "resource": resource, "mode": mode, "cost_usd": cost_usd,
        "attempt": attempt,
    }  # fmt: skip
