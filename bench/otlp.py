"""The OTLP receiver: spans per second ingested (HTTP POST, parse, map, record through the
SDK into a spool), beside the bare protobuf parse of the same requests in the same run.

    python -m bench.otlp [--requests 200] [--spans 100] [--rounds 3] [--json FILE] [--quick]

``--requests`` protobuf ``ExportTraceServiceRequest`` bodies of ``--spans`` GenAI spans each
(an agent span, model calls with tokens, tool calls, a tenth of them failing) are built
once. Each round: the baseline parses every body with opentelemetry-proto and walks its
spans' attributes; the receiver runs in this process on an ephemeral port (aiohttp) and
a client posts the bodies one after another, the clock stopping once every recorder has
flushed its events to the spool. Figures are medians of the rounds.

Target (issue 26): ingest >= 50% of the bare parse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench._cli import parse_args
from handrail.otlp.receiver import PATH, Receiver
from handrail.otlp.recording import SpanRecorder
from handrail.settings import OtlpSettings, Settings, SpoolSettings

AGENTS = 4


def _kv(key: str, value: Any) -> KeyValue:
    v = AnyValue()
    if isinstance(value, int):
        v.int_value = value
    else:
        v.string_value = value
    return KeyValue(key=key, value=v)


def build(requests: int, spans: int) -> list[bytes]:
    """Request bodies: per request one agent's run, its model and tool calls."""
    bodies = []
    for r in range(requests):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(_kv("service.name", "bench-svc"))
        out = resource_spans.scope_spans.add().spans
        trace = r.to_bytes(16, "big")
        agent = f"agent-{r % AGENTS}"
        root = out.add(trace_id=trace, span_id=(r * 1_000_000).to_bytes(8, "big"),
                       name=f"invoke_agent {agent}")  # fmt: skip
        root.attributes.extend([_kv("gen_ai.operation.name", "invoke_agent"),
                                _kv("gen_ai.agent.name", agent)])  # fmt: skip
        for n in range(1, spans):
            span = out.add(trace_id=trace, span_id=(r * 1_000_000 + n).to_bytes(8, "big"),
                           parent_span_id=root.span_id, start_time_unix_nano=1,
                           end_time_unix_nano=2_000_000, kind=Span.SPAN_KIND_INTERNAL)  # fmt: skip
            if n % 2:
                span.name = "chat gpt-4o"
                span.attributes.extend([
                    _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.request.model", "gpt-4o"),
                    _kv("gen_ai.provider.name", "openai"), _kv("gen_ai.usage.input_tokens", 900),
                    _kv("gen_ai.usage.output_tokens", 120 + n),
                ])  # fmt: skip
            else:
                span.name = "execute_tool search"
                span.attributes.extend([_kv("gen_ai.operation.name", "execute_tool"),
                                        _kv("gen_ai.tool.name", f"tool-{n % 7}"),
                                        _kv("gen_ai.tool.call.id", f"call-{r}-{n}")])  # fmt: skip
                if n % 10 == 0:
                    span.status.code = Status.STATUS_CODE_ERROR
                    span.status.message = "HTTP 503"
        bodies.append(request.SerializeToString())
    return bodies


def bare_parse(bodies: list[bytes]) -> float:
    """Seconds to parse every body and read its spans' attributes."""
    started = time.perf_counter()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    for kv in span.attributes:
                        kv.value.WhichOneof("value")
    return time.perf_counter() - started


def ingest(bodies: list[bytes], tmp: Path) -> float:
    """Seconds from the first POST until every event is in the spool."""
    settings = Settings(spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
                        otlp=OtlpSettings())  # fmt: skip
    recorder = SpanRecorder(settings)

    async def go() -> float:
        server = TestServer(Receiver(recorder, settings.otlp).app(), host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url(PATH))
        headers = {"Content-Type": "application/x-protobuf"}
        try:
            async with ClientSession() as session:
                started = time.perf_counter()
                for body in bodies:
                    async with session.post(url, data=body, headers=headers) as response:
                        assert response.status == 200, await response.text()
                await asyncio.to_thread(recorder.flush, 60)
                return time.perf_counter() - started
        finally:
            await server.close()

    try:
        return asyncio.run(go())
    finally:
        recorder.close(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--spans", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parse_args(parser, requests=20, spans=20, rounds=1)
    bodies = build(args.requests, args.spans)
    spans = args.requests * args.spans
    bare, ours = [], []
    for n in range(args.rounds):
        bare.append(spans / bare_parse(bodies))
        with tempfile.TemporaryDirectory(prefix="handrail-bench-otlp-") as tmp:
            ours.append(spans / ingest(bodies, Path(tmp)))
        print(f"  round {n + 1}: bare parse {bare[-1]:,.0f} spans/s, receiver {ours[-1]:,.0f} "
              f"spans/s")  # fmt: skip
    figures = {
        "spans": spans,
        "requests": args.requests,
        "rounds": args.rounds,
        "bare_parse_spans_per_s": statistics.median(bare),
        "ingest_spans_per_s": statistics.median(ours),
    }
    ratio = figures["ingest_spans_per_s"] / figures["bare_parse_spans_per_s"]
    print(f"OTLP receiver: {figures['ingest_spans_per_s']:,.0f} spans/s, {ratio:.0%} of the bare "
          f"parse ({figures['bare_parse_spans_per_s']:,.0f}/s; target >= 50%)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
