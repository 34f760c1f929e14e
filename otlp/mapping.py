"""Which handrail event a span is (pure, no I/O): the GenAI semantic conventions first,
then OpenInference's and OpenLLMetry's attributes. The rules are in docs/otlp.md.

A span is one of four kinds, by ``gen_ai.operation.name``, ``openinference.span.kind``
or ``traceloop.span.kind``: an agent (``invoke_agent``, ``create_agent``: names the agent
of the spans under it, records nothing), a tool call (``execute_tool``: an
``action_executed``, or ``action_failed`` when the span failed, and a ``retry`` when the
same tool's last call in the same workflow failed), a model call (``chat``,
``text_completion``, ``generate_content``: a ``spend``), or nothing (dropped, counted).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handrail.otlp.pricing import price
from handrail.otlp.spans import Span
from handrail.schemas.models import ActionExecuted, ActionFailed, Retry, Spend

Payload = ActionExecuted | ActionFailed | Retry | Spend

AGENT, TOOL, MODEL = "agent", "tool", "model"
KINDS = {
    # gen_ai.operation.name (GenAI semantic conventions)
    "invoke_agent": AGENT, "create_agent": AGENT, "execute_tool": TOOL,
    "chat": MODEL, "text_completion": MODEL, "generate_content": MODEL,
    # openinference.span.kind
    "AGENT": AGENT, "TOOL": TOOL, "LLM": MODEL,
    # traceloop.span.kind (OpenLLMetry); its model calls carry llm.request.type
    "agent": AGENT, "tool": TOOL,
}  # fmt: skip
KIND_KEYS = ("gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind")
AGENT_KEYS = ("gen_ai.agent.name", "agent.name")
TOOL_KEYS = ("gen_ai.tool.name", "tool.name")
WORKFLOW_KEYS = (
    "gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id",
)  # fmt: skip
INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_KEYS = (
    "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
)  # fmt: skip
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MEMORY = 100_000
"""Spans (and tool call histories) remembered across requests, the oldest forgotten first."""


@dataclass(frozen=True, slots=True)
class Mapped:
    """One event to record for a span."""

    span: Span
    agent: str
    owner: str
    workflow_id: str
    payload: Payload


@dataclass(slots=True)
class Seen:
    agent: str | None
    workflow_id: str | None
    parent_id: str | None
    event_id: str | None = None
    """The id of the event recorded for the span (its children's cause), once recorded."""


class Lineage:
    """What earlier spans told: each span's agent, workflow and event (children name their
    parent, often exported before or after them), and each tool's last call per agent and
    workflow. Bounded: ``MEMORY`` of each."""

    def __init__(self, memory: int = MEMORY) -> None:
        self.memory = memory
        self.spans: OrderedDict[str, Seen] = OrderedDict()
        self.tools: OrderedDict[tuple[str, str, str], tuple[int, str]] = OrderedDict()

    def note(self, span: Span) -> None:
        agent = _first(span.attributes, AGENT_KEYS)
        if kind_of(span) == AGENT and agent is None:
            agent = _text(span.attributes.get("traceloop.entity.name"))
        workflow = _first(span.attributes, WORKFLOW_KEYS)
        _put(self.spans, span.span_id, Seen(agent, workflow, span.parent_id), self.memory)

    def inherited(self, span_id: str | None, attribute: str) -> str | None:
        """The nearest of ``span_id`` and its ancestors that names ``attribute``'s value."""
        for _ in range(64):  # a cycle of hostile parent ids ends here
            seen = self.spans.get(span_id or "")
            if seen is None:
                return None
            found = getattr(seen, attribute)
            if found is not None:
                return str(found)
            span_id = seen.parent_id
        return None

    def recorded(self, span_id: str, event_id: str) -> None:
        seen = self.spans.get(span_id)
        if seen is not None:
            seen.event_id = event_id

    def tool_call(self, key: tuple[str, str, str], failed: bool, error: str) -> tuple[int, str]:
        """Note a call of a tool; return how many calls in a row failed before it, and the
        last one's error."""
        before = self.tools.get(key, (0, ""))
        _put(self.tools, key, (before[0] + 1, error) if failed else (0, ""), self.memory)
        return before


def kind_of(span: Span) -> str | None:
    for key in KIND_KEYS:
        kind = KINDS.get(str(span.attributes.get(key, "")))
        if kind is not None:
            return kind
    if span.attributes.get("llm.request.type") is not None:  # OpenLLMetry's model calls
        return MODEL
    return None


def parents_first(batch: Iterable[Span]) -> list[Span]:
    """The spans of one request, each after its parent where the parent is in it too."""
    spans = list(batch)
    ids = {s.span_id for s in spans}
    done: set[str] = set()
    out: list[Span] = []
    pending = spans
    while pending:
        later = [s for s in pending if s.parent_id in ids and s.parent_id not in done]
        ready = [s for s in pending if not (s.parent_id in ids and s.parent_id not in done)]
        if not ready:  # a cycle: take the rest as they came
            ready, later = later, []
        out += ready
        done.update(s.span_id for s in ready)
        pending = later
    return out


def map_span(span: Span, lineage: Lineage, default_owner: str) -> list[Mapped]:
    """The events a span becomes (none for an agent span or one of no known kind); the
    span must have been noted in ``lineage`` with its request's other spans."""
    kind = kind_of(span)
    if kind is None or kind == AGENT:
        return []
    resource = span.resource
    agent = (
        lineage.inherited(span.span_id, "agent") or _text(resource.get("service.name")) or "otlp"
    )
    owner = _text(resource.get("handrail.owner")) or default_owner
    workflow = lineage.inherited(span.span_id, "workflow_id") or span.trace_id or "otlp"
    payloads: list[Payload] = []
    if kind == TOOL:
        tool = _first(span.attributes, TOOL_KEYS) or _text(
            span.attributes.get("traceloop.entity.name")
        ) or span.name  # fmt: skip
        error_type, message = _error(span)
        failures, last_error = lineage.tool_call((agent, workflow, tool), span.failed, message)
        if failures:
            payloads.append(Retry(action=tool, operation_id=f"{tool}@{workflow}",
                                  attempt=failures + 1, reason=last_error or "failed"))  # fmt: skip
        if span.failed:
            payloads.append(ActionFailed(
                action=tool, error_type=error_type, error_message=message, retryable=True,
                duration_ms=span.duration_ms,
            ))  # fmt: skip
        else:
            payloads.append(ActionExecuted(action=tool, duration_ms=span.duration_ms,
                                           output_ref=_text(span.attributes.get(
                                               "gen_ai.tool.call.id")) or None))  # fmt: skip
    else:
        model = _first(span.attributes, MODEL_KEYS) or span.name
        provider = _first(span.attributes, PROVIDER_KEYS) or "unknown"
        tokens_in = _int(_first_value(span.attributes, INPUT_KEYS))
        tokens_out = _int(_first_value(span.attributes, OUTPUT_KEYS))
        usd = price(span.attributes, model, provider, tokens_in, tokens_out)
        payloads.append(Spend(usd=usd, provider=provider, model=model,
                              input_tokens=tokens_in, output_tokens=tokens_out))  # fmt: skip
    return [Mapped(span, agent, owner, workflow, p) for p in payloads]


def _error(span: Span) -> tuple[str, str]:
    attrs, exc = span.attributes, span.exception
    error_type = _text(attrs.get("error.type")) or _text(exc.get("exception.type")) or "error"
    message = span.status_message or _text(exc.get("exception.message")) or error_type
    return error_type, message


def _first(attrs: dict[str, Any], keys: Iterable[str]) -> str | None:
    return next((t for k in keys if (t := _text(attrs.get(k)))), None)


def _first_value(attrs: dict[str, Any], keys: Iterable[str]) -> Any:
    return next((attrs[k] for k in keys if attrs.get(k) is not None), None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    """A token count: a non-negative whole number, else 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0
    try:
        number = int(float(value))
    except (ValueError, OverflowError):
        return 0
    return max(number, 0)


def _put(memory: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)
