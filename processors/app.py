"""The Faust app: thin wiring around the pure detectors (``detection``), the finding
encoder (``publisher``) and the alert router.

    events topic --ingest, route--> <app>-keyed (by agent / workflow) --detect--> alerts, halts
    alerts topic --deliver--> PagerDuty, Slack, webhook, terminal (+ alert_delivered events)

``route`` takes each batch that ``Ingest`` fetched from the events topic (a plain aiokafka
consumer of its own group: per message, Faust costs more than a worker can spare), decodes
each message once (undecodable ones go to the dead-letter topic with their bytes) and
forwards compact observations under their keys to the internal keyed topic, one bundle
per partition per batch, to the partition our own murmur2 of their keys names. ``detect``
keeps one changelogged state per key, so the worker that owns a partition owns its keys,
and their state survives a restart; it publishes findings as soon as nothing more is
buffered and writes each key's state once per batch. Absence
is checked by ticks: each ``tick_interval_s`` every worker sends one to every keyed
partition with how far it has read the events topic (``watermark``), so a worker
catching up on a backlog never takes unread events for missing ones. Findings are
sent and acknowledged before the state that records them, so a crash can repeat an alert
(the router drops an alert event it handled) but never lose one; and the keyed and alerts
topics' offsets are committed here, not by Faust, only over messages handled with their
state in the changelog and none missing before them (``changelog_acks``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka import ConsumerRecord

from handrail.control.topics import HALTS_TOPIC_CONFIG, halts_topic
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.processors.changelog_acks import OrderedAcks, WrittenTable
from handrail.processors.dead_letter import dead_letter_headers
from handrail.processors.detection import CONTROL_JUDGED, partition_of, routes
from handrail.processors.findings import Finding
from handrail.processors.ingest import Ingest
from handrail.processors.keyed import KeyedDetectors
from handrail.processors.observation import (
    Observation,
    decode_bundle,
    encode_bundle,
    encode_bundles,
)
from handrail.processors.publisher import FindingEvents, HaltSigner
from handrail.processors.recovery_watch import RecoveryStalledError, RecoveryWatch
from handrail.processors.router import AlertRouter, DeliveryEvents, MalformedAlertError
from handrail.processors.runtime import app_options, shorten_fetch_wait
from handrail.processors.topics import TopicSpec, spec_of
from handrail.processors.watermark import ReadProgress, Watermarks, tick_value
from handrail.schemas import DecodeError, decode
from handrail.settings import Settings

log = logging.getLogger(__name__)

RECOVERY_STALL_S = 120.0
"""How long a table recovery may read nothing before the worker gives up and stops."""
RECOVERY_CHECK_S = 5.0
DETECT_BATCH = 5_000
"""Most observations judged before their findings are published and states written."""
WRITE_EVERY_S = 0.5
"""How often the states judged are written when no batch fills up: findings go out as soon
as nothing more is buffered; writing every state a batch changed is what costs."""
BUNDLE_BYTES = 512 * 1024
"""Largest keyed message route sends (a bundle of one observation may be larger)."""
SETTLE_S = 10.0
"""How long a revocation waits to write the batch judged, then for its writes, before it
commits what is done and gives the partitions up."""


@dataclass
class Batch:
    """What detect judged since its last flush."""

    messages: list[Any] = field(default_factory=list)
    observations: int = 0
    findings: list[Finding] = field(default_factory=list)
    dead: dict[int, list[Any]] = field(default_factory=dict)
    """Sends to the dead letters, by keyed partition: acknowledged before that partition's
    messages of the batch count as done."""


class Processors:
    """The app, its topics and table, and the agents that wire them to the detectors."""

    def __init__(self, settings: Settings) -> None:
        p, kafka = settings.processors, settings.kafka
        if not kafka.bootstrap_servers:
            raise ValueError("the processors need Kafka: set HANDRAIL_KAFKA__BOOTSTRAP_SERVERS")
        self.settings = p
        self.root = settings
        self.partitions = n = p.partitions
        self.app = app = faust.App(
            p.app_id,
            **app_options(settings),
            topic_replication_factor=p.replication_factor,
            table_standby_replicas=0,  # ticks must only see the keys this worker owns
            broker_session_timeout=p.session_timeout_s,
            broker_heartbeat_interval=p.session_timeout_s / 10,
        )
        # acks=False: Faust never commits this topic; the detect stage does (changelog_acks)
        self.keyed = app.topic(f"{p.app_id}-keyed", partitions=n, internal=True, acks=False)
        self.outputs = {
            # acks=False: Faust never commits it either; deliver does (changelog_acks)
            "alerts": app.topic(p.alerts_topic, partitions=n, acks=False),
            "halts": app.topic(
                halts_topic(p.control_topic), partitions=n, config=HALTS_TOPIC_CONFIG
            ),
        }
        self.control = app.topic(p.control_topic, partitions=n)
        """Approvals and answers: the SDK writes them; declared here so they have a topic."""
        self.dead = app.topic(p.dead_letter_topic, partitions=n)
        self.ledger_copy = app.topic(kafka.events_topic)
        """Alerts and halts are events too: a copy goes to the events topic, for the ledger."""
        self.state = WrittenTable(
            app, name="detector-state", default=dict, partitions=n, beacon=app.tables.beacon,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            partition_for=lambda key: partition_of(key, n),
        )  # fmt: skip
        app.tables.add(self.state)
        self.acks = OrderedAcks()
        self._generation: int | None = None
        """The consumer generation whose keyed messages count; None while revoked."""
        self._judging = asyncio.Lock()
        """Held while a keyed message is judged or a batch flushed."""
        self._batch = Batch()
        self.alert_state = WrittenTable(
            app, name="alert-state", partitions=n, beacon=app.tables.beacon,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
        )  # fmt: skip
        app.tables.add(self.alert_state)
        governance = settings.governance.file
        authority = Authority(load(governance)) if governance else None
        self.detectors = KeyedDetectors(p.rules, self.state, authority, partitions=n)
        self.encoder = FindingEvents(p.app_id, p.owners, HaltSigner.load(p.signer, p.signing_key))
        self.events_topic = kafka.events_topic
        self.progress, self.watermarks = ReadProgress(), Watermarks()
        self.ingest = Ingest(
            p, kafka=kafka, topic=kafka.events_topic,
            handle=self.route, routed=self.routed, revoked=self.progress.forget,
        )  # fmt: skip
        app.task(self.ingest.run)
        app.agent(self.keyed, name="detect")(self.detect)
        app.agent(self.outputs["alerts"], name="deliver")(self.deliver)
        if self.detectors.detection.judges_control:  # entries sent straight to the channel, too
            app.agent(self.outputs["halts"], name="watch-halts")(self.watch_control)
            app.agent(self.control, name="watch-control")(self.watch_control)
        app.timer(p.tick_interval_s)(self.send_ticks)
        self.recovery_watch = RecoveryWatch(RECOVERY_STALL_S)
        app.timer(RECOVERY_CHECK_S)(self.watch_recovery)
        app.timer(app.conf.broker_commit_interval)(self.commit_keyed)
        app.timer(WRITE_EVERY_S)(self.write_judged)
        app.on_partitions_revoked.connect(self.revoked)
        app.on_partitions_assigned.connect(self.assigned)

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic the worker reads or writes, as Faust would create it."""
        topics = [self.keyed, *self.outputs.values(), self.control, self.dead, self.ledger_copy,
                  self.state.changelog_topic, self.alert_state.changelog_topic]  # fmt: skip
        return [spec_of(t, self.partitions, self.settings.replication_factor) for t in topics]

    # -- stage 1: decode and route ---------------------------------------------------------

    async def route(self, batch: list[ConsumerRecord[bytes, bytes]]) -> asyncio.Future[Any]:
        """Route one fetched batch: send its observations; return a future done once every
        message sent is acknowledged."""
        grouped: dict[int, list[tuple[str, Observation]]] = {}
        sent = []
        for m in batch:
            try:
                obs = Observation.from_record(decode(m.value or b"")[1])
            except Exception as exc:  # undecodable: keep its bytes, go on
                sent.append(await self.to_dead_letters(m, exc, "route"))
                continue
            for key in routes(obs):
                grouped.setdefault(partition_of(key, self.partitions), []).append((key, obs))
        for partition, pairs in grouped.items():
            sent += await self.send_keyed(partition, pairs)
        return asyncio.gather(*sent)

    def routed(self, batch: list[ConsumerRecord[bytes, bytes]]) -> None:
        """``batch`` is in the keyed topic: a tick sent from now on comes after it."""
        for m in batch:
            self.progress.routed(m.partition, m.offset, m.timestamp / 1000 or time.time())

    async def send_keyed(self, partition: int, pairs: list[tuple[str, Observation]]) -> list[Any]:
        """Send observations, each under its key, to the keyed ``partition`` that owns
        their keys, a bundle per message: Faust's cost is per message, not per key."""
        return [
            await self.keyed.send(key=b"", value=bundle, partition=partition)
            for bundle in encode_bundles(pairs, BUNDLE_BYTES)
        ]

    async def watch_control(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        """Control entries read from the halts and control topics go to their workflow's
        key, to be judged for forgery: one sent straight to the channel, never to the
        events topic, is alerted too (one sent to both is judged once, by its content)."""
        async for event in stream.events():
            try:
                obs = Observation.from_record(decode(event.value or b"")[1])
                if obs.kind in CONTROL_JUDGED:
                    key = f"workflow:{obs.workflow_id}"
                    for sent in await self.send_keyed(partition_of(key, self.partitions),
                                                      [(key, obs)]):  # fmt: skip
                        await sent
            except Exception as exc:  # undecodable: keep its bytes, go on
                await self.to_dead_letters(event.message, exc, "watch-control")
            yield None

    # -- stage 2: detect, per key ----------------------------------------------------------

    async def detect(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        """Judge the keyed messages in batches of up to ``DETECT_BATCH`` observations, then
        ``flush`` the batch; when nothing more is buffered, publish its findings at once, and
        leave the states to be written by the next flush (``write_judged``, or a
        revocation's)."""
        noack = stream.noack()  # type: ignore[attr-defined]  # missing from StreamT
        channel: Any = noack.channel
        async for event in noack.events():  # table writes need their event
            async with self._judging:
                await self.judge(event.message)
                self._batch.messages.append(event.message)
                if self._batch.observations >= DETECT_BATCH:
                    await self.flush()
                elif channel.empty():
                    findings, self._batch.findings = self._batch.findings, []
                    await self.publish(findings)
            await self.seek_holes()
            yield None

    async def flush(self) -> None:
        """Publish the batch's findings, then write each state it changed once, and mark
        its messages done once those writes are in the changelog (``changelog_acks``): an
        offset is committed once every one before it is done too, never ahead of its state
        nor over a message not judged. The caller holds ``_judging``."""
        batch, self._batch = self._batch, Batch()
        await self.publish(batch.findings)  # before the state that remembers them
        self.detectors.write()
        writes = self.state.take_writes()
        for partition, dead in batch.dead.items():
            writes.setdefault(partition, []).extend(dead)
        self.done(batch.messages, writes)

    async def write_judged(self) -> None:
        """Flush what detect judged since the last flush (every ``WRITE_EVERY_S``)."""
        async with self._judging:
            if self._batch.messages:
                await self.flush()

    def done(self, messages: list[Any], writes: dict[int, list[Any]]) -> None:
        """Mark ``messages`` done once the ``writes`` to their partition are acknowledged
        (one future per partition: a write held on one never holds another back), unless
        their partitions were revoked meanwhile."""
        together = {p: [asyncio.gather(*w)] for p, w in writes.items() if w}
        for message in messages:
            if message.generation_id == self._generation:
                written = together.get(message.partition, [])
                self.acks.add(message.tp, message.offset, written, self._committed(message.tp))

    async def judge(self, m: Any) -> None:
        """Judge a keyed message into the batch: its observations, key by key, or a tick
        (no key). A bug must not stop the worker: what could not be judged goes to the dead
        letters, a key's observations alone where only that key failed."""
        batch = self._batch
        try:
            if m.key is None:
                read_up_to = self.watermarks.tick(m.partition, m.value)
                if read_up_to is not None:
                    batch.findings += self.detectors.tick(m.partition, read_up_to)
                batch.observations += 1
                return
            bundle = decode_bundle(m.key, m.value)
        except Exception as exc:
            log.exception("detect: failed on %s/%s", m.partition, m.offset)
            batch.dead.setdefault(m.partition, []).append(
                await self.to_dead_letters(m, exc, "detect")
            )
            return
        now = time.time()
        for key, observations in bundle.items():
            batch.observations += len(observations)
            try:
                batch.findings += self.detectors.observe(key, observations, now)
            except Exception as exc:
                log.exception("detect: failed on %r", key)
                value = encode_bundle([(key, o) for o in observations])
                dead = await self.to_dead_letters(m, exc, "detect", value=value)
                batch.dead.setdefault(m.partition, []).append(dead)

    def _committed(self, tp: Any) -> int | None:
        """Where Faust read ``tp`` from since it was assigned (its committed offset), if
        known: Faust keeps it after its seek, None for none or 0."""
        consumer: Any = self.app.consumer
        committed: int | None = consumer._committed_offset.get(tp)
        return committed

    async def seek_holes(self) -> None:
        """Read again from a keyed message that was never judged while later ones were."""
        consumer: Any = self.app.consumer
        for tp, offset in self.acks.line.holes(time.monotonic()).items():
            log.warning("detect: %s has a message never judged: reading again from %s",
                        tp, offset)  # fmt: skip
            await consumer.seek(tp, offset)

    async def commit_keyed(self) -> None:
        """Commit the keyed partitions' lines that moved (``changelog_acks``)."""
        due = self.acks.line.take_due()
        if not due:
            return
        consumer: Any = self.app.consumer
        try:
            await consumer._commit_offsets(due)  # what Faust's own commits call
        except Exception as exc:  # a rebalance under way: the next owner judges again
            log.info("detect: commit skipped (%s)", exc)

    async def send_ticks(self) -> None:
        consumer, tps = self.ingest.consumer, list(self.ingest.partitions())
        sources = consumer.partitions_for_topic(self.events_topic) if consumer else None
        if consumer is None or not tps or not sources:
            return
        try:
            ends = {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
            positions = {tp.partition: await consumer.position(tp) for tp in tps}
        except Exception as exc:  # a rebalance under way: the next tick will do
            log.info("ticks: no read positions now (%s)", exc)
            return
        marks = self.progress.marks(ends, positions, time.time())
        if marks:
            value = tick_value(len(sources), marks)
            for partition in range(self.partitions):
                await self.keyed.send(key=None, value=value, partition=partition)

    async def watch_recovery(self) -> None:
        """Crash the worker when its table recovery has stalled (``recovery_watch``): it
        gives its partitions up, and its supervisor starts it again."""
        recovery: Any = self.app.tables.recovery  # type: ignore[attr-defined]
        remaining = recovery.active_remaining_total()
        if self.recovery_watch.stalled(recovery.in_recovery, remaining, time.monotonic()):
            error = RecoveryStalledError(
                f"table recovery made no progress for {self.recovery_watch.stall_s:g} s "
                f"({remaining} changes left to read): the worker stops"
            )
            log.error("%s", error)
            await self.app.crash(error)

    async def revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Write what detect judged (``flush``), let those writes finish (for ``SETTLE_S`` at
        most), commit what is done and forget the rest: the partitions' next owners judge
        it again."""
        deadline = time.monotonic() + SETTLE_S
        try:
            async with asyncio.timeout(SETTLE_S), self._judging:
                await self.flush()
        except TimeoutError:
            log.warning("detect: a batch not written after %g s; it is judged again", SETTLE_S)
        self._generation = None
        writes = self.acks.unsettled()
        if writes:
            await asyncio.wait(writes, timeout=max(0.0, deadline - time.monotonic()))
        await self.commit_keyed()
        self.detectors.forget()
        self.acks.forget()

    def assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self._generation = self.app.consumer_generation_id
        shorten_fetch_wait(self.app)

    # -- stage 3: deliver alerts ---------------------------------------------------------

    async def deliver(self, stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        """Deliver each alert. Its offset is committed as the keyed topic's are
        (``changelog_acks``), once its ``alert_delivered`` events are on the events topic
        (for the ledger) and the router's state is in the changelog: Faust's own acks would
        commit past an alert fetched before a rebalance and never delivered. An alert read
        again pages nobody twice (the router remembers the alert events it handled)."""
        delivered: list[tuple[bytes, bytes]] = []
        recorder = DeliveryEvents(f"{self.settings.app_id}-router",
                                  lambda key, value: delivered.append((key, value)))  # fmt: skip
        noack = stream.noack()  # type: ignore[attr-defined]  # missing from StreamT
        async with AlertRouter(self.root.alerts, recorder, self.alert_state) as router:
            async for event in noack.events():
                writes = []
                try:
                    await router.handle(decode(event.value)[1])
                except (DecodeError, MalformedAlertError) as exc:
                    writes.append(await self.to_dead_letters(event.message, exc, "deliver"))
                writes += [await self.ledger_copy.send(key=k, value=v) for k, v in delivered]
                delivered.clear()
                writes += [w for ws in self.alert_state.take_writes().values() for w in ws]
                self.done([event.message], {event.message.partition: writes})
                yield None

    # -- outputs ---------------------------------------------------------------------------

    async def publish(self, findings: list[Finding]) -> None:
        if not findings:
            return
        futures = []
        for o in self.encoder.encode(findings):
            futures.append(await self.outputs[o.topic].send(key=o.key, value=o.value))
            futures.append(await self.ledger_copy.send(key=o.workflow_id.encode(), value=o.value))
        for future in futures:
            await future  # acknowledged before the state that remembers them is written

    async def to_dead_letters(
        self, m: Any, error: BaseException, stage: str, value: bytes | None = None
    ) -> Any:
        """Send a message (Faust's or aiokafka's), or ``value`` (the part of it that
        failed), to the dead letters; return the send's future."""
        log.warning("%s: %s/%s/%s to the dead letters: %s", stage, m.topic, m.partition,
                    m.offset, error)  # fmt: skip
        headers = dead_letter_headers(error, m.topic, m.partition, m.offset, stage)
        return await self.dead.send(key=m.key, value=m.value if value is None else value,
                                    headers=headers)  # fmt: skip
