"""The OTLP/HTTP receiver over real HTTP, recording into a real spool: what the OTLP
specification asks of a server (protobuf and JSON, gzip, the size limit, malformed bodies,
overload), and the events that reach the spool."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from handrail.otlp import receiver as receiver_module
from handrail.otlp.receiver import PATH, Receiver
from handrail.otlp.recording import SpanRecorder
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.settings import OtlpSettings, Settings, SpoolSettings

pytestmark = pytest.mark.timeout(120)
TRACE = "5b8efff798038103d269b633813fc60c"
PROTO = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def request_json(*spans: dict[str, Any], service: str = "shop-agent") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


def tool_span(span_id: str, tool: str, *, failed: bool = False, parent: str = "") -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": f"execute_tool {tool}",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
            {"key": "gen_ai.tool.name", "value": {"stringValue": tool}},
        ],
        "status": {"code": 2, "message": "HTTP 503"} if failed else {},
    }


def chat_span(span_id: str, parent: str = "") -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
    }
    values = [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]
    values += [
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "500"}},
    ]
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": "chat gpt-4o",
        "attributes": values,
    }


def agent_span(span_id: str, agent: str) -> dict[str, Any]:
    attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": f"invoke_agent {agent}",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def protobuf_of(data: dict[str, Any]) -> bytes:
    """The same request as protobuf: OTLP JSON's hex ids are protobuf JSON's base64."""
    from handrail.otlp.request import parse

    return parse(orjson.dumps(data), "application/json").SerializeToString()


def settings(tmp: Path, **otlp: Any) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        otlp=OtlpSettings(**otlp),
    )


def serve(
    tmp: Path, check: Callable[[ClientSession, str], Awaitable[None]], **otlp: Any
) -> list[Any]:
    """Run the receiver on an ephemeral port, ``check`` it, then return the spool's records."""
    s = settings(tmp, **otlp)
    recorder = SpanRecorder(s)

    async def go() -> None:
        server = TestServer(Receiver(recorder, s.otlp).app(), host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession() as session:
                await check(session, str(server.make_url(PATH)))
        finally:
            await server.close()

    asyncio.run(go())
    recorder.close(10)
    return list(read_all(tmp / "spool")) if (tmp / "spool").exists() else []


async def post(
    session: ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, Any]:
    # a connection of its own: the server closes one whose body it could not read
    async with session.post(url, data=body, headers={**headers, "Connection": "close"}) as response:
        return response.status, await response.read(), response.headers


def test_protobuf_and_json_requests_are_recorded_with_agent_tool_tokens_and_cause(
    tmp_path: Path,
) -> None:
    data = request_json(
        agent_span("00000000000000a1", "planner"),
        chat_span("00000000000000c1", "00000000000000a1"),
        tool_span("00000000000000t1".replace("t", "b"), "search", parent="00000000000000a1"),
    )

    async def check(session: ClientSession, url: str) -> None:
        status, body, _ = await post(session, url, protobuf_of(data), PROTO)
        response = ExportTraceServiceResponse.FromString(body)
        assert (status, response.partial_success.rejected_spans) == (200, 0)
        status, body, headers = await post(session, url, orjson.dumps(data), JSON)
        assert (status, headers["Content-Type"]) == (200, "application/json")
        assert orjson.loads(body) == {}

    records = serve(tmp_path, check)
    kinds = sorted(event_type(r) for r in records)
    assert kinds == ["action_executed", "action_executed", "spend", "spend"]
    spend = next(r for r in records if event_type(r) == "spend")
    assert spend["agent"]["name"] == "planner"
    assert spend["workflow_id"] == TRACE
    fields = spend["payload"][1]
    assert (fields["model"], fields["input_tokens"], fields["output_tokens"]) == (
        "gpt-4o",
        1000,
        500,
    )
    assert fields["usd"] == pytest.approx(0.0075)
    assert spend["labels"]["otel.span_id"] == "00000000000000c1"


def test_gzip_bodies_are_taken_and_bombs_and_oversize_bodies_refused(tmp_path: Path) -> None:
    data = protobuf_of(request_json(tool_span("00000000000000b1", "search")))
    bomb = gzip.compress(b"\0" * (8 << 20))

    async def check(session: ClientSession, url: str) -> None:
        status, _, _ = await post(
            session, url, gzip.compress(data), {**PROTO, "Content-Encoding": "gzip"}
        )
        assert status == 200
        status, body, _ = await post(session, url, bomb, {**PROTO, "Content-Encoding": "gzip"})
        assert status == 413
        assert "larger than" in Status.FromString(body).message
        status, _, _ = await post(session, url, b"\0" * (2 << 20), PROTO)
        assert status == 413
        for broken in (gzip.compress(data)[: len(data) // 2], b"\x1f\x8b" + b"\x07" * 50):
            status, _, _ = await post(session, url, broken, {**PROTO, "Content-Encoding": "gzip"})
            assert status == 400
        status, _, _ = await post(session, url, data, {**PROTO, "Content-Encoding": "br"})
        assert status == 400  # aiohttp's answer to an encoding it cannot decode

    records = serve(tmp_path, check, max_request_bytes=1 << 20)
    assert [event_type(r) for r in records] == ["action_executed"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff\xff", PROTO, 400),
        (b"not json", JSON, 400),
        (b"[1, 2]", JSON, 400),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, 400),
        (b'{"resourceSpans": 7}', JSON, 400),
        (b"{}", {"Content-Type": "text/plain"}, 415),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400),
    ],
)
def test_malformed_bodies_get_400_or_415_and_the_receiver_goes_on(
    tmp_path: Path, body: bytes, headers: dict[str, str], status: int
) -> None:
    good = protobuf_of(request_json(tool_span("00000000000000b1", "search")))

    async def check(session: ClientSession, url: str) -> None:
        got, answer, _ = await post(session, url, body, headers)
        assert got == status
        if headers is JSON:
            assert orjson.loads(answer)["message"]
        assert (await post(session, url, good, PROTO))[0] == 200

    assert [event_type(r) for r in serve(tmp_path, check)] == ["action_executed"]


def test_spans_the_sdk_refuses_are_counted_in_partial_success(tmp_path: Path) -> None:
    bad = chat_span("00000000000000b2")  # a stated cost no spend may have
    bad["attributes"].append({"key": "operation.cost", "value": {"doubleValue": 5e9}})
    data = request_json(tool_span("00000000000000b1", "search"), bad)

    async def check(session: ClientSession, url: str) -> None:
        status, body, _ = await post(session, url, protobuf_of(data), PROTO)
        response = ExportTraceServiceResponse.FromString(body)
        assert (status, response.partial_success.rejected_spans) == (200, 1)
        assert "00000000000000b2" in response.partial_success.error_message

    assert [event_type(r) for r in serve(tmp_path, check)] == ["action_executed"]


def test_a_busy_receiver_answers_503_with_retry_after(tmp_path: Path) -> None:
    s = settings(tmp_path, max_in_flight=1)
    recorder = SpanRecorder(s)
    entered, release = threading.Event(), threading.Event()
    record = recorder.record

    def slow(request: ExportTraceServiceRequest) -> Any:
        entered.set()
        release.wait(30)
        return record(request)

    recorder.record = slow  # type: ignore[method-assign]
    data = protobuf_of(request_json(tool_span("00000000000000b1", "search")))

    async def go() -> None:
        server = TestServer(Receiver(recorder, s.otlp).app(), host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url(PATH))
        try:
            async with ClientSession() as session:
                first = asyncio.create_task(post(session, url, data, PROTO))
                await asyncio.to_thread(entered.wait, 30)
                status, body, headers = await post(session, url, data, PROTO)
                assert (status, headers["Retry-After"]) == (503, "1")
                assert Status.FromString(body).code == 14  # UNAVAILABLE
                release.set()
                assert (await first)[0] == 200
                assert (await post(session, url, data, PROTO))[0] == 200
        finally:
            release.set()
            await server.close()

    asyncio.run(go())
    recorder.close(10)
    assert [event_type(r) for r in read_all(tmp_path / "spool")] == ["action_executed"] * 2


def test_json_error_bodies_are_json(tmp_path: Path) -> None:
    async def check(session: ClientSession, url: str) -> None:
        status, body, _ = await post(session, url, b"{", JSON)
        assert status == 400
        status_message = json_format.Parse(body, Status())
        assert status_message.code == 3

    serve(tmp_path, check)


def test_encodings_other_than_gzip_are_refused_before_the_body_is_inflated(
    tmp_path: Path,
) -> None:
    data = protobuf_of(request_json(tool_span("00000000000000b1", "search")))

    async def check(session: ClientSession, url: str) -> None:
        for encoding, body in (("deflate", zlib.compress(data)), ("zstd", data)):
            status, answer, _ = await post(
                session, url, body, {**PROTO, "Content-Encoding": encoding}
            )
            assert status == 400
            assert "Content-Encoding" in Status.FromString(answer).message

    assert serve(tmp_path, check) == []


def test_a_body_that_stalls_frees_its_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that sends its headers and then nothing gets 408, and its in-flight slot
    back; it never starves the others."""
    monkeypatch.setattr(receiver_module, "READ_TIMEOUT_S", 0.5)
    data = protobuf_of(request_json(tool_span("00000000000000b1", "search")))

    async def check(session: ClientSession, url: str) -> None:
        host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf"
            f"\r\nContent-Length: 1000\r\n\r\nx".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert b" 408 " in status_line
        writer.close()
        assert (await post(session, url, data, PROTO))[0] == 200

    assert [event_type(r) for r in serve(tmp_path, check, max_in_flight=1)] == ["action_executed"]


def test_json_ids_in_snake_case_are_hex_too(tmp_path: Path) -> None:
    span = tool_span("00000000000000b1", "search")
    span["trace_id"], span["span_id"] = span.pop("traceId"), span.pop("spanId")
    data = request_json(span)

    async def check(session: ClientSession, url: str) -> None:
        assert (await post(session, url, orjson.dumps(data), JSON))[0] == 200

    (record,) = serve(tmp_path, check)
    assert record["labels"]["otel.trace_id"] == TRACE


def test_past_max_agents_the_least_recently_used_recorder_closes_and_no_span_is_refused(
    tmp_path: Path,
) -> None:
    """An attacker naming many agents once filled every slot for good: spans of any new
    agent were refused for the life of the process."""
    bodies = [protobuf_of(request_json(tool_span(f"00000000000000b{n}", "search"),
                                       service=f"agent-{n}")) for n in range(5)]  # fmt: skip

    async def check(session: ClientSession, url: str) -> None:
        for body in bodies:
            status, answer, _ = await post(session, url, body, PROTO)
            assert status == 200
            assert ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans == 0

    records = serve(tmp_path, check, max_agents=2)
    assert sorted(r["agent"]["name"] for r in records) == [f"agent-{n}" for n in range(5)]
