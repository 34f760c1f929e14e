"""The web console (issue 27): how fast its pages render over the demo's ledger, and what
it costs ``handrail run`` to have it open.

    python -m bench.console [--requests 20] [--events 60000] [--rounds 3] [--json FILE]

* Pages: ``handrail demo`` fills a ledger, ``handrail run`` serves it with the console on;
  a signed-in client asks for each page ``--requests`` times (the whole answer read).
  Target: every page's median within 300 ms.
* Cost: a spool backlog of ``--events`` events is drained by the embedded pipeline in a
  child process that also serves its ledger to other processes (as ``handrail run``
  does), alone and then with a console reading that ledger with a live page open (its
  updates polled every ``console.live_poll_s``); both rounds alternate on copies of the
  same backlog. Target: no measurable cost, i.e. the drain with the console open within
  the run-to-run noise of the drain alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._cli import parse_args
from bench.embedded import record_backlog, settings
from handrail.governance.signing import generate, public_key_line, write_private_key
from tests.support.console_client import sign_in
from tests.support.console_site import answers, serve, stop
from tests.support.ports import free_port

PAGES = ("/approvals", "/alerts", "/halts", "/workflows", "/workflows/ticket-bad-summary",
         "/agents", "/ledger")  # fmt: skip
TARGET_MS = 300.0
DEADLINE_S = 600.0


def pages(base: Path, requests: int) -> dict[str, dict[str, float]]:
    site, child = serve(base)
    try:
        client, _ = sign_in(site.url, site.key("alice"))
        timed: dict[str, dict[str, float]] = {}
        for path in PAGES:
            client.get(path)  # warm: the first query of a kind compiles
            seconds = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = client.get(path)
                seconds.append(time.perf_counter() - started)
                assert answer.status_code == 200, (path, answer.status_code)
            ms = sorted(s * 1000 for s in seconds)
            timed[path] = {"median_ms": statistics.median(ms), "max_ms": ms[-1]}
            print(f"  {path}: median {timed[path]['median_ms']:.0f} ms, max {ms[-1]:.0f} ms")
        return timed
    finally:
        stop(child)


def _child(spool: Path, ledger: Path, events: int) -> None:
    """In a child: the pipeline and the ledger's owner, as ``handrail run``; waits for a
    line on stdin, then drains; prints the drain's seconds as JSON."""
    import asyncio

    from bench.embedded import _drain
    from handrail.embedded.pipeline import Pipeline
    from handrail.ledger.client import connect
    from handrail.ledger.migrate import migrate
    from handrail.ledger.owner import OwnerServer

    client = connect(f"chdb://{ledger}")
    migrate(client)
    pipeline = Pipeline(settings(spool, ledger), client)
    owner = OwnerServer(f"chdb://{ledger}", ledger, pipeline.settings.ledger.reads, None)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    asyncio.run(_drain(pipeline, events))
    seconds = time.perf_counter() - started
    pipeline.close()
    owner.stop()
    print(json.dumps({"seconds": seconds}), flush=True)


def _console(spool: Path, ledger: Path, keys: Path) -> tuple[subprocess.Popen[bytes], str]:
    key = generate()
    write_private_key(keys / "alice.key", key)
    governance = keys / "governance.yaml"
    governance.write_text(f"version: 1\npeople:\n  alice: {{keys: ['"
                          f"{public_key_line(key.verify_key)}']}}\n")  # fmt: skip
    port = free_port()
    env = {**os.environ, "HANDRAIL_SPOOL__DIR": str(spool.parent / "console-spool"),
           "HANDRAIL_SPOOL__CONTROL_LOG": str(spool.parent / "control.log"),
           "HANDRAIL_LEDGER__DSN": f"chdb://{ledger}",
           "HANDRAIL_GOVERNANCE__FILE": str(governance)}  # fmt: skip
    command = [sys.executable, "-m", "handrail", "console", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        answers(url, process, 60)
    except AssertionError:
        process.kill()
        raise
    return process, url


def _watch(url: str, key_file: Path, stop_watching: threading.Event) -> None:
    """A person with the alerts page open: its live updates, read as they come."""
    from handrail.governance.signing import load_private_key

    client, _ = sign_in(url, load_private_key(key_file))
    client.get("/alerts")
    with client.stream("GET", "/live", timeout=None) as stream:
        for _ in stream.iter_lines():
            if stop_watching.is_set():
                return


def drain(spool: Path, ledger: Path, events: int, with_console: bool) -> float:
    command = [sys.executable, "-m", "bench.console", "--child", str(spool), str(ledger),
               str(events)]  # fmt: skip
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    console: subprocess.Popen[bytes] | None = None
    watching = threading.Event()
    try:
        assert child.stdout.readline().strip() == "ready"
        if with_console:
            console, url = _console(spool, ledger, ledger.parent)
            threading.Thread(target=_watch, args=(url, ledger.parent / "alice.key", watching),
                             daemon=True).start()  # fmt: skip
            time.sleep(1.0)  # the page open and its first update answered
        child.stdin.write("go\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=DEADLINE_S)
    finally:
        watching.set()
        if console is not None:
            console.terminate()
            console.wait(30)
        if child.poll() is None:
            child.kill()
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parse_args(parser, requests=3, events=3_000, rounds=1)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handrail-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        print("pages over the demo's ledger:")
        timed = pages(tmp / "pages", args.requests)
        slowest = max(timed, key=lambda p: timed[p]["median_ms"])
        figures |= {"pages": timed, "slowest_page": slowest,
                    "slowest_median_ms": timed[slowest]["median_ms"]}  # fmt: skip
        backlog = tmp / "backlog" / "spool"
        events = record_backlog(backlog, args.events)
        alone, opened = [], []
        for n in range(args.rounds):
            for name, runs in (("alone", alone), ("console", opened)):
                here = tmp / f"round-{n}-{name}"
                shutil.copytree(backlog, here / "spool")
                runs.append(events / drain(here / "spool", here / "l", events, name == "console"))
            print(f"  round {n + 1}: drain alone {alone[-1]:,.0f}/s, with the console open "
                  f"{opened[-1]:,.0f}/s")  # fmt: skip
    figures |= {
        "events": events, "rounds": args.rounds,
        "drain_alone_events_per_s": statistics.median(alone),
        "drain_console_events_per_s": statistics.median(opened),
        "drain_alone_spread": (max(alone) - min(alone)) / statistics.median(alone),
    }  # fmt: skip
    figures["console_ratio"] = (figures["drain_console_events_per_s"]
                                / figures["drain_alone_events_per_s"])  # fmt: skip
    print(f"slowest page {slowest}: median {figures['slowest_median_ms']:.0f} ms (target "
          f"<= {TARGET_MS:.0f} ms); handrail run draining {events:,} events with the console "
          f"open: {figures['console_ratio']:.0%} of its rate alone (alone, round to round: "
          f"{figures['drain_alone_spread']:.0%} apart)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
