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
from handrail.schemas.models import (
    ActionExecuted,
    ActionFailed,
    HandoffAccepted,
    HandoffOffered,
    Retry,
    Spend,
)
from handrail.trees import preorder

Payload = ActionExecuted | ActionFailed | Retry | Spend | HandoffOffered | HandoffAccepted

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
MAX_NAME = 256
"""Longest agent, workflow, tool, model or provider name taken from a span; a longer or
unprintable one counts as absent (kept, it would only be refused by the SDK, after
filling memory)."""
MAX_MESSAGE = 2_000
"""An error message is cut to this many characters, its unprintable ones replaced."""
MAX_USD = 1e9
MAX_TOKENS = 1_000_000_000


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
        self.spans: OrderedDict[tuple[str, str], Seen] = OrderedDict()
        """By (trace id, span id): a span id alone may be another trace's."""
        self.tools: OrderedDict[tuple[str, str, str], tuple[int, str]] = OrderedDict()
        self.model_calls: OrderedDict[tuple[str, str | None], str] = OrderedDict()
        """By (trace id, parent span id): the event of the last model call under it."""

    def note(self, span: Span) -> None:
        if not well_formed(span):
            return
        agent = _first(span.attributes, AGENT_KEYS)
        if kind_of(span) == AGENT and agent is None:
            agent = _name(span.attributes.get("traceloop.entity.name"))
        workflow = _first(span.attributes, WORKFLOW_KEYS)
        key = (span.trace_id, span.span_id)
        _put(self.spans, key, Seen(agent, workflow, span.parent_id), self.memory)

    def inherited(self, trace_id: str, span_id: str | None, attribute: str) -> str | None:
        """The nearest of ``span_id`` and its ancestors in ``trace_id`` that names
        ``attribute``'s value."""
        for _ in range(64):  # a cycle of hostile parent ids ends here
            seen = self.spans.get((trace_id, span_id)) if span_id else None
            if seen is None:
                return None
            found = getattr(seen, attribute)
            if found is not None:
                return str(found)
            span_id = seen.parent_id
        return None

    def recorded(self, span: Span, event_id: str) -> None:
        seen = self.spans.get((span.trace_id, span.span_id))
        if seen is not None:
            seen.event_id = event_id

    def cause(self, span: Span) -> str | None:
        """The event a span's events are caused by: for a tool call, the model call before
        it under the same parent (the model asked for the tool); else the nearest ancestor
        that became an event."""
        if kind_of(span) == TOOL:
            asked = self.model_calls.get((span.trace_id, span.parent_id))
            if asked is not None:
                return asked
        return self.inherited(span.trace_id, span.parent_id, "event_id")

    def model_called(self, span: Span, event_id: str) -> None:
        _put(self.model_calls, (span.trace_id, span.parent_id), event_id, self.memory)

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


def well_formed(span: Span) -> bool:
    """Its ids are OTLP's: a 16-byte trace id, an 8-byte span id, an 8-byte parent or none."""
    return (
        len(span.trace_id) == 32 and len(span.span_id) == 16
        and (span.parent_id is None or len(span.parent_id) == 16)
    )  # fmt: skip


def parents_first(batch: Iterable[Span]) -> list[Span]:
    """The spans of one request, each after its parent where the parent is in it too (a
    walk from the roots: linear in the spans; those in a cycle of parents go last)."""
    spans = list(batch)
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    for s in spans:
        if s.parent_id in ids and s.parent_id != s.span_id:
            children.setdefault(s.parent_id or "", []).append(s)
    roots = [s for s in spans if not (s.parent_id in ids and s.parent_id != s.span_id)]
    for siblings in children.values():  # in time order: a tool call after the model call
        siblings.sort(key=lambda s: s.start_ns)
    return preorder([*roots, *spans], lambda span: children.get(span.span_id, ()))


def map_span(span: Span, lineage: Lineage, default_owner: str) -> list[Mapped]:
    """The events a span becomes (none for an agent span or one of no known kind); the
    span must have been noted in ``lineage`` with its request's other spans."""
    kind = kind_of(span)
    if kind is None or kind == AGENT:
        return []
    if not well_formed(span):
        raise ValueError("its trace id or span id is not OTLP's (16 and 8 bytes)")
    resource, trace = span.resource, span.trace_id
    agent = (
        lineage.inherited(trace, span.span_id, "agent")
        or _name(resource.get("service.name")) or "otlp"
    )  # fmt: skip
    owner = _name(resource.get("handrail.owner")) or default_owner
    workflow = lineage.inherited(trace, span.span_id, "workflow_id") or trace
    handoff = _handoff(span)
    if handoff is not None:  # the giver offers, the taker accepts: the agents SDK's handoff
        giver, taker = handoff
        handoff_id = f"{trace}:{span.span_id}"
        offered = HandoffOffered(handoff_id=handoff_id, to_agent=taker,
                                 task=f"handoff from {giver} to {taker}")  # fmt: skip
        accepted = HandoffAccepted(handoff_id=handoff_id, from_agent=giver)
        return [Mapped(span, giver, owner, workflow, offered),
                Mapped(span, taker, owner, workflow, accepted)]  # fmt: skip
    payloads: list[Payload] = []
    if kind == TOOL:
        tool = (
            _first(span.attributes, TOOL_KEYS)
            or _name(span.attributes.get("traceloop.entity.name")) or _name(span.name) or "tool"
        )  # fmt: skip
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
            call_id = _name(span.attributes.get("gen_ai.tool.call.id"))
            payloads.append(ActionExecuted(action=tool, duration_ms=span.duration_ms,
                                           output_ref=call_id))  # fmt: skip
    else:
        model = _first(span.attributes, MODEL_KEYS) or _name(span.name) or "unknown"
        provider = _first(span.attributes, PROVIDER_KEYS) or "unknown"
        tokens_in = _int(_first_value(span.attributes, INPUT_KEYS))
        tokens_out = _int(_first_value(span.attributes, OUTPUT_KEYS))
        usd = price(span.attributes, model, provider, tokens_in, tokens_out)
        if not 0 <= usd <= MAX_USD:  # NaN fails too
            raise ValueError(f"a cost of ${usd!r}: not a number from 0 to $1e9")
        payloads.append(Spend(usd=usd, provider=provider, model=model,
                              input_tokens=tokens_in, output_tokens=tokens_out))  # fmt: skip
    return [Mapped(span, agent, owner, workflow, p) for p in payloads]


def _handoff(span: Span) -> tuple[str, str] | None:
    """The agents a handoff span moved between: OpenInference's form of the OpenAI Agents
    SDK's, a TOOL span ``handoff to <agent>`` from ``input.value`` to ``output.value``."""
    if not span.name.startswith("handoff to "):
        return None
    giver, taker = (
        _name(span.attributes.get("input.value")),
        _name(span.attributes.get("output.value")),
    )
    return (giver, taker) if giver and taker else None


def _error(span: Span) -> tuple[str, str]:
    attrs, exc = span.attributes, span.exception
    error_type = _name(attrs.get("error.type")) or _name(exc.get("exception.type")) or "error"
    message = span.status_message or _text(exc.get("exception.message")) or error_type
    printable = "".join(c if c.isprintable() else "?" for c in message[:MAX_MESSAGE])
    return error_type, printable


def _first(attrs: dict[str, Any], keys: Iterable[str]) -> str | None:
    return next((t for k in keys if (t := _name(attrs.get(k)))), None)


def _name(value: Any) -> str | None:
    """A name: a printable string of at most ``MAX_NAME`` characters, else None."""
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable():
        return value
    return None


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
    if number > MAX_TOKENS:
        raise ValueError(f"{number} tokens: more than {MAX_TOKENS:,} in one call")
    return max(number, 0)


def _put(memory: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)
