"""The one exception of the local Kafka broker scripts."""

from __future__ import annotations


class BrokerError(RuntimeError):
    """The broker (or resolving its classpath) failed; the message carries the evidence."""
