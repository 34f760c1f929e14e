"""The OTLP/HTTP traces endpoint: ``POST /v1/traces``, answered as the OTLP specification
says. 200 with an ``ExportTraceServiceResponse`` (its ``partial_success`` counts the spans
refused, with the first reasons); 400 for a body that is not a traces request, not to be
retried (an encoding other than gzip is one); 408 for a body that does not arrive within
``READ_TIMEOUT_S``; 413 past ``otlp.max_request_bytes``, before or after gzip; 415 for a
media type it does not take; 503 with ``Retry-After`` while ``otlp.max_in_flight``
requests are handled. An error's body is a ``google.rpc.Status`` in the request's format."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from handrail.otlp.recording import Outcome, SpanRecorder
from handrail.otlp.request import JSON, PROTOBUF, RequestError, media_type, parse
from handrail.settings import OtlpSettings

log = logging.getLogger(__name__)

PATH = "/v1/traces"
READ_TIMEOUT_S = 10
"""Longest a request's body may take to arrive."""
RETRY_AFTER_S = 1
"""Suggested wait before a client sends again a request refused while busy."""
GRPC_CODES = {400: 3, 408: 4, 413: 8, 415: 3, 503: 14}
"""google.rpc codes: INVALID_ARGUMENT, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE."""


class Receiver:
    def __init__(self, recorder: SpanRecorder, settings: OtlpSettings) -> None:
        self.recorder = recorder
        self.settings = settings
        self._in_flight = 0

    def app(self) -> web.Application:
        # aiohttp refuses a body past client_max_size with 413 as it reads it
        app = web.Application(client_max_size=self.settings.max_request_bytes)
        app.router.add_post(PATH, self.traces)
        return app

    async def traces(self, request: web.Request) -> web.Response:
        json = media_type(request.content_type) == JSON
        if self._in_flight >= self.settings.max_in_flight:
            return _error(503, "busy: send again later", json,
                          {"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
        self._in_flight += 1
        try:
            limit = self.settings.max_request_bytes
            if (request.content_length or 0) > limit:
                raise RequestError(413, f"the body is larger than {limit} bytes")
            encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("identity", "gzip"):  # aiohttp would inflate deflate, zstd...
                raise RequestError(400, f"unsupported Content-Encoding {encoding[:40]!r}")
            try:  # aiohttp decompresses gzip as it reads, and stops past client_max_size
                async with asyncio.timeout(READ_TIMEOUT_S):  # a stalled body frees its slot
                    body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise RequestError(413, f"the body is larger than {limit} bytes") from None
            except TimeoutError:
                raise RequestError(408, f"the body took more than {READ_TIMEOUT_S} s") from None
            except Exception as exc:  # a body that does not decompress, or a broken stream
                raise RequestError(400, f"the body cannot be read: {exc}") from None
            # parsing and recording are CPU work: off the event loop, which may run a pipeline
            outcome = await asyncio.to_thread(self._handle, body, request.content_type)
        except RequestError as exc:
            return _error(exc.status, str(exc), json)
        finally:
            self._in_flight -= 1
        response = ExportTraceServiceResponse()
        if outcome.rejected:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = "; ".join(outcome.errors)
        return _message(200, response, json)

    def _handle(self, body: bytes, content_type: str) -> Outcome:
        outcome = self.recorder.record(parse(body, content_type))
        if outcome.rejected:
            log.warning("otlp: %d span(s) refused: %s", outcome.rejected, outcome.errors[0])
        return outcome


def _error(
    status: int, message: str, json: bool, headers: dict[str, str] | None = None
) -> web.Response:
    return _message(status, Status(code=GRPC_CODES.get(status, 2), message=message), json,
                    headers)  # fmt: skip


def _message(
    status: int, message: Any, json: bool, headers: dict[str, str] | None = None
) -> web.Response:
    if json:
        body = json_format.MessageToJson(message, indent=None).encode()
        return web.Response(status=status, body=body, content_type=JSON, headers=headers)
    return web.Response(status=status, body=message.SerializeToString(), content_type=PROTOBUF,
                        headers=headers)  # fmt: skip


async def serve(receiver: Receiver, stop: asyncio.Event) -> None:
    """Listen on ``otlp.host``:``otlp.port`` until ``stop`` is set."""
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, receiver.settings.host, receiver.settings.port)
    await site.start()
    log.info("otlp: receiving traces on http://%s:%d%s", receiver.settings.host,
             receiver.settings.port, PATH)  # fmt: skip
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
