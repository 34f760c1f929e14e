"""OTLP traces in: agents instrumented with OpenTelemetry feed handrail unchanged.

    POST /v1/traces --request--> spans --mapping--> handrail events --recording--> SDK

``request`` turns an OTLP/HTTP body (protobuf or JSON, gzip or not, within a size limit)
into the protobuf request; ``spans`` flattens it into plain span views; ``mapping`` says
which handrail event each GenAI span is (pure, no I/O); ``pricing`` prices a model call;
``recording`` records the events through the SDK, as any agent does (so the spool or
Kafka, the ledger, the detectors and ``explain`` see nothing new); ``receiver`` is the
HTTP endpoint.
"""
