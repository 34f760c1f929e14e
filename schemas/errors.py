"""Errors of the event contract and its wire format."""

from handrail.errors import HandrailError


class SchemaError(HandrailError):
    """Root of the errors raised by ``handrail.schemas``."""


class DecodeError(SchemaError):
    """A message could not be decoded as a handrail event; ``str()`` says why."""


class BadHeaderError(DecodeError):
    """The message does not start with the Avro single-object marker ``C3 01`` and a fingerprint."""


class UnknownFingerprintError(DecodeError):
    """The writer-schema fingerprint in the header belongs to no released schema version."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint


class TruncatedBodyError(DecodeError):
    """The Avro body ended before the record it announces was complete."""


class CorruptBodyError(DecodeError):
    """The Avro body is not a valid record of its writer schema (or has trailing bytes)."""
