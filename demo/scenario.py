"""The demo's workload: a support pipeline (intake -> summarizer -> analyst -> db-writer)
handles a ticket every half second under the governance file, through the SDK's
governed calls (``handoff``, ``accept``, ``guard``); among that normal traffic the
essay's failures happen once each, at their moment on the timeline:

====  =====================================================================
 t/s  failure
====  =====================================================================
   4  payments retries a card charge that keeps timing out (a retry storm)
   8  intake hands a ticket to the summarizer, which never picks it up
  10  researcher runs a $7.80 search, over the $5 per-request cap
  12  reporter stops heartbeating (it was every second)
  16  the summarizer switches to a larger model: spend per ticket x4 (drift)
  20  a summary with the wrong customer is handed on and written to the
      customer database by a code path that skips the guard
====  =====================================================================

Time is compressed (detector windows of seconds, not hours: ``RULES``) so that all of
it shows within a minute.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from handrail.config.thresholds import DetectorRules
from handrail.governance.signing import (
    generate,
    load_private_key,
    public_key_line,
    write_private_key,
)
from handrail.producers import ActionBlockedError, HandoffTicket, Recorder
from handrail.settings import AgentIdentity, GovernanceSettings, Settings

AGENTS = {
    "intake": "team-support", "summarizer": "team-support", "analyst": "team-data",
    "db-writer": "team-data", "researcher": "team-data", "payments": "team-billing",
    "reporter": "team-ops",
}  # fmt: skip

RULES = DetectorRules.model_validate({
    "defaults": {
        "spend": {"bucket_s": 2, "short_window_s": 6, "long_window_s": 10, "warmup_buckets": 5,
                  "baseline_half_life_s": 600, "drift_factor": 2.0},
        "rights": {"grace_s": 2},
        "silence": {"missed_heartbeats": 3},
    },
})  # fmt: skip
"""The detector thresholds of the demo: a day's baseline learned in ten seconds."""

BAD_WORKFLOW = "ticket-bad-summary"
"""The workflow of the bad database write, for ``handrail explain``."""

TICKET_EVERY_S = 0.5
SUMMARY_CHECKS = {"thread_present": lambda p: p["thread"].strip()}
ANALYST_CHECKS = {"summary_not_empty": lambda p: p["summary"].strip()}
WRITER_CHECKS = {"refund_within_policy": lambda p: p["refund_usd"] <= 200}


DEMO_KEYS = {
    "demo-alice.key":
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICphJ8hgoIw2ViP+XR1P9JaSl71J4ID9n2oUvge/3ChT",
    "demo-processors.key":
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7zBkQ9T/WLv5U7zXUw/8ChqJmYgdrKGyXtaNucroBf",
}  # fmt: skip
"""The key files the demo makes, and the keys they replace in the packaged governance file
(alice's and the processors'; nobody holds those keys' private halves)."""


def governance_file() -> Path:
    return Path(str(resources.files("handrail.demo") / "governance.yaml"))


def approver_key(settings: Settings) -> Path:
    """The demo approver's private key, beside the control log (made on first use)."""
    return settings.spool.control_log.parent / "demo-alice.key"


def processors_key(settings: Settings) -> Path:
    """The key the demo's processors sign their halts with (``signed_governance`` makes it)."""
    return settings.spool.control_log.parent / "demo-processors.key"


def signed_governance(settings: Settings) -> Path:
    """The demo's governance file with alice's and the processors' keys made in the demo's
    working directory (beside the control log): the supervisor and the processors sign."""
    directory = settings.spool.control_log.parent
    directory.mkdir(parents=True, exist_ok=True)
    text = governance_file().read_text()
    for name, placeholder in DEMO_KEYS.items():
        if not (directory / name).exists():
            write_private_key(directory / name, generate())
        line = public_key_line(load_private_key(directory / name).verify_key)
        text = text.replace(placeholder, line)
    path = directory / "demo-governance.yaml"
    path.write_text(text)
    return path


def demo_settings(settings: Settings) -> Settings:
    """``settings`` with the demo's governance file and detector thresholds."""
    settings = settings.model_copy(deep=True)
    settings.governance = GovernanceSettings(file=signed_governance(settings))
    settings.processors = settings.processors.model_copy(update={"rules": RULES})
    return settings


class Scenario:
    """Runs the timeline; ``progress`` is called with a line for each thing that happens."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] = print) -> None:
        self.settings = demo_settings(settings)
        self.say = progress
        self.rec = {
            name: Recorder(self.settings, AgentIdentity(name=name, version="1.0", owner=owner))
            for name, owner in AGENTS.items()
        }
        self.tickets = 0
        self.bad_write: str | None = None
        """The event id of the database write that skipped the guard, once it happened."""
        self.stalled: str | None = None
        """The id of the handoff nobody picks up, once offered."""
        self.model, self.model_usd = "gpt-4o-mini", 0.04
        """The summarizer's model and its cost per ticket (``drift`` changes them)."""
        self._stop = threading.Event()

    def run(self, seconds: float = 32.0) -> None:
        """Normal traffic for ``seconds``, with every failure at its moment."""
        started = time.monotonic()
        beats: list[tuple[float, Callable[[], None]]] = [
            (4, self.retry_storm), (8, self.stalled_handoff), (10, self.over_cap),
            (16, self.drift), (20, self.bad_summary),
        ]  # fmt: skip
        threading.Thread(target=self.heartbeats, args=(started + 12,), daemon=True).start()
        with ThreadPoolExecutor(8, thread_name_prefix="demo") as pool:
            n = 0
            while (elapsed := time.monotonic() - started) < seconds:
                while beats and beats[0][0] <= elapsed:
                    pool.submit(self._safely, beats.pop(0)[1])
                n += 1
                pool.submit(self._safely, functools.partial(self.ticket, n))
                time.sleep(max(0.0, started + n * TICKET_EVERY_S - time.monotonic()))
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        for recorder in self.rec.values():
            recorder.close()

    # -- normal traffic -----------------------------------------------------------------------

    def ticket(self, n: int) -> None:
        intake, summarizer, workflow = self.rec["intake"], self.rec["summarizer"], f"ticket-{n}"
        self.tickets = max(self.tickets, n)
        with intake.workflow(workflow):
            intake.decision("route.summarize", "a customer asks about a refund",
                            inputs=[{"name": "email", "ref": f"mail://inbox/{n}"}])  # fmt: skip
            thread = f"Customer C{1000 + n % 50} was charged twice for order {7000 + n}."
            offer = intake.handoff("summarizer", "summarize", {"ticket_id": workflow,
                                                                "thread": thread})  # fmt: skip
        with summarizer.receive(offer):
            summary = self._summarize(offer, thread)
        self.analyse(summary, f"C{1000 + n % 50}", 12.40)

    def _summarize(self, offer: HandoffTicket, thread: str) -> HandoffTicket:
        summarizer = self.rec["summarizer"]
        summarizer.accept(offer, {"ticket_id": offer.workflow_id, "thread": thread},
                          checks=SUMMARY_CHECKS)  # fmt: skip
        usd = self.model_usd
        with summarizer.guard("llm.summarize", cost_usd=usd):
            summarizer.spend(usd, "openai", self.model, input_tokens=5200, output_tokens=380,
                             action="llm.summarize")  # fmt: skip
        customer = thread.split()[1]
        matches = {"name": "customer_id_matches_thread", "passed": True}
        summarizer.decision("handoff.analyst", "summary ready", checks=[matches])
        payload = {"customer_id": customer, "summary": f"{customer} was double charged"}
        return summarizer.handoff("analyst", "find the billing error", payload)

    def analyse(
        self, offer: HandoffTicket, customer: str, refund: float, *, guarded: bool = True
    ) -> None:
        analyst, writer = self.rec["analyst"], self.rec["db-writer"]
        with analyst.receive(offer):
            analyst.accept(offer, {"customer_id": customer,
                                   "summary": f"{customer} was double charged"},
                           checks=ANALYST_CHECKS)  # fmt: skip
            with analyst.guard("llm.analyse", cost_usd=0.31):
                analyst.spend(0.31, "anthropic", "claude", input_tokens=9000, output_tokens=1200,
                              action="llm.analyse")  # fmt: skip
            invoice = {"name": "invoice", "ref": f"db://invoices/{customer}"}
            analyst.decision("db.customers.write", f"a refund of ${refund:.2f} is owed",
                             inputs=[invoice])  # fmt: skip
            payload = {"customer_id": customer, "refund_usd": refund}
            to_writer = analyst.handoff("db-writer", "record the refund", payload)
        with writer.receive(to_writer):
            writer.accept(to_writer, payload, checks=WRITER_CHECKS)
            if guarded:
                with writer.guard("db.customers.write", resource="db.customers"):
                    pass  # the write itself
            else:  # the code path that forgot the guard
                write = writer.action_executed("db.customers.write", resource="db.customers")
                self.bad_write = write.event_id

    def heartbeats(self, stop_at: float) -> None:
        reporter = self.rec["reporter"]
        while not self._stop.is_set() and time.monotonic() < stop_at:
            reporter.heartbeat(status="ok", interval_s=1.0)
            self._stop.wait(1.0)
        self.say("reporter stopped heartbeating (it crashed without a word)")

    # -- the failures -------------------------------------------------------------------------

    def retry_storm(self) -> None:
        payments, operation = self.rec["payments"], "charge-7781"
        self.say("payments: a card charge keeps timing out; the agent retries it")
        with payments.workflow("order-7781"):
            for attempt in range(40):
                try:
                    with payments.guard("payments.charge", operation_id=operation,
                                        attempt=attempt):  # fmt: skip
                        raise TimeoutError("card gateway timed out after 30s")
                except TimeoutError:
                    payments.retry("payments.charge", operation, attempt + 1, "gateway timeout")
                    time.sleep(0.4)
                except ActionBlockedError as blocked:
                    self.say(f"payments: retry {attempt} refused: {blocked.why}")
                    return

    def stalled_handoff(self) -> None:
        intake = self.rec["intake"]
        with intake.workflow("ticket-stalled"):
            ask = {"ticket_id": "ticket-stalled", "thread": "Where is my parcel?"}
            self.stalled = intake.handoff("summarizer", "summarize", ask).handoff_id
        self.say("intake handed ticket-stalled to the summarizer, which never picks it up")

    def over_cap(self) -> None:
        researcher = self.rec["researcher"]
        self.say("researcher: a $7.80 search, over the $5 per-request cap, waits for approval")
        with researcher.workflow("research-42"), researcher.guard("api.search", cost_usd=7.8):
            researcher.spend(7.8, "serpapi", "deep-search", action="api.search")

    def drift(self) -> None:
        self.say("summarizer: switched to a larger model; spend per ticket x4")
        self.model, self.model_usd = "gpt-4o", 0.16

    def bad_summary(self) -> None:
        self.say(f"{BAD_WORKFLOW}: a summary naming the wrong customer goes on to the database")
        intake, summarizer = self.rec["intake"], self.rec["summarizer"]
        with intake.workflow(BAD_WORKFLOW):
            thread = "Customer C1007 was charged twice for order 9911."
            offer = intake.handoff("summarizer", "summarize", {"ticket_id": BAD_WORKFLOW,
                                                                "thread": thread})  # fmt: skip
        with summarizer.receive(offer):
            summarizer.accept(offer, {"ticket_id": BAD_WORKFLOW, "thread": thread},
                              checks=SUMMARY_CHECKS)  # fmt: skip
            summarizer.spend(0.04, "openai", self.model, action="llm.summarize")
            summarizer.decision("handoff.analyst", "summary ready", checks=[
                {"name": "customer_id_matches_thread", "passed": False,
                 "detail": "summary names C1070, the thread C1007"},
            ])  # fmt: skip
            payload = {"customer_id": "C1070", "summary": "C1070 was double charged"}
            to_analyst = summarizer.handoff("analyst", "find the billing error", payload)
        self.analyse(to_analyst, "C1070", 12.40, guarded=False)

    def _safely(self, step: Callable[[], None]) -> None:
        try:
            step()
        except ActionBlockedError as blocked:
            self.say(f"blocked: {blocked}")
        except Exception as exc:  # the demo goes on; say what broke
            self.say(f"[demo step failed: {type(exc).__name__}: {exc}]")
