"""Which handrail events spans become (docs/otlp.md), under each convention."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.otlp.mapping import Lineage, Mapped, map_span, parents_first
from handrail.otlp.pricing import price
from handrail.otlp.spans import Span
from handrail.schemas.models import ActionExecuted, ActionFailed, Retry, Spend

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(
    span_id: str,
    parent: str | None = None,
    *,
    failed: bool = False,
    name: str = "s",
    resource: dict[str, Any] | None = None,
    message: str = "",
    **attrs: Any,
) -> Span:
    return Span(
        TRACE,
        span_id,
        parent,
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


@pytest.mark.parametrize("tokens", [-5, float("nan"), float("inf"), "12abc", True, [1], None, 1e30])
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
