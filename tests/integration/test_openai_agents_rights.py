"""Decision rights in an OpenAI Agents SDK agent's tools, one line per tool (``governed``):
a real agent and runner on a scripted model, the real governance file, the embedded
control log. A denied tool never runs (the model reads why); a halt stops the next call; a
call over its spend cap waits for a person's approval and runs once approved."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool, set_trace_processors

from handrail.adapters.openai_agents import governed
from handrail.control.log import ControlLog
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents, HaltSigner
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.settings import AgentIdentity
from tests.integration.test_pydantic_ai_rights import settings, verdicts
from tests.support.approvals import approve, pending
from tests.support.openai_agents_model import ScriptedModel, final, tool_call
from tests.support.signers import PROCESSOR, key_file

pytestmark = pytest.mark.timeout(120)
set_trace_processors([])  # no export to OpenAI's backend


def run(tools: list[Any], turns: list[list[Any]]) -> Any:
    agent = Agent(name="refunder", instructions="help", tools=tools, model=ScriptedModel(turns))
    return asyncio.run(Runner.run(agent, "go"))


def test_a_denied_tool_never_runs_and_the_model_reads_why(tmp_path: Path) -> None:
    called = []

    @function_tool
    def delete_account(account: str) -> str:
        called.append(account)
        return "deleted"

    with Recorder(settings(tmp_path), AgentIdentity(name="refunder", owner="team")) as rec:
        result = run(
            [governed(delete_account, rec)],
            [tool_call(1, "delete_account", '{"account": "a1"}'), final()],
        )
    assert called == []
    outputs = [str(i.output) for i in result.new_items if hasattr(i, "output")]
    assert any("refused by handrail (denied)" in o for o in outputs)
    assert verdicts(tmp_path) == [("delete_account", "deny")]


def test_a_halt_stops_the_next_tool_call(tmp_path: Path) -> None:
    called = []

    @function_tool
    def lookup(order: str) -> str:
        called.append(order)
        return "found"

    s = settings(tmp_path)
    with Recorder(s, AgentIdentity(name="refunder", owner="team")) as rec:
        run([governed(lookup, rec)], [tool_call(1, "lookup", '{"order": "7"}'), final()])
        assert called == ["7"]
        signer = HaltSigner.load(PROCESSOR, key_file(tmp_path, PROCESSOR))
        halt = Finding("spend", "spend-cap:refunder", "over the cap", "refunder", "team",
                       "wf-1", "critical", halt="agent")  # fmt: skip
        (_, outgoing) = FindingEvents("handrail-processors", {}, signer).encode([halt])
        ControlLog(s.spool.control_log).append([outgoing.value])
        for n in range(100):  # the recorder follows the control log as it goes
            run([governed(lookup, rec)], [tool_call(n + 2, "lookup", '{"order": "8"}'), final()])
            if verdicts(tmp_path)[-1] == ("lookup", "deny"):
                break
    assert verdicts(tmp_path)[-1] == ("lookup", "deny")
    ran = [event_type(r) for r in read_all(tmp_path / "spool")
           if event_type(r) in ("action_executed", "action_failed")]  # fmt: skip
    assert len(called) == len(verdicts(tmp_path)) - 1, ran  # every allowed call ran, not the denied


def test_a_call_over_its_cap_waits_for_an_approval_and_runs_once_approved(
    tmp_path: Path,
) -> None:
    called = []

    @function_tool
    def refund(order: str, usd: float) -> str:
        called.append(usd)
        return "refunded"

    s = settings(tmp_path)
    result: dict[str, Any] = {}
    with Recorder(s, AgentIdentity(name="refunder", owner="team")) as rec:
        tool = governed(refund, rec, describe=lambda name, args: (name, None, args["usd"]))
        turns = [tool_call(1, "refund", '{"order": "7", "usd": 50}'), final()]
        thread = threading.Thread(target=lambda: result.update(out=run([tool], turns)))
        thread.start()
        request = pending(s)
        assert called == []  # waiting for bob
        approve(s, request.approval_id, key_file(tmp_path, "bob"))
        thread.join(60)
    assert result["out"].final_output == "done"
    assert called == [50.0]
    kinds = [event_type(r) for r in read_all(tmp_path / "spool")]
    assert "approval_requested" in kinds
    assert "action_executed" in kinds
