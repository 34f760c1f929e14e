"""The event contract: Avro schemas (``avro/event.vN.avsc``), the models generated from
them, and the single-object wire format.

The bottom layer: may import only ``handrail.errors``, pydantic and fastavro.
"""

from handrail.schemas.errors import (
    BadHeaderError,
    CorruptBodyError,
    DecodeError,
    SchemaError,
    TruncatedBodyError,
    UnknownFingerprintError,
)
from handrail.schemas.models import AVRO_NAMES, PAYLOAD_TYPES, Event, Payload
from handrail.schemas.records import event_type, from_record, to_record
from handrail.schemas.registry import Registry, SchemaVersion, registry
from handrail.schemas.wire import EventRecord, decode, encode

__all__ = [
    "AVRO_NAMES",
    "PAYLOAD_TYPES",
    "BadHeaderError",
    "CorruptBodyError",
    "DecodeError",
    "Event",
    "EventRecord",
    "Payload",
    "Registry",
    "SchemaError",
    "SchemaVersion",
    "TruncatedBodyError",
    "UnknownFingerprintError",
    "decode",
    "encode",
    "event_type",
    "from_record",
    "registry",
    "to_record",
]
