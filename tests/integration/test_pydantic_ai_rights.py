"""Decision rights in a Pydantic AI agent's tools, one line (``GovernedToolset``): a real
agent on Pydantic AI's TestModel, the real governance file, the embedded control log.
A denied tool is never called; a halt stops the next tool call; a call over its spend cap
waits for a person's approval and runs once approved; every verdict is recorded."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel
from pydantic_ai.toolsets import FunctionToolset

from handrail.adapters.pydantic_ai import GovernedToolset
from handrail.control.log import ControlLog
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents, HaltSigner
from handrail.producers import ActionBlockedError, Recorder
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings
from tests.support.approvals import approve, pending
from tests.support.signers import PROCESSOR, governance_yaml, key_file

pytestmark = pytest.mark.timeout(120)
RIGHTS = """  - action: delete_account
    effect: deny
  - action: refund
    effect: allow
    spend: {per_request_usd: 5}
    approval: {timeout_s: 60, approvers: [bob]}
  - action: lookup
    effect: allow
"""


def settings(tmp: Path) -> Settings:
    rules = governance_yaml(extra_agents=("refunder",)).replace("rights:\n", "rights:\n" + RIGHTS)
    (tmp / "governance.yaml").write_text(rules)
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        governance=GovernanceSettings(file=tmp / "governance.yaml"),
    )


def verdicts(tmp: Path) -> list[tuple[str, str]]:
    """The verdicts in the spool, each event once (delivery is at least once: the ledger
    keeps one row per event id, and so does this)."""
    records = {r["event_id"]: r for r in read_all(tmp / "spool")
               if event_type(r) == "policy_verdict"}  # fmt: skip
    return [(r["payload"][1]["action"], r["payload"][1]["effect"]) for r in records.values()]


def agent_with(tools: list[Any], rec: Recorder) -> Agent[Any, str]:
    """An agent whose tools are governed: one line, ``GovernedToolset(toolset, rec)``."""
    return Agent(
        TestModel(call_tools="all", custom_output_text="done"),
        toolsets=[GovernedToolset(FunctionToolset(tools), rec)],
    )


def test_a_denied_tool_is_never_called(tmp_path: Path) -> None:
    called = []

    def delete_account(account: str) -> str:
        called.append(account)
        return "deleted"

    s = settings(tmp_path)
    with (
        Recorder(s, AgentIdentity(name="refunder", owner="team")) as rec,
        pytest.raises(ActionBlockedError),
    ):
        agent_with([delete_account], rec).run_sync("delete the account")
    assert called == []
    assert verdicts(tmp_path) == [("delete_account", "deny")]


def test_a_halt_stops_the_next_tool_call(tmp_path: Path) -> None:
    called = []

    def lookup(order: str) -> str:
        called.append(order)
        return "found"

    s = settings(tmp_path)
    with Recorder(s, AgentIdentity(name="refunder", owner="team")) as rec:
        assert agent_with([lookup], rec).run_sync("look it up").output == "done"
        signer = HaltSigner.load(PROCESSOR, key_file(tmp_path, PROCESSOR))
        halt = Finding(
            "spend",
            "spend-cap:refunder",
            "over the cap",
            "refunder",
            "team",
            "wf-1",
            "critical",
            halt="agent",
        )
        (_, outgoing) = FindingEvents("handrail-processors", {}, signer).encode([halt])
        ControlLog(s.spool.control_log).append([outgoing.value])
        blocked = first_blocked(agent_with([lookup], rec))
    assert "halted" in str(blocked)
    assert verdicts(tmp_path)[0] == ("lookup", "allow")
    assert verdicts(tmp_path)[-1] == ("lookup", "deny")


def first_blocked(agent: Agent[Any, str], runs: int = 100) -> ActionBlockedError:
    """Run ``agent`` until a tool call is blocked (the recorder follows the control log as
    it goes, so the halt binds within a few runs, not necessarily the next)."""
    for _ in range(runs):
        try:
            agent.run_sync("look it up again")
        except ActionBlockedError as exc:
            return exc
    raise AssertionError(f"not blocked in {runs} runs")


def test_a_call_over_its_cap_waits_for_an_approval_and_runs_once_approved(
    tmp_path: Path,
) -> None:
    called = []

    def refund(order: str, usd: float) -> str:
        called.append(usd)
        return "refunded"

    s = settings(tmp_path)
    result: dict[str, Any] = {}
    with Recorder(s, AgentIdentity(name="refunder", owner="team")) as rec:
        agent = Agent(
            TestModel(call_tools="all", custom_output_text="done"),
            toolsets=[
                GovernedToolset(
                    FunctionToolset([refund]), rec, describe=lambda name, a: (name, None, 50.0)
                )
            ],
        )
        run = threading.Thread(target=lambda: result.update(out=agent.run_sync("refund it")))
        run.start()
        request = pending(s)
        assert called == []  # waiting for bob
        approve(s, request.approval_id, key_file(tmp_path, "bob"))
        run.join(60)
    assert result["out"].output == "done"
    assert len(called) == 1
    kinds = [event_type(r) for r in read_all(tmp_path / "spool")]
    assert "approval_requested" in kinds
    assert "action_executed" in kinds
