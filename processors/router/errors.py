"""Errors the alert router raises. Delivery trouble is never one of them: it is logged
and recorded as ``alert_delivered`` events instead."""

from handrail.errors import HandrailError


class RouterError(HandrailError):
    """Root of the errors raised by ``handrail.processors.router``."""


class MalformedAlertError(RouterError, ValueError):
    """An alert event record lacks a field or carries an invalid value; the message says which."""
