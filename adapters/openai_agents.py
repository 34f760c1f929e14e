"""The OpenAI Agents SDK: a function tool under decision rights.

    agent = Agent(name="refunder", tools=[governed(refund, rec), governed(lookup, rec)])

Each call is authorized by the governance file as the action named by the tool
(``describe`` maps a call to another action, a resource and a cost). A call the rules
deny, or that a halt stops, never runs: its result, what the model reads, says it was
refused and why (the verdict is in the ledger)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from agents import FunctionTool
from agents.tool_context import ToolContext

from handrail.adapters.guarded_call import Describe, by_name, guarded
from handrail.producers import ActionBlockedError, Recorder


def governed(tool: FunctionTool, recorder: Recorder, describe: Describe = by_name) -> FunctionTool:
    """``tool``, its every call first authorized (and waiting for an approval where the
    rules ask for one)."""
    invoke = tool.on_invoke_tool

    async def on_invoke_tool(ctx: ToolContext[Any], input_json: str) -> Any:
        try:
            arguments = orjson.loads(input_json or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        action, resource, cost = describe(tool.name, arguments if isinstance(arguments, dict)
                                          else {})  # fmt: skip
        try:
            return await guarded(recorder, action, lambda: invoke(ctx, input_json),
                                 resource=resource, cost_usd=cost)  # fmt: skip
        except ActionBlockedError as blocked:
            return f"refused by handrail ({blocked.outcome}): {blocked.why}"

    return dataclasses.replace(tool, on_invoke_tool=on_invoke_tool)
