"""The embedded pipeline: the whole of handrail in one process, with no Kafka and no server.

    spool sessions --read--> ledger rows (exactly once, per source)
                      └----> detectors --> alerts --> router --> channels (+ alert_delivered)
                                       └-> halts ---> control log

Every step reads what the agents' recorders have flushed to their spool sessions (whole
Avro blocks, ``source``), hands the new events to the detectors (``detect``), and inserts
rows into the ledger in batches (``writer``). Alerts, halts and delivery records become
rows of the pipeline's own source (``outputs``). Two positions make a crash (``kill -9``)
lose and repeat nothing:

* *ingested*, per source: the ledger's own highest offset. Reading resumes after it;
  rows are rebuilt identically, so the chain checkpoints agree.
* *detected*, per source: how far the detectors have judged, kept in the journal with
  their state, the router's state and the own events not yet in the ledger
  (``journal``). The journal is committed before anything leaves the process (a finding's
  alert, halt or page), so after a crash the detectors go on from a state that has seen
  exactly the events up to *detected*, and nothing they published is published again;
  events past *detected* are judged again (they produced nothing that left).

A consumed segment is deleted once both positions cover it. Ticks (absence: silence,
stalled handoffs, sequence gaps) use the read mark: the wall clock once everything written
has been read; it stands still while a backlog is read. Pages are the one thing delivered
at least once: a crash between a channel's answer and the next commit (a few
milliseconds) delivers that alert again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from handrail.batching import BatchWindow
from handrail.control.log import ControlLog
from handrail.embedded.detect import ControlEntries, ReadMark, control_records
from handrail.embedded.journal import Journal
from handrail.embedded.ledger_rows import PARTITION, own_rows, spool_rows
from handrail.embedded.outputs import Outputs, Tracked, by_offset
from handrail.files import FileModes
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.ledger.batches import Message
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.writer import LedgerWriter
from handrail.processors.findings import Finding
from handrail.processors.keyed import KeyedDetectors
from handrail.processors.publisher import FindingEvents, HaltSigner
from handrail.processors.router import AlertRouter, DeliveryEvents, MalformedAlertError
from handrail.producers.spool.cursor import Item
from handrail.producers.spool.layout import session_of
from handrail.producers.spool.positions import lowest, pipeline_topic, source_topic
from handrail.producers.spool.source import Read, Source
from handrail.schemas import DecodeError, EventRecord, decode
from handrail.settings import Settings

log = logging.getLogger(__name__)

JOURNAL = "pipeline"
"""The journal's files in the ledger's checkpoint directory: ``pipeline.{log,snapshot,lock}``."""
POLL_S = 0.1
COMMIT_S = 1.0
"""The journal is committed at least this often while detector state changes."""
DRAIN_S = 5.0
"""On stop, pages still being delivered get this long before they wait for the next run."""


@dataclass
class PipelineStats:
    events: int = 0
    """Event rows written to the ledger."""
    alerts: int = 0
    halts: int = 0
    deleted: int = 0
    """Spool segments deleted once consumed."""


class Pipeline:
    def __init__(self, settings: Settings, client: Any) -> None:
        p = settings.processors
        self.settings = settings
        directory = settings.ledger.checkpoint_path
        self.modes = FileModes.of(settings.files)
        self.journal = Journal(directory, JOURNAL, fsync=settings.spool.fsync, modes=self.modes)
        self.writer = LedgerWriter(client, Checkpoints(directory, self.modes))
        self.detected = Tracked(self.journal.map("detected"))
        governance = settings.governance.file
        authority = Authority(load(governance)) if governance else None
        self.detectors = KeyedDetectors(p.rules, self.journal.map("state"), authority)
        self.router_state = Tracked(self.journal.map("router"))
        self.own_topic = pipeline_topic(p.app_id)
        own_ingested = self.writer.resume((self.own_topic, PARTITION)).offset
        self.outputs = Outputs(
            Tracked(self.journal.map("own")), Tracked(self.journal.map("outbox")),
            Tracked(self.journal.map("control")), own_ingested,
        )  # fmt: skip
        self.encoder = FindingEvents(p.app_id, p.owners, HaltSigner.load(p.signer, p.signing_key))
        self.delivery_events = DeliveryEvents(f"{p.app_id}-router", self.outputs.add)
        self.control_log = ControlLog.of(settings.spool, self.modes)
        self.control_tail = ControlEntries(settings.spool.control_log) if authority else None
        """Entries written straight into the control log are judged for forgery too."""
        self.sources: dict[str, Source] = {}
        self.pending: dict[str, list[Item]] = defaultdict(list)
        self.mark = ReadMark()
        self.committed: dict[str, int] = dict(self.detected.data)
        self.stats = PipelineStats()
        ledger = settings.ledger
        self._writing: asyncio.Task[int] | None = None
        """The insert under way (``inserted`` waits for it)."""
        self._batch = BatchWindow(ledger.batch_max_events, ledger.batch_max_seconds)
        self._last_commit = self._last_tick = 0.0
        self._polls = 0
        self._outbox_ready = asyncio.Event()
        self._stopping = False

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> PipelineStats:
        """Run until ``stop`` is set; then deliver what it can, write everything read.
        An error stops it at once (what was not committed is redone by the next run)."""
        await asyncio.to_thread(self._recover)
        delivery = asyncio.create_task(self._deliver(), name="handrail-deliver")
        try:
            while not stop.is_set():
                if not await self.step() and not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), POLL_S)
        except BaseException:
            delivery.cancel()
            raise
        self._stopping = True
        self._outbox_ready.set()
        try:
            await asyncio.wait_for(delivery, DRAIN_S)
        except TimeoutError:
            log.warning("stopping: %d alerts wait for the next run", len(self.outputs.outbox))
        await self.step(final=True)
        self._commit()
        return self.stats

    async def step(self, final: bool = False) -> bool:
        """Read, judge, publish, write what is due; True if anything was read."""
        reads = await asyncio.to_thread(self._poll)
        entries = (
            [] if self.control_tail is None else await asyncio.to_thread(self.control_tail.read)
        )
        # From here to the findings' publication nothing awaits: the deliveries' commits
        # never write a judged state before the alerts it remembers are in the journal.
        now = time.time()
        records: list[EventRecord] = []
        for topic, read in reads.items():
            self._take(topic, read, records)
        findings = self.detectors.observe_events(records, now)
        findings += self.detectors.observe_events(control_records(entries), now, "workflow:")
        if now - self._last_tick >= self.settings.processors.tick_interval_s:
            self._last_tick = now
            mark = self.mark.update(all(r.drained for r in reads.values()), now)
            if mark is not None:
                findings += self.detectors.tick(0, mark)
        if findings:
            self._publish(findings)
        elif time.monotonic() - self._last_commit >= COMMIT_S:
            self._commit()
        if self._writing is not None and (self._writing.done() or final):
            await self.inserted()
        if self._due(final):
            await self.inserted()  # one insert at a time; the next batch's rows follow it
            spool = {t: items for t, items in self.pending.items() if items}
            own = self.outputs.messages(self._ingested(self.own_topic))
            self.pending = defaultdict(list)
            self._batch.taken()
            # The insert runs on a thread (chdb releases the GIL) while the next batch is
            # read and judged.
            self._writing = asyncio.create_task(asyncio.to_thread(self._write, spool, own))
            if final:
                await self.inserted()
        self._delete()  # a write under way only holds back what it has not written yet
        return bool(records) or any(r.items for r in reads.values())

    async def inserted(self) -> None:
        """Wait for the insert under way, if any; then forget the own events it wrote."""
        if self._writing is None:
            return
        writing, self._writing = self._writing, None
        self.stats.events += await writing
        self.outputs.written(self._ingested(self.own_topic))

    def _take(self, topic: str, read: Read, records: list[EventRecord]) -> None:
        """Sort what a source produced: rows the ledger lacks, events not yet judged."""
        ingested, detected = self._ingested(topic), self.detected.get(topic)
        for item in read.items:
            if ingested is None or item.offset > ingested:
                self.pending[topic].append(item)
            if item.record is not None and (detected is None or item.offset > detected):
                records.append(item.record)
        if read.items and (detected is None or read.items[-1].offset > detected):
            self.detected[topic] = read.items[-1].offset

    def _publish(self, findings: list[Finding]) -> None:
        """Findings leave the process only once the journal has them (and their state)."""
        alerts, halts = self.outputs.publish(self.encoder, findings)
        self.stats.alerts += alerts
        self._commit()
        if halts:
            self._append_halts(check=False)
        if alerts:
            self._outbox_ready.set()

    def _due(self, final: bool) -> bool:
        rows = sum(map(len, self.pending.values()))
        if not rows and self.outputs.messages(self._ingested(self.own_topic)):
            rows = 1  # the pipeline's own events alone make a batch
        return self._batch.due(rows, time.monotonic(), final)

    # -- I/O, on a worker thread -------------------------------------------------------------

    def _poll(self) -> dict[str, Read]:
        """About ``batch_max_events`` new items in all, shared by the sources in turn (what
        one step holds, and so an insert's size, does not grow with the sessions)."""
        self._discover()
        left = self.settings.ledger.batch_max_events
        topics = list(self.sources)
        first = self._polls % len(topics) if topics else 0
        self._polls += 1
        reads = {}
        for topic in topics[first:] + topics[:first]:  # each source first in its turn
            reads[topic] = read = self.sources[topic].poll(left) if left > 0 else Read([], False)
            left -= len(read.items)
        return reads

    def _discover(self) -> None:
        """Every session directory of the spool is a source (resumed from the ledger)."""
        try:
            found = sorted(p for p in self.settings.spool.dir.iterdir() if p.is_dir())
        except FileNotFoundError:
            return
        for directory in found:
            session = session_of(directory.name)
            if session is None:
                continue  # not a recorder's directory
            topic = source_topic(session)
            if topic not in self.sources:
                ingested = self.writer.resume((topic, PARTITION)).offset
                start = lowest(ingested, self.detected.get(topic))
                max_block = self.settings.spool.read_max_block_bytes
                self.sources[topic] = Source(directory, start, self.modes, max_block)

    def _write(self, spool: dict[str, list[Item]], own: list[Message]) -> int:
        batch = {(topic, PARTITION): spool_rows(topic, items) for topic, items in spool.items()}
        if own:
            batch[(self.own_topic, PARTITION)] = own_rows(self.own_topic, own)
        return self.writer.write(batch)

    def _ingested(self, topic: str) -> int | None:
        """The highest offset of a source in the ledger (None: nothing yet)."""
        return self.writer.ingested.get((topic, PARTITION))

    def _recover(self) -> None:
        """After a crash: forget the own events the ledger has (those it lacks go with the
        next batch); append the halts the control log lacks."""
        self.outputs.written(self._ingested(self.own_topic))
        self._append_halts(check=True)
        self._commit()

    # -- side effects ----------------------------------------------------------------------

    def _append_halts(self, check: bool) -> None:
        """Halts to the control log, once: ``check`` skips those already there (a crash
        between appending and committing)."""
        queued = by_offset(self.outputs.control)
        if not queued:
            return
        values = [bytes.fromhex(value) for _, value in queued]
        if check and values:
            present = {_event_id(v) for v in self.control_log.read()[0]}
            values = [v for v in values if _event_id(v) not in present]
        self.control_log.append(values)
        self.stats.halts += len(values)
        for offset, _ in queued:
            del self.outputs.control[str(offset)]

    async def _deliver(self) -> None:
        """The alert router, over the outbox in order; commits after every alert."""
        alerts = self.settings.alerts
        async with AlertRouter(alerts, self.delivery_events, self.router_state) as router:
            while True:
                queued = by_offset(self.outputs.outbox)
                if not queued:
                    if self._stopping:
                        return
                    self._outbox_ready.clear()
                    await self._outbox_ready.wait()
                    continue
                offset, value = queued[0]
                try:
                    await router.handle(decode(bytes.fromhex(value))[1])
                except (DecodeError, MalformedAlertError) as exc:
                    log.error("alert at own offset %s cannot be delivered: %s", offset, exc)
                except Exception:  # a bug must not stop the deliveries after it
                    log.exception("alert at own offset %s: delivery failed", offset)
                del self.outputs.outbox[str(offset)]
                self._commit()

    def _delete(self) -> None:
        for topic, source in list(self.sources.items()):
            self.stats.deleted += source.delete(self._ingested(topic),
                                                self.committed.get(topic))  # fmt: skip
            if source.exhausted and source.removed:
                del self.sources[topic]
                self.writer.forget((topic, PARTITION))
                self.pending.pop(topic, None)
                if topic in self.detected:
                    del self.detected[topic]

    def _commit(self) -> None:
        self.journal.commit({
            "state": self.detectors.write(),
            "detected": self.detected.take_changed(),
            "router": self.router_state.take_changed(),
            "own": self.outputs.own.take_changed(),
            "outbox": self.outputs.outbox.take_changed(),
            "control": self.outputs.control.take_changed(),
        })  # fmt: skip
        self.committed = dict(self.detected.data)
        self._last_commit = time.monotonic()

    def close(self) -> None:
        for source in self.sources.values():
            source.close()
        if self.control_tail is not None:
            self.control_tail.close()
        self.writer.close()
        self.journal.close()


def _event_id(value: bytes) -> str:
    try:
        return str(decode(value)[1]["event_id"])
    except DecodeError:
        return ""
