"""``handrail demo``: the scenario's agents at work while ``handrail run`` (a child
process, as a user runs it) fills the ledger, detects, pages and halts; the alerts are
shown as they reach the ledger; at the end, the explanation of the bad database write.

On the embedded default nothing but Python is needed; with ``--kafka`` the same scenario
goes through Kafka, the sink and a Faust worker.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from handrail.demo.scenario import BAD_WORKFLOW, RULES, Scenario, signed_governance
from handrail.demo.supervisor import Supervisor
from handrail.files import FileModes
from handrail.ledger.errors import QueryError
from handrail.ledger.explain import explain
from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import chdb_path, open_reader
from handrail.render import decision_tree
from handrail.settings import (
    KafkaSettings,
    LedgerSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)

EXPECTED = ("retry-storm", "handoff-stalled", "spend-cap", "silence", "spend-drift", "rights")
"""The detectors whose alerts the demo must raise (the prefix of each dedup key)."""

ALERTS_SQL = """
SELECT time, type, JSONExtractString(event_json, 'payload', 'dedup_key') AS dedup_key,
       JSONExtractString(event_json, 'payload', 'severity') AS severity,
       JSONExtractString(event_json, 'payload', 'summary') AS summary, reason
FROM events WHERE type IN ('alert_raised', 'halt') ORDER BY time
"""


@dataclass
class DemoResult:
    alerts: list[dict[str, Any]]
    """Alerts raised and halts, as the ledger holds them."""
    events: int
    ledger: str

    def missing(self) -> list[str]:
        raised = {a["dedup_key"].split(":")[0] for a in self.alerts if a["type"] == "alert_raised"}
        return [name for name in EXPECTED if name not in raised]


def demo_settings(base: Path, kafka: str | None) -> Settings:
    """Everything the demo writes lives under ``base``; on Kafka, each run has topics of
    its own (the ledger starts empty, so nothing of an earlier run may be read back)."""
    run = f"demo-{int(time.time()) % 100_000}" if kafka else "demo"
    return Settings(
        spool=SpoolSettings(dir=base / "spool", control_log=base / "control.log"),
        ledger=LedgerSettings(dsn=f"chdb://{base / 'ledger'}"),  # checkpoints: base/checkpoints
        kafka=KafkaSettings(bootstrap_servers=kafka, events_topic=f"handrail.{run}.events"),
        processors=ProcessorSettings(
            data_dir=base / "processors",
            app_id=f"handrail-{run}",
            alerts_topic=f"handrail.{run}.alerts",
            control_topic=f"handrail.{run}.control",
            dead_letter_topic=f"handrail.{run}.dlq",
            rules=RULES,
            signing_key=base / "demo-processors.key",  # made by signed_governance
        ),
    )


def run_env(settings: Settings) -> dict[str, str]:
    """The settings as the variables ``handrail run`` reads."""
    s, p = settings, settings.processors
    env = {
        "HANDRAIL_SPOOL__DIR": str(s.spool.dir),
        "HANDRAIL_SPOOL__CONTROL_LOG": str(s.spool.control_log),
        "HANDRAIL_LEDGER__DSN": s.ledger.dsn,
        "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(s.ledger.checkpoint_path),  # not the caller's
        "HANDRAIL_KAFKA__EVENTS_TOPIC": s.kafka.events_topic,
        "HANDRAIL_PROCESSORS__APP_ID": p.app_id,
        "HANDRAIL_PROCESSORS__DATA_DIR": str(p.data_dir),
        "HANDRAIL_PROCESSORS__ALERTS_TOPIC": p.alerts_topic,
        "HANDRAIL_PROCESSORS__CONTROL_TOPIC": p.control_topic,
        "HANDRAIL_PROCESSORS__DEAD_LETTER_TOPIC": p.dead_letter_topic,
        "HANDRAIL_PROCESSORS__RULES": p.rules.model_dump_json(),
        "HANDRAIL_PROCESSORS__SIGNER": p.signer,
    }
    if p.signing_key is not None:
        env["HANDRAIL_PROCESSORS__SIGNING_KEY"] = str(p.signing_key)
    if s.kafka.bootstrap_servers:
        env["HANDRAIL_KAFKA__BOOTSTRAP_SERVERS"] = s.kafka.bootstrap_servers
    if s.files.group is not None:
        env["HANDRAIL_FILES__GROUP"] = s.files.group
    return env


def wait_for_workers(settings: Settings, timeout_s: float = 120.0) -> bool:
    """Wait until the processors' consumer groups (Faust's, and the one that reads the
    events topic) are stable with a member each (Kafka mode)."""
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415 - Kafka mode only

    p, deadline = settings.processors, time.monotonic() + timeout_s
    groups = [p.app_id, p.ingest_group]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the groups do not exist yet
                found = admin.describe_groups(groups)
                if all(found[g]["group_state"] == "Stable" and found[g]["members"] for g in groups):
                    return True
            time.sleep(0.5)
        return False
    finally:
        admin.close()


def create_topics(settings: Settings) -> None:
    from handrail.processors.topics import TopicSpec, declare  # noqa: PLC0415 - Kafka mode only

    p = settings.processors
    names = (settings.kafka.events_topic, p.alerts_topic, p.control_topic, p.dead_letter_topic)
    specs = [TopicSpec(name, p.partitions, p.replication_factor) for name in names]
    declare(specs, settings.kafka.servers, settings.kafka.client_config)


def handrail_command() -> list[str]:
    """``handrail`` as a user can run it from any directory: the console script beside this
    interpreter (a venv's ``bin``, which need not be on PATH), else this interpreter with
    ``-m handrail``; both by absolute path (a venv's interpreter is a link: kept as is)."""
    python = Path(os.path.abspath(sys.executable))
    script = python.parent / "handrail"
    return [str(script)] if os.access(script, os.X_OK) else [str(python), "-m", "handrail"]


def commands(ledger_dsn: str, refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(what it shows, a shell line) for each thing to look at in the demo's ledger: the
    ledger named by absolute path and ``handrail`` by ``handrail_command``, so that each
    line works when pasted, from any directory. ``refs``: (what, id) to explain."""
    prefix = f"HANDRAIL_LEDGER__DSN={shlex.quote(ledger_dsn)} " + shlex.join(handrail_command())
    spend = (
        "SELECT agent, round(sum(cost_usd), 2) AS usd FROM events GROUP BY agent ORDER BY usd DESC"
    )
    return [
        *((what, f"{prefix} explain {shlex.quote(ref)}") for what, ref in refs),
        ("spend per agent", f"{prefix} sql {shlex.quote(spend)}"),
        ("every hash chain checked against its checkpoint", f"{prefix} ledger verify"),
    ]


class Demo:
    def __init__(self, base: Path, kafka: str | None, console: Console) -> None:
        base = base.resolve()  # the paths it prints work from any directory
        self.base, self.console = base, console
        self.refs: list[tuple[str, str]] = [("the bad database write's workflow", BAD_WORKFLOW)]
        """What the end of the demo offers to explain: (what, an id)."""
        self.settings = demo_settings(base, kafka)
        self.modes = FileModes.of(self.settings.files)
        self.started = time.monotonic()
        self._shown: set[tuple[str, str]] = set()
        self._live = False
        """``handrail run`` is running (and will serve the ledger)."""

    def say(self, line: str) -> None:
        self.console.print(f"[dim]{time.monotonic() - self.started:5.1f}s[/] {line}",
                           highlight=False)  # fmt: skip

    def run(self, seconds: float, settle_s: float) -> DemoResult:
        if self.base.exists():
            shutil.rmtree(self.base)  # the demo's own directory: a fresh start each time
        self.modes.directory(self.base)
        signed_governance(self.settings)  # the keys the processors and the supervisor sign with
        if self.settings.kafka.bootstrap_servers:
            create_topics(self.settings)
        log = self.modes.open(self.base / "run.log", "wb")
        command = [sys.executable, "-m", "handrail", "run"]
        child = subprocess.Popen(command, env={**os.environ, **run_env(self.settings)},
                                 stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.say(f"handrail run started (pid {child.pid}; its log: {self.base / 'run.log'})")
        self._live = True
        try:
            if self.settings.kafka.bootstrap_servers:
                self.say("waiting for the Faust worker to join its group")
                if not wait_for_workers(self.settings):
                    self.say("[red]no processors worker joined within 120 s; see the run log[/]")
            scenario = Scenario(self.settings, self.say)
            try:
                with Supervisor(scenario.settings, self.say):
                    self._while(lambda: scenario.run(seconds))
            finally:
                scenario.close()
            if scenario.bad_write is not None:
                self.refs.insert(0, ("the bad database write, event by event", scenario.bad_write))
            if scenario.stalled is not None:
                self.refs.append(("the handoff nobody picked up", scenario.stalled))
            self.say(f"{scenario.tickets} tickets handled; waiting for the last alerts")
            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline and self._poll().missing():
                time.sleep(1.0)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(60)
            log.close()
            self._live = False
        return self._poll()

    def _while(self, work: Callable[[], None]) -> None:
        """Run ``work`` on a thread while alerts are polled every second."""
        thread = threading.Thread(target=work, name="demo-scenario")
        thread.start()
        while thread.is_alive():
            thread.join(1.0)
            self._poll()

    def _poll(self) -> DemoResult:
        path = chdb_path(self.settings.ledger.dsn)
        if self._live and path is not None and not socket_path(path).exists():
            return DemoResult([], 0, self.settings.ledger.dsn)  # not served yet
        try:
            reader = open_reader(self.settings.ledger.dsn, wait_s=2)
        except Exception:  # the ledger is starting: try again next second
            return DemoResult([], 0, self.settings.ledger.dsn)
        try:
            alerts = reader.query(ALERTS_SQL, {})
            events = reader.query("SELECT count() AS n FROM events", {})[0]["n"]
        except QueryError:
            alerts, events = [], 0
        finally:
            reader.close()
        for alert in alerts:
            key = (alert["type"], alert["dedup_key"] or alert["reason"])
            if key not in self._shown:
                self._shown.add(key)
                if alert["type"] == "halt":  # the ledger's text is an agent's: no markup
                    self.say(f"[bold magenta]HALT[/] {escape(alert['reason'])}")
                else:
                    colour = "red" if alert["severity"] == "critical" else "yellow"
                    self.say(f"[bold {colour}]ALERT[/] {escape(alert['summary'])}")
        return DemoResult(alerts, int(events), self.settings.ledger.dsn)

    def explain_bad_write(self) -> None:
        """The explanation of the bad write (its event: the path to it highlighted)."""
        reader = open_reader(self.settings.ledger.dsn)
        try:
            self.console.print(decision_tree(explain(reader, self.refs[0][1])))
        finally:
            reader.close()

    def print_commands(self, result: DemoResult) -> None:
        """What is in the ledger, and the commands that look into it, each on one line
        (never wrapped: it is pasted as printed)."""
        path = chdb_path(result.ledger)
        self.console.print(
            f"{result.events} events and {len(result.alerts)} alerts and halts in the ledger at "
            f"{path}; each command below works as printed, from any directory:",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
        for what, line in commands(result.ledger, self.refs):
            self.console.print(f"{what}:", style="dim", highlight=False, markup=False)
            self.console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
