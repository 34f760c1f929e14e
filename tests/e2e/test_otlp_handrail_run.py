"""Agents instrumented with OpenTelemetry (the real SDK and its standard OTLP/HTTP exporter;
a Pydantic AI agent with its instrumentation on) feed ``handrail run`` unchanged: their
spans become events in the ledger, a tool that keeps failing raises the retry-storm
alert, and ``explain`` shows the run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agents import Agent as OpenAIAgent
from agents import Runner, function_tool, set_trace_processors
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from pydantic_ai import Agent, ModelRetry, UnexpectedModelBehavior
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.test import TestModel

from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import open_reader
from tests.support.openai_agents_model import ScriptedModel, final, tool_call
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(300)
RULES = {"defaults": {"retry": {"max_retries": 3, "window_s": 600}}}
CONVERSATION = "conv-42"


def run_agent(endpoint: str) -> None:
    """A support agent: two model calls, a tool that works, one that fails six times."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-svc", "handrail.owner": "team-support"})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("test-agent")
    agent = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support-bot",
        "gen_ai.conversation.id": CONVERSATION,
    }
    with tracer.start_as_current_span("invoke_agent support-bot", attributes=agent):
        for _ in range(2):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                },
            ):
                pass
        with tracer.start_as_current_span(
            "execute_tool lookup",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup",
                "gen_ai.tool.call.id": "call-1",
            },
        ):
            pass
        for n in range(6):
            with tracer.start_as_current_span(
                "execute_tool refund",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "refund",
                    "gen_ai.tool.call.id": f"call-r{n}",
                },
            ) as span:
                span.set_status(Status(StatusCode.ERROR, "payments API: HTTP 503"))
    assert provider.force_flush(30_000)
    provider.shutdown()


@dataclass
class Run:
    """``handrail run`` in a subprocess, receiving traces on ``endpoint``."""

    tmp: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    endpoint: str

    def explain(self, workflow: str) -> str:
        shown = subprocess.run(
            [sys.executable, "-m", "handrail", "explain", workflow, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        return json.dumps(json.loads(shown.stdout))


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    port = free_port()
    env = {
        **os.environ,
        "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool"),
        "HANDRAIL_SPOOL__CONTROL_LOG": str(tmp_path / "control.log"),
        "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
        "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "HANDRAIL_PROCESSORS__RULES": json.dumps(RULES),
        "HANDRAIL_PROCESSORS__TICK_INTERVAL_S": "0.5",
        "HANDRAIL_OTLP__PORT": str(port),
        "COLUMNS": "400",
    }
    log = (tmp_path / "run.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "handrail", "run"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not socket_path(tmp_path / "ledger").exists():
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "handrail run did not start"
            time.sleep(0.1)
        wait_listening(port, process)
        yield Run(tmp_path, env, process, f"http://127.0.0.1:{port}/v1/traces")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert process.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]


def test_spans_exported_by_the_otel_sdk_reach_the_ledger_detectors_and_explain(run: Run) -> None:
    run_agent(run.endpoint)
    rows = wait_rows(run.tmp, lambda rows: any(r["type"] == "alert_raised" for r in rows))
    tree = run.explain(CONVERSATION)
    kinds = [r["type"] for r in rows if r["workflow_id"] == CONVERSATION]
    assert kinds.count("spend") == 2
    assert kinds.count("action_executed") == 1
    assert kinds.count("action_failed") == 6
    assert kinds.count("retry") == 5
    every = [(r["type"], json.loads(r["event_json"])) for r in rows]
    events = dict(every)
    spend = events["spend"]
    assert (spend["agent"]["name"], spend["agent"]["owner"]) == ("support-bot", "team-support")
    assert spend["payload"]["input_tokens"] == 1200
    assert spend["payload"]["usd"] > 0  # priced from the model's table
    spends = {str(e["event_id"]) for kind, e in every if kind == "spend"}
    actions = [e for kind, e in every if kind in ("action_executed", "action_failed")]
    assert {str(e["causation_id"]) for e in actions} <= spends  # asked for by a model call
    alert = events["alert_raised"]
    assert alert["payload"]["dedup_key"] == f"retry-storm:support-bot:refund@{CONVERSATION}"
    assert "action_failed" in tree
    assert "retry" in tree


def test_a_pydantic_ai_agent_with_instrumentation_on_feeds_handrail_unchanged(run: Run) -> None:
    """Pydantic AI on its TestModel, instrumented as its docs say, exporting with the
    standard exporter: its tool that keeps failing is a retry storm."""
    provider = TracerProvider(resource=Resource.create({"service.name": "pydantic-ai-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=run.endpoint)))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    try:
        agent = Agent(TestModel(), name="refunder", retries=6)

        @agent.tool_plain
        def refund(order_id: str) -> str:
            raise ModelRetry(f"payments API: HTTP 503 for {order_id}")

        with pytest.raises(UnexpectedModelBehavior):
            agent.run_sync("refund order 7")
    finally:
        Agent.instrument_all(False)
    assert provider.force_flush(30_000)
    provider.shutdown()
    rows = wait_rows(run.tmp, lambda rows: any(r["type"] == "alert_raised" for r in rows))
    events = [(r["type"], json.loads(r["event_json"])) for r in rows]
    failed = [e for kind, e in events if kind == "action_failed"]
    assert len(failed) == 7  # the first call and its 6 retries
    assert {e["agent"]["name"] for e in failed} == {"refunder"}
    assert {e["payload"]["action"] for e in failed} == {"refund"}
    workflow = failed[0]["workflow_id"]
    assert sum(kind == "spend" for kind, e in events) >= 7  # a model call per attempt
    (alert,) = [e for kind, e in events if kind == "alert_raised"]
    assert alert["payload"]["dedup_key"] == f"retry-storm:refunder:refund@{workflow}"
    assert "action_failed" in run.explain(workflow)


def test_an_openai_agents_sdk_agent_traced_by_openinference_feeds_handrail_unchanged(
    run: Run,
) -> None:
    """The OpenAI Agents SDK on a scripted model, traced by OpenInference's instrumentor
    into the standard exporter: a triage agent hands off to a refunder (an offer and its
    acceptance), whose tool fails on every call: a retry storm."""
    provider = TracerProvider(resource=Resource.create({"service.name": "oai-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=run.endpoint)))
    set_trace_processors([])  # no export to OpenAI's backend
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:

        @function_tool
        def refund(order: str) -> str:
            raise RuntimeError(f"payments API: HTTP 503 for {order}")

        turns = [tool_call(n, "refund", '{"order": "7"}') for n in range(6)] + [final()]
        agent = OpenAIAgent(name="oai-refunder", instructions="refund", tools=[refund],
                            model=ScriptedModel(turns))  # fmt: skip
        triage = OpenAIAgent(
            name="triage",
            instructions="route",
            handoffs=[agent],
            model=ScriptedModel([tool_call(99, "transfer_to_oai_refunder")]),
        )
        asyncio.run(Runner.run(triage, "refund order 7"))
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush(30_000)
    provider.shutdown()
    rows = wait_rows(run.tmp, lambda rows: any(r["type"] == "alert_raised" for r in rows))
    events = [(r["type"], json.loads(r["event_json"])) for r in rows]
    failed = [e for kind, e in events if kind == "action_failed"]
    assert len(failed) == 6
    assert {(e["agent"]["name"], e["payload"]["action"]) for e in failed} == {
        ("oai-refunder", "refund")
    }
    (alert,) = [e for kind, e in events if kind == "alert_raised"]
    workflow = failed[0]["workflow_id"]
    assert alert["payload"]["dedup_key"] == f"retry-storm:oai-refunder:refund@{workflow}"
    (offered,) = [e for kind, e in events if kind == "handoff_offered"]
    (accepted,) = [e for kind, e in events if kind == "handoff_accepted"]
    assert (offered["agent"]["name"], offered["payload"]["to_agent"]) == ("triage", "oai-refunder")
    assert (accepted["agent"]["name"], accepted["payload"]["from_agent"]) == (
        "oai-refunder",
        "triage",
    )
    assert accepted["payload"]["handoff_id"] == offered["payload"]["handoff_id"]
    assert "retry" in run.explain(workflow)


def wait_listening(port: int, run: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the OTLP receiver never listened")


def wait_rows(tmp: Path, done: Any, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        reader = open_reader(f"chdb://{tmp / 'ledger'}")
        try:
            rows = reader.query("SELECT type, workflow_id, event_json FROM events")
        finally:
            reader.close()
        if done(rows):
            return rows
        time.sleep(0.5)
    raise AssertionError(f"not in the ledger in {timeout} s: {[r['type'] for r in rows]}")
