"""A scripted model for the OpenAI Agents SDK: no network, each turn's output given."""

from __future__ import annotations

from typing import Any

from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)


class ScriptedModel(Model):
    """Answers each request with the next turn: tool calls, then a final message."""

    def __init__(self, turns: list[list[Any]]) -> None:
        self.turns = list(turns)

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        usage = Usage(requests=1, input_tokens=100, output_tokens=20, total_tokens=120)
        return ModelResponse(output=self.turns.pop(0), usage=usage, response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def tool_call(n: int, name: str, arguments: str = "{}") -> list[Any]:
    return [ResponseFunctionToolCall(id=f"fc_{n}", call_id=f"call_{n}", name=name,
                                     arguments=arguments, type="function_call",
                                     status="completed")]  # fmt: skip


def final(text: str = "done") -> list[Any]:
    return [ResponseOutputMessage(
        id="msg_1", role="assistant", status="completed", type="message",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[])],
    )]  # fmt: skip
