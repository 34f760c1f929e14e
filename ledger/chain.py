"""The hash chain over a (topic, partition)'s rows, and every broken link in it (pure, no I/O).

One chain per (topic, partition) runs over every position in offset order: ``events``
rows and ``quarantine`` rows alike. Each row carries ``prev_hash`` (the previous row's
``row_hash``; 64 zeros for the first) and ``row_hash``, both lowercase hex of SHA-256:

* an event row (layout unchanged since migration 0004)::

      SHA-256(prev_hash || raw || "\\n" schema_version "\\n" topic "/" partition "/" offset)

  ``prev_hash`` as its 32 bytes; ``raw`` the Kafka message's bytes as the producer wrote
  them (``raw_hex``); the rest ASCII decimal / UTF-8 text.

* a quarantine row (migration 0005)::

      SHA-256(prev_hash || F(key) || F(raw) || F(error_type) || F(error) || F(position)
              || "\\x00handrail quarantine row")

  ``F(b)`` = the length of ``b`` as 8 bytes big-endian, then ``b``; ``key`` and ``raw`` the
  bytes of ``key_hex`` and ``raw_hex``; ``error_type``, ``error`` and ``position`` (``topic
  "/" partition "/" offset``) UTF-8. Every column but ``received_at`` is covered. The tag
  ends the input: an event row's input always ends with an ASCII digit (its offset), a
  quarantine row's with ``w``, so the two inputs never coincide and a quarantine row's
  hash can never stand for an event row's (or back).

Quarantine rows written before migration 0005 carry empty hashes: the chain passes over
them (as their writer did); ``Walk`` counts them as not covered, and accepts them only up
to the offset the chain's checkpoint fixed when a writer of this version first wrote the
chain (``checkpoints.py``: ``uncovered_until``; a digest pins it too), or, for a checkpoint
written before then, before the chain's first chained quarantine row. Anywhere else a
quarantine row without hashes is named.

``Walk`` checks each row as it comes: its link (``prev_hash`` follows the previous row),
its own hash, and for an event row its ``event_json`` and its typed columns recomputed from
that. ``event_json`` must be, byte for byte, the text that one of the ledger's two writers
makes of the row's raw message: Python's (``careful_json``, the careful path) or
ClickHouse's (the fast path: ``verify.py`` has ClickHouse make it again, with the ingest
view's own SQL, for each row it could have written, and hands it over as the row's
``RENDERED``). Which writer wrote a row is not recorded: either text passes, no other
(another spelling of the same value, duplicate keys, other escapes or spaces, fail).

After a broken link the walk goes on from the row's own hash, so every later break is found
on its own: an edited row, a deleted row, an inserted row (also one with a correct hash, or
a second row at an offset) are each named once; then the chain must end exactly at its
checkpoint. ``breaks`` is that walk as a generator over a stream of rows (no I/O:
``verify.py`` reads the rows page by page; without their ``RENDERED``, a row that ClickHouse
wrote is named).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

import orjson

from handrail.ledger.batches import envelope
from handrail.ledger.rows import TYPED_COLUMNS, to_row, typed_columns
from handrail.schemas import DecodeError, SchemaVersion, decode, registry
from handrail.schemas.registry import MAGIC
from handrail.schemas.wire import HEADER_SIZE

GENESIS = "0" * 64
QUARANTINE_TAG = b"\x00handrail quarantine row"
"""Ends a quarantine row's hash input (see the module's docstring)."""
RENDERED = "rendered_json"
"""An event row's key for a rendering of its raw message already made (``to_render``): its
``event_json`` is compared with it first."""
FAST_PATH_SINCE = 2
"""The first schema version that the fast path took (it takes the current version only, and
2 was current when it came): earlier versions' rows were all written in Python."""
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CLICKHOUSE_SHAPE = '"payload":{"type":'


def row_hash(prev_hash: str, raw: bytes, row: dict[str, Any]) -> str:
    """The hash of an event row (``raw``: its message's bytes)."""
    tail = f"\n{row['schema_version']}\n{row['topic']}/{row['partition']}/{row['offset']}"
    return hashlib.sha256(b"".join((bytes.fromhex(prev_hash), raw, tail.encode()))).hexdigest()


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def quarantine_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The hash of a quarantine row."""
    position = f"{row['topic']}/{row['partition']}/{row['offset']}"
    parts = (
        bytes.fromhex(prev_hash),
        _field(bytes.fromhex(row["key_hex"])),
        _field(bytes.fromhex(row["raw_hex"])),
        _field(row["error_type"].encode()),
        _field(row["error"].encode()),
        _field(position.encode()),
        QUARANTINE_TAG,
    )
    return hashlib.sha256(b"".join(parts)).hexdigest()


def is_quarantine(row: dict[str, Any]) -> bool:
    """A quarantine row (it has an ``error_type``), not an event row."""
    return "error_type" in row


def hash_of(prev_hash: str, row: dict[str, Any], raw: bytes | None = None) -> str:
    """A row's hash after ``prev_hash``: a quarantine row's, or an event row's (its message:
    ``raw``, else the row's ``raw_hex``)."""
    if is_quarantine(row):
        return quarantine_hash(prev_hash, row)
    return row_hash(prev_hash, raw if raw is not None else bytes.fromhex(row["raw_hex"]), row)


def chain(rows: Iterable[dict[str, Any]], head: str) -> str:
    """Set ``prev_hash``/``row_hash`` on new rows of one (topic, partition), events and
    quarantine rows alike, in offset order (an event row with its message as ``raw``);
    return the new head."""
    for row in rows:
        row["prev_hash"] = head
        row["row_hash"] = head = hash_of(head, row, row.get("raw"))
    return head


def _as_json(value: Any) -> Any:
    """A stored value as its ``event_json`` counterpart (the ledger returns naive UTC)."""
    if type(value) is str or type(value) is int:  # most columns: as JSON has them already
        return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return orjson.loads(orjson.dumps(value))


def careful_json(row: dict[str, Any]) -> str | None:
    """An event row's ``event_json`` as the careful path writes it of the row's raw message
    (``rows.to_row``: in its writer's shape, keys sorted, NaN and infinities ``null``); None
    if the message does not decode."""
    try:
        version, record = decode(bytes.fromhex(row["raw_hex"]), logical=False, resolve=False)
    except DecodeError:
        return None
    made = to_row(record, version.version, row["topic"], row["partition"], row["offset"])
    return str(made["event_json"])


def fast_path_input(row: dict[str, Any]) -> dict[str, Any] | None:
    """The ingest row (``ingest_block``) of an event row's raw message when the fast path
    could have written the row, else None: a message of a schema version that the fast path
    takes (``FAST_PATH_SINCE`` on) whose envelope starts as the fast path needs
    (``batches``: a 36-character event id, canonical here too, as the view needs, then a
    time the ledger can hold). Its hashes are placeholders and its raw message is left out:
    the rendering reads neither."""
    version = _fast_path_versions().get(row["schema_version"])
    raw = bytes.fromhex(row["raw_hex"])
    if version is None:
        return None
    found = envelope(raw, MAGIC + version.fingerprint)
    if found is None or not _CANONICAL_UUID.fullmatch(found[0]):
        return None
    return {
        "topic": row["topic"], "partition": row["partition"], "offset": row["offset"],
        "schema_version": version.version, "prev_hash": GENESIS, "row_hash": GENESIS,
        "raw": b"", "body": raw[HEADER_SIZE:],
    }  # fmt: skip


@cache
def _fast_path_versions() -> dict[int, SchemaVersion]:
    return {v.version: v for v in registry().versions if v.version >= FAST_PATH_SINCE}


def to_render(row: dict[str, Any]) -> dict[str, Any] | None:
    """What ``verify`` has ClickHouse render for an event row (``fast_path_input``), or None
    when ClickHouse could not have written the row or Python's rendering is its text.

    Each row is checked against one rendering first, kept as its ``RENDERED``: Python's
    (``careful_json``), unless its text looks like ClickHouse's (its payload starts with
    its ``type``: Python sorts keys, and every payload has a field before ``type``); a row
    whose text is not Python's is rendered by ClickHouse too, and ``edited_column`` makes
    Python's of a row whose text is not ClickHouse's. So every row is held against both
    before it is named, and each writer's rows cost one rendering."""
    try:
        made = fast_path_input(row)
        if made is not None and _CLICKHOUSE_SHAPE in row["event_json"]:
            return made
        row[RENDERED] = careful_json(row)
    except (ValueError, OverflowError):  # not hex, or not an event the ledger holds
        return None
    return made if row[RENDERED] != row["event_json"] else None


def edited_column(row: dict[str, Any]) -> str | None:
    """The first column of a stored event row that differs from its raw message's event
    (``event_json``), or from its ``event_json`` (a typed column).

    ``event_json`` is compared byte for byte with the text its writer makes of the raw
    message: the row's ``RENDERED`` if it has one (``to_render``), else Python's
    (``careful_json``). The typed columns are then those of the parsed text."""
    text = row["event_json"]
    try:
        if text != row.get(RENDERED) and text != careful_json(row):
            return "event_json"
        expected = typed_columns(orjson.loads(text))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError):
        return "event_json"
    for column in TYPED_COLUMNS:
        if _as_json(row[column]) != expected[column]:
            return column
    return None


class Break(NamedTuple):
    """A broken link: where (the row's offset) and what."""

    offset: int
    what: str


class Walk:
    """One chain's rows checked as they come, in offset order (``step``), then its end
    against the checkpoint (``end``): every broken link, each named once.

    A row that follows the same row as the one before it (a fork: one of the two was
    inserted) is judged by the row after them, or at the end by the checkpoint: the one
    that the chain goes on from belongs, the other is named.

    ``uncovered_until``: the highest offset at which a quarantine row may lack its hashes
    (written before migration 0005; None: anywhere before the chain's first chained
    quarantine row, for a checkpoint written before then). ``rows`` counts the chained rows
    seen, ``last`` is the last one's ``(offset, row_hash)``, ``uncovered`` counts the
    quarantine rows without hashes that were let pass and ``uncovered_last`` is the
    highest offset of one (-1: none)."""

    def __init__(
        self, checkpoint: tuple[int, str] | None, uncovered_until: int | None = -1
    ) -> None:
        self.checkpoint = checkpoint
        self.uncovered_until = uncovered_until
        self.rows = 0
        self.last: tuple[int, str] | None = None
        self.uncovered = 0
        self.uncovered_last = -1
        self._tips: dict[str, tuple[int, bool]] = {GENESIS: (-1, True)}
        """The hashes the next row may follow, each with its row's offset and whether that
        row was named already (more than one after a fork)."""
        self._before: set[str] = set()
        """What the last row followed: a row that follows it too forks the chain."""
        self._chained_quarantine = False
        self._at_checkpoint: set[str] = set()
        """The hashes of the rows at the checkpoint's offset."""
        self._after: tuple[int, int, int] | None = None
        """The rows after the checkpoint: first offset, last offset, count."""

    def step(self, row: dict[str, Any]) -> list[Break]:
        """The breaks that this row shows (about itself, or about a row before it)."""
        offset = row["offset"]
        quarantine = is_quarantine(row)
        if quarantine and not row["row_hash"] and not row["prev_hash"]:
            return self._unhashed(offset)
        self._chained_quarantine |= quarantine
        if self.checkpoint is not None and offset > self.checkpoint[0]:
            first, _, count = self._after or (offset, offset, 0)
            self._after = (first, offset, count + 1)
            self.last, self.rows = (offset, row["row_hash"]), self.rows + 1
            return []
        if self.checkpoint is not None and offset == self.checkpoint[0]:
            self._at_checkpoint.add(row["row_hash"])
        name = "quarantine row" if quarantine else f"row {row['event_id']}"
        if self.last is not None and offset == self.last[0]:
            self._tips[row["row_hash"]] = (offset, True)  # either may be the one that belongs
            return [Break(offset, f"two rows at offset {offset}: {name} was inserted")]
        problems = self._own_problems(row, quarantine)
        out: list[Break] = []
        prev = row["prev_hash"]
        if prev in self._tips:  # it follows: any other tip of a fork was inserted
            out += self._inserted(keep=prev)
            self._tips, self._before = {}, {prev}
        elif prev in self._before:  # a fork: judged by the next row
            if problems and self.last is not None:
                problems.append(f"it follows the same row as the row at offset {self.last[0]}")
        else:
            problems.insert(
                0,
                "does not follow the previous row: a row before it was deleted or rewritten, "
                "or it was inserted",
            )
            if len(self._tips) > 1:  # a fork, and neither goes on: name the later rows
                out += self._inserted(keep=next(iter(self._tips)))
            self._before = set(self._tips)
            self._tips = {}
        if problems:
            out.append(Break(offset, f"{name} {'; '.join(problems)}"))
        self._tips[row["row_hash"]] = (offset, bool(problems))
        self.last = (offset, row["row_hash"])
        self.rows += 1
        return out

    @staticmethod
    def _own_problems(row: dict[str, Any], quarantine: bool) -> list[str]:
        """What is wrong with a row in itself: its hash, then its columns."""
        try:
            own = hash_of(row["prev_hash"], row)
        except ValueError:  # a hash or a message that is not hex
            own = None
        if own != row["row_hash"]:
            return ["was edited: its hash does not match"]
        column = None if quarantine else edited_column(row)
        return [] if column is None else [f"was edited: {column} differs from its event"]

    def _inserted(self, keep: str) -> list[Break]:
        """The rows of a fork that the chain does not go on from, not named yet."""
        return [
            Break(o, f"the row at offset {o} was inserted: the chain goes on from another")
            for h, (o, named) in self._tips.items()
            if h != keep and not named
        ]

    def _unhashed(self, offset: int) -> list[Break]:
        """A quarantine row without hashes: let pass where one written before migration
        0005 may be, else named."""
        until = self.uncovered_until
        if (offset <= until) if until is not None else not self._chained_quarantine:
            self.uncovered += 1
            self.uncovered_last = offset
            return []
        return [Break(offset, "quarantine row without a hash where every row is chained: "
                              "it was inserted, or its hashes were removed")]  # fmt: skip

    def end(self) -> list[Break]:
        """The breaks at the chain's end: it must end exactly at its checkpoint."""
        if self.checkpoint is None:
            if self.last is None:
                return []
            return [Break(self.last[0], "rows exist but no checkpoint anchors them")]
        offset, digest = self.checkpoint
        out = self._inserted(keep=digest) if len(self._tips) > 1 else []
        if not self._at_checkpoint:
            what = f"the checkpointed row at offset {offset} is missing: rows were deleted"
            out.append(Break(offset, what))
        elif digest not in self._at_checkpoint:
            out.append(Break(offset, f"the row at offset {offset} differs from its checkpoint"))
        if self._after is not None:
            first, last, count = self._after
            what = f"rows after the last checkpoint (offset {offset}) were inserted: {count}"
            out.append(Break(first, f"{what} (offsets {first}..{last})"))
        return out


def breaks(
    rows: Iterable[dict[str, Any]],
    checkpoint: tuple[int, str] | None,
    uncovered_until: int | None = -1,
) -> Iterator[Break]:
    """Every broken link of one chain (rows in offset order, streamed), then its end."""
    walk = Walk(checkpoint, uncovered_until)
    for row in rows:
        yield from walk.step(row)
    yield from walk.end()
