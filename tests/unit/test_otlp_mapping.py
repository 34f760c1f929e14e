"""Which handrail events spans become (docs/otlp.md), under each convention."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.otlp.mapping import Lineage, Mapped, map_span, parents_first
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

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(
    span_id: str,
    parent: str | None = None,
    *,
    failed: bool = False,
    name: str = "s",
    resource: dict[str, Any] | None = None,
    message: str = "",
    trace: str = TRACE,
    **attrs: Any,
) -> Span:
    """A span; ids shorter than OTLP's are padded with zeros (``"a1"``: ``"00...a1"``)."""
    return Span(
        trace,
        span_id.rjust(16, "0"),
        parent and parent.rjust(16, "0"),
        name,
        1_000_000_000,
        1_250_000_000,
        failed,
        message,
        {k.replace("__", "."): v for k, v in attrs.items()},
        resource or {"service.name": "svc"},
    )


def mapped(*spans: Span, lineage: Lineage | None = None) -> list[Mapped]:
    lineage = lineage or Lineage()
    batch = parents_first(spans)
    for s in batch:
        lineage.note(s)
    return [m for s in batch for m in map_span(s, lineage, "team")]


AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}


def test_a_tool_call_under_an_agent_is_an_action_of_that_agent() -> None:
    agent = span("a1", **{k.replace(".", "__"): v for k, v in AGENT.items()})
    tool = span(
        "t1",
        "a1",
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name="search",
        gen_ai__tool__call__id="call-1",
    )
    (event,) = mapped(tool, agent)  # the parent may come after the child in a request
    assert (event.agent, event.owner, event.workflow_id) == ("planner", "team", TRACE)
    assert event.payload == ActionExecuted(action="search", duration_ms=250.0, output_ref="call-1")


def test_a_failed_tool_call_is_action_failed_and_its_next_call_a_retry() -> None:
    lineage = Lineage()
    calls = [
        span(
            f"t{n}",
            failed=n < 3,
            message="HTTP 503",
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="charge",
            error__type="TimeoutError",
        )
        for n in range(4)
    ]
    kinds = [[type(m.payload).__name__ for m in mapped(c, lineage=lineage)] for c in calls]
    assert kinds == [
        ["ActionFailed"],
        ["Retry", "ActionFailed"],
        ["Retry", "ActionFailed"],
        ["Retry", "ActionExecuted"],
    ]
    retry = mapped(
        span(
            "t9", failed=True, gen_ai__operation__name="execute_tool", gen_ai__tool__name="charge"
        ),
        lineage=lineage,
    )
    assert retry[0].payload == ActionFailed(
        action="charge",
        error_type="error",
        error_message="error",
        retryable=True,
        duration_ms=250.0,
    )
    fourth = mapped(
        span("t10", gen_ai__operation__name="execute_tool", gen_ai__tool__name="charge"),
        lineage=lineage,
    )[0].payload
    assert fourth == Retry(
        action="charge", operation_id=f"charge@{TRACE}", attempt=2, reason="error"
    )


def test_a_model_call_is_a_spend_priced_by_its_own_cost_or_the_table() -> None:
    stated = span(
        "c1",
        gen_ai__operation__name="chat",
        gen_ai__request__model="gpt-4o",
        gen_ai__provider__name="openai",
        gen_ai__usage__input_tokens=1000,
        gen_ai__usage__output_tokens=500,
        operation__cost=0.5,
    )
    table = span(
        "c2",
        gen_ai__operation__name="chat",
        gen_ai__response__model="gpt-4o",
        gen_ai__system="openai",
        gen_ai__usage__input_tokens=1000,
        gen_ai__usage__output_tokens=500,
    )
    unknown = span(
        "c3",
        gen_ai__operation__name="generate_content",
        gen_ai__request__model="no-such-model",
        gen_ai__usage__input_tokens=7,
    )
    spends = [m.payload for m in mapped(stated, table, unknown)]
    assert spends[0] == Spend(
        usd=0.5, provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=500
    )
    assert isinstance(spends[1], Spend)
    assert spends[1].usd == pytest.approx(0.0075)  # gpt-4o: $2.50 / $10 per million
    assert spends[2] == Spend(usd=0.0, provider="unknown", model="no-such-model", input_tokens=7)


def test_openinference_and_openllmetry_spans_map_alike() -> None:
    spans = [
        span("o1", openinference__span__kind="AGENT", agent__name="writer", session__id="conv-9"),
        span("o2", "o1", openinference__span__kind="TOOL", tool__name="lookup"),
        span(
            "o3",
            "o1",
            openinference__span__kind="LLM",
            llm__model_name="gpt-4o-mini",
            llm__provider="openai",
            llm__token_count__prompt=10,
            llm__token_count__completion=5,
            llm__cost__total=0.01,
        ),
        span("l1", traceloop__span__kind="agent", traceloop__entity__name="reviewer"),
        span("l2", "l1", traceloop__span__kind="tool", traceloop__entity__name="grep"),
        span(
            "l3",
            "l1",
            llm__request__type="chat",
            gen_ai__system="anthropic",
            gen_ai__request__model="claude-x",
            gen_ai__usage__prompt_tokens=3,
            gen_ai__usage__completion_tokens=4,
        ),
    ]
    out = [(m.agent, m.workflow_id, m.payload) for m in mapped(*spans)]
    assert out[0] == ("writer", "conv-9", ActionExecuted(action="lookup", duration_ms=250.0))
    assert out[1] == (
        "writer",
        "conv-9",
        Spend(usd=0.01, provider="openai", model="gpt-4o-mini", input_tokens=10, output_tokens=5),
    )
    assert out[2] == ("reviewer", TRACE, ActionExecuted(action="grep", duration_ms=250.0))
    assert out[3][2] == Spend(
        usd=0.0, provider="anthropic", model="claude-x", input_tokens=3, output_tokens=4
    )


def test_spans_of_no_known_kind_and_agent_spans_record_nothing() -> None:
    agent = span("a1", **{k.replace(".", "__"): v for k, v in AGENT.items()})
    assert (
        mapped(
            span("x1", http__method="GET"), span("x2", gen_ai__operation__name="embeddings"), agent
        )
        == []
    )


def test_an_agent_unnamed_anywhere_is_the_resource_s_service_and_its_owner_the_resource_s() -> None:
    resource = {"service.name": "billing-bot", "handrail.owner": "team-pay"}
    (event,) = mapped(
        span(
            "t1", gen_ai__operation__name="execute_tool", gen_ai__tool__name="x", resource=resource
        )
    )
    assert (event.agent, event.owner) == ("billing-bot", "team-pay")


@pytest.mark.parametrize("tokens", [-5, float("nan"), float("inf"), "12abc", True, [1], None])
def test_hostile_token_counts_count_as_zero_or_stay_numbers(tokens: Any) -> None:
    (event,) = mapped(
        span("c1", gen_ai__operation__name="chat", gen_ai__usage__input_tokens=tokens)
    )
    assert isinstance(event.payload, Spend)
    assert isinstance(event.payload.input_tokens, int)
    assert event.payload.input_tokens >= 0


def test_a_cycle_of_parent_ids_ends() -> None:
    spans = [span("a", "b", gen_ai__operation__name="execute_tool"), span("b", "a", name="y")]
    assert len(mapped(*spans)) == 1


def test_memory_is_bounded() -> None:
    lineage = Lineage(memory=10)
    for n in range(100):
        mapped(
            span(
                f"t{n}",
                failed=True,
                gen_ai__operation__name="execute_tool",
                gen_ai__tool__name=f"tool-{n}",
            ),
            lineage=lineage,
        )
    assert len(lineage.spans) == 10
    assert len(lineage.tools) == 10


def test_a_stated_cost_is_taken_as_it_is_even_when_the_sdk_will_refuse_it() -> None:
    assert price({"operation.cost": float("nan")}, "m", "p", 1, 1) != price({}, "m", "p", 0, 0)
    assert price({"operation.cost": True}, "gpt-4o", "openai", 0, 0) == 0.0


def test_a_span_without_a_valid_id_names_no_agent_for_others_and_is_refused() -> None:
    """An empty span id once became the parent of every root span (its agent and workflow
    taken by every later span without a parent)."""
    lineage = Lineage()
    evil = Span(
        TRACE,
        "",
        None,
        "x",
        1,
        2,
        False,
        "",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.agent.name": "evil"},
    )
    lineage.note(evil)
    with pytest.raises(ValueError, match="not OTLP's"):
        map_span(evil, lineage, "team")
    (event,) = mapped(span("t1", gen_ai__operation__name="execute_tool"), lineage=lineage)
    assert event.agent == "svc"


def test_a_span_id_of_another_trace_is_not_a_parent() -> None:
    lineage = Lineage()
    mapped(
        span("a1", gen_ai__operation__name="invoke_agent", gen_ai__agent__name="planner"),
        lineage=lineage,
    )
    other = "f" * 32
    (event,) = mapped(
        span("t1", "a1", trace=other, gen_ai__operation__name="execute_tool"), lineage=lineage
    )
    assert (event.agent, event.workflow_id) == ("svc", other)


def test_a_long_chain_listed_child_first_is_ordered_in_linear_time() -> None:
    chain = [span(f"{n:x}", f"{n + 1:x}" if n < 49_999 else None) for n in range(50_000)]
    ordered = parents_first(chain)
    assert [s.span_id for s in ordered] == [s.span_id for s in reversed(chain)]


def test_names_too_long_or_unprintable_are_not_kept_and_costs_past_1e9_refused() -> None:
    lineage = Lineage()
    (event,) = mapped(
        span(
            "t1",
            gen_ai__operation__name="execute_tool",
            gen_ai__agent__name="x" * 10_000,
            gen_ai__tool__name="\x1b[31mrm",
        ),
        lineage=lineage,
    )
    assert (event.agent, event.payload.action) == ("svc", "s")  # type: ignore[union-attr]
    assert all(seen.agent is None for seen in lineage.spans.values())
    with pytest.raises(ValueError, match="not a number from 0"):
        mapped(span("c1", gen_ai__operation__name="chat", operation__cost=5e9))
    with pytest.raises(ValueError, match="tokens"):
        mapped(span("c2", gen_ai__operation__name="chat", gen_ai__usage__input_tokens=1e12))


def test_an_error_message_the_sdk_would_refuse_is_cleaned_and_cut() -> None:
    lineage = Lineage()
    failed = span(
        "t1",
        failed=True,
        message="\x1b[31mboom" + "x" * 100_000,
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name="charge",
    )
    (event,) = mapped(failed, lineage=lineage)
    assert isinstance(event.payload, ActionFailed)
    assert event.payload.error_message.startswith("?[31mboom")
    assert len(event.payload.error_message) == 2_000


def test_a_handoff_span_is_an_offer_by_the_giver_accepted_by_the_taker() -> None:
    """OpenInference's form of the OpenAI Agents SDK's handoffs."""
    agent = span("a1", openinference__span__kind="AGENT", agent__name="triage")
    handoff = span(
        "h1",
        "a1",
        name="handoff to billing",
        openinference__span__kind="TOOL",
        input__value="triage",
        output__value="billing",
    )
    offered, accepted = mapped(agent, handoff)
    assert (offered.agent, accepted.agent) == ("triage", "billing")
    handoff_id = f"{TRACE}:{'h1'.rjust(16, '0')}"
    assert offered.payload == HandoffOffered(
        handoff_id=handoff_id, to_agent="billing", task="handoff from triage to billing"
    )
    assert accepted.payload == HandoffAccepted(handoff_id=handoff_id, from_agent="triage")


def test_a_tool_call_is_caused_by_the_model_call_before_it_else_by_a_recorded_ancestor() -> None:
    lineage = Lineage()
    agent = span("a1", gen_ai__operation__name="invoke_agent", gen_ai__agent__name="planner")
    chat = span("c1", "a1", gen_ai__operation__name="chat")
    tool = span("t1", "a1", gen_ai__operation__name="execute_tool", gen_ai__tool__name="x")
    nested = span("n1", "t1", gen_ai__operation__name="execute_tool", gen_ai__tool__name="y")
    for s in parents_first([nested, tool, chat, agent]):
        lineage.note(s)
    assert lineage.cause(tool) is None  # no model call yet, no ancestor recorded
    lineage.model_called(chat, "spend-1")
    lineage.recorded(tool, "action-1")
    assert lineage.cause(tool) == "spend-1"
    assert lineage.cause(nested) == "action-1"


def test_siblings_are_ordered_by_their_start() -> None:
    def at(span_id: str, start: int) -> Span:
        s = span(span_id, "a1")
        return Span(s.trace_id, s.span_id, s.parent_id, s.name, start, start + 1, False, "", {})

    root = span("a1")
    ordered = parents_first([at("t2", 30), at("t1", 10), root, at("t3", 20)])
    assert [s.span_id[-2:] for s in ordered] == ["a1", "t1", "t3", "t2"]
