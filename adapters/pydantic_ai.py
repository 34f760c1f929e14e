"""Pydantic AI: a toolset wrapper.

    agent = Agent(model, toolsets=[GovernedToolset(FunctionToolset([refund, lookup]), rec)])

Each call of a wrapped tool is authorized by the governance file as the action named by
the tool (``describe`` maps a call to another action, a resource and a cost); a call the
rules deny, or that a halt stops, raises ``ActionBlockedError`` and never runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.toolsets import WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from handrail.adapters.guarded_call import Describe, by_name, guarded
from handrail.producers import Recorder


@dataclass
class GovernedToolset(WrapperToolset[Any]):
    recorder: Recorder
    describe: Describe = by_name

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        action, resource, cost = self.describe(name, tool_args)
        call = super().call_tool
        return await guarded(self.recorder, action, lambda: call(name, tool_args, ctx, tool),
                             resource=resource, cost_usd=cost)  # fmt: skip
