"""Errors the SDK raises into agent code: only programming errors, never transport trouble."""

from handrail.errors import HandrailError


class ProducerError(HandrailError):
    """Root of the errors raised by ``handrail.producers``."""


class InvalidEventError(ProducerError, ValueError):
    """An event argument is invalid; the message names the event type and the field."""


class RecorderClosedError(ProducerError):
    """An event was recorded after ``Recorder.close()``."""


class SpoolError(ProducerError):
    """The spool directory cannot be used (not writable, or locked by a live process)."""


class ConfigurationError(ProducerError, ValueError):
    """A recorder setting is invalid (e.g. a redaction path that names no field)."""
