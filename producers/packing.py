"""An event record packed as bytes: what the shippers' buffers and the pipe to a shipper
process carry.

marshal packs a record in about 1.5 us and a packed record is bytes, which the garbage
collector never visits: events waiting to be shipped cost the agent's thread nothing
later (a buffer of record dicts made the agent's thread run most of its process's
collections).
"""

from __future__ import annotations

import marshal

pack = marshal.dumps
"""An event record (or a list of packed records) as bytes."""
unpack = marshal.loads
