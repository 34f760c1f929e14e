"""The spool: recorder sessions' events on disk, and every rule about them.

It owns the directory layout (``layout``: every name, parsed back in one place), the
session locks and adoption (``session``, ``access``), the writer (``writer.Spool``), the
one segment reader (``segments``: the hardened container parser; ``cursor``: whole blocks
a bounded chunk at a time), the replay (``reader``), and the embedded pipeline's tailing
reader of a session (``source.Source``, with ``positions``: where an event sits as a
ledger offset).

It imports only ``handrail.schemas``, ``handrail.files``, ``handrail.errors`` and the
SDK's errors: nothing of the processors, the ledger or the pipeline. The names below are
the SDK's; the pipeline imports ``source`` and ``positions`` itself.
"""

from handrail.producers.spool.errors import SpoolWriteError
from handrail.producers.spool.layout import ADOPTED, REJECTED
from handrail.producers.spool.reader import Segment, read_all
from handrail.producers.spool.writer import Spool

__all__ = ["ADOPTED", "REJECTED", "Segment", "Spool", "SpoolWriteError", "read_all"]
