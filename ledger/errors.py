"""Errors of the ledger."""

from handrail.errors import HandrailError


class LedgerError(HandrailError):
    """Root of the errors raised by ``handrail.ledger``."""


class MigrationError(LedgerError):
    """A migration could not be applied; the message names the file and statement."""


class NotInLedgerError(LedgerError, LookupError):
    """No event and no workflow with the given id in the ledger."""


class LedgerBusyError(LedgerError):
    """The embedded (chdb) ledger is open in another process."""


class QueryError(LedgerError):
    """The ledger refused or failed a read query; the message carries the reason."""


class QueryRefused(QueryError):  # noqa: N818 - what the caller is told: refused, with why
    """A forensic query does something other than read the ledger's tables (writes, files,
    the network, settings, several statements): it was not run."""


class OwnerError(LedgerError):
    """The process serving an embedded ledger could not be reached, or is not who it
    should be (another user's socket): nothing was sent to it."""


class InserterError(LedgerError):
    """The sink's insert thread stopped on an unexpected error (the cause is chained)."""


class IngestRefused(LedgerError):  # noqa: N818 - an outcome the sink handles, not a failure
    """ClickHouse refused to turn a batch's raw messages into ``events`` rows (a message is
    not exactly one event it can decode and hold): the sink writes that stretch again,
    decoding each message in Python."""

    def __init__(self, insert: object, cause: BaseException) -> None:
        super().__init__(f"ClickHouse refused an ingest insert: {cause}")
        self.insert = insert
        self.cause = cause


class DuplicateEvent(LedgerError):  # noqa: N818 - the name quarantine rows carry as error_type
    """A second copy of an event already in the ledger (same event id): the sink keeps it in
    ``quarantine`` with this error type, never in ``events``."""
