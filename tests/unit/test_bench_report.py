"""The performance report's builder: targets judged met or missed, ratios, every target
listed, and a clear error when a results file lacks a figure. No benchmark runs here."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest

from bench._targets import TARGETS, MissingFigureError, Target, evaluate, goal_text
from bench.report import BENCHES, build_report

ROOT = Path(__file__).resolve().parents[2]
MACHINE = {"CPU": "Test CPU", "cores": "2 logical"}


def latency(workers: int, p99: float, arrived: int = 120) -> dict[str, Any]:
    return {"workers": workers, "rate_events_per_s": 1999.0, "expected": 120,
            "arrived": arrived, "p50_ms": p99 / 2, "p99_ms": p99, "max_ms": p99}  # fmt: skip


def results() -> dict[str, dict[str, Any]]:
    """Every bench's results, as its --json writes them; which targets are met is noted."""
    return {
        "producer": {
            "baseline_events_per_s": 10_000.0,
            "reference_encode_send_cpu_p50_us": 100.0,
            "reference_encode_send_cpu_p99_us": 200.0,
            "floor_cpu_p50_us": 10.0,
            "floor_cpu_p99_us": 30.0,
            "encode_fastavro_us": 18.0,
            "encode_compiled_us": 6.0,
            "process": {
                "sdk_end_to_end_events_per_s": 9_000.0,  # 90%: met (>= 90%)
                "flat_out_wall_p50_us": 8.0,
                "flat_out_wall_p99_us": 50.0,  # met (<= 50)
                "flat_out_cpu_p50_us": 8.0,
                "flat_out_cpu_p99_us": 49.0,  # met
                "paced_wall_p50_us": 40.0,  # paced: figures without a target
                "paced_wall_p99_us": 51.0,
                "paced_cpu_p50_us": 40.0,
                "paced_cpu_p99_us": 80.0,
            },
            "thread": {
                "sdk_end_to_end_events_per_s": 8_000.0,  # 80%: missed
                "flat_out_wall_p50_us": 9.0,
                "flat_out_wall_p99_us": 40.0,  # met
                "flat_out_cpu_p50_us": 9.0,
                "flat_out_cpu_p99_us": 70.0,  # missed
                "paced_cpu_p50_us": 40.0,
                "paced_cpu_p99_us": 90.0,
            },
        },
        "ledger_sink": {
            "events": 100_000,
            "baseline_insert_events_per_s": 60_000.0,
            "ingest_insert_events_per_s": 70_000.0,
            "sink_events_per_s": 12_000.0,  # 20%: missed
        },
        "ledger_queries": {
            "synthetic_events": 10_000_000,
            "explain_rows_per_workflow": 100.0,
            "explain_median_ms": 25.0,  # met
            "workflow_query_median_ms": 20.0,
            "rollup_median_ms": 1_500.0,  # missed
            "rollup_raw_median_ms": 3_000.0,
        },
        "processors": {
            "backlog_events": 40_000,
            "passthrough_events_per_s": 2_000.0,
            "processors_events_per_s": 1_600.0,  # 80%: met
            "consume_decode_median_events_per_s": 20_000.0,
            "processors_median_events_per_s": 1_500.0,  # 7.5%: missed (>= 40%)
            "passthrough_latency": latency(1, 900.0),
            "latency": [latency(1, 400.0), latency(2, 1_000.0)],  # met (< 500 ms); missed (< 1 s)
            "latency_half_drain": latency(1, 1_200.0),  # missed (< 1 s)
        },
        "authorize": {
            "rules": 1_000,
            "calls": 100_000,
            "rounds": 3,
            "decide_p50_us": 2.0,
            "decide_p99_us": 9.0,
            "thread": {
                "record_only_p50_us": 5.0,
                "record_only_p99_us": 10.0,
                "authorize_p50_us": 8.0,
                "authorize_p99_us": 19.9,  # met (< 20)
            },
            "process": {
                "record_only_p50_us": 6.0,
                "record_only_p99_us": 30.0,
                "authorize_p50_us": 9.0,
                "authorize_p99_us": 40.0,
            },
        },
        "scaling": {
            "backlog_events": 40_000,
            "partitions": 6,
            "rounds": 2,
            "one_worker_events_per_s": 2_000.0,
            "two_workers_events_per_s": 3_000.0,
            "one_worker_events_counted": 39_000,
            "two_workers_events_counted": 38_000,
        },
        "embedded": {
            "events": 100_000,
            "rounds": 3,
            "drain_events_per_s": 6_000.0,  # 60%: met (>= 50%)
            "slowest_stage_events_per_s": 10_000.0,
            "read_decode_events_per_s": 30_000.0,
            "detect_events_per_s": 40_000.0,
            "rows_events_per_s": 90_000.0,
            "chain_insert_events_per_s": 10_000.0,
            "drain_peak_mib": 600.0,  # missed (< 477)
        },
        "otlp": {
            "spans": 20_000,
            "requests": 200,
            "rounds": 3,
            "ingest_spans_per_s": 10_000.0,  # 10%: missed (>= 50%)
            "bare_parse_spans_per_s": 100_000.0,
        },
        "console": {
            "slowest_page": "/agents",
            "slowest_median_ms": 120.0,  # met (<= 300)
            "events": 60_000,
            "rounds": 3,
            "drain_alone_events_per_s": 10_000.0,
            "drain_console_events_per_s": 8_000.0,  # 80%: missed (>= 90%)
            "drain_alone_spread": 0.05,
        },
        "verify": {
            "rows": 200_000,
            "small_rows": 50_000,
            "rounds": 3,
            "verify_s": 20.0,
            "verify_peak_mib": 600.0,
            "small_verify_s": 5.0,
            "small_verify_peak_mib": 580.0,
            "whole_load_s": 4.0,
            "whole_load_peak_mib": 1_400.0,
            "reader_query_median_ms": 20.0,
            "bare_query_median_ms": 12.0,
        },
    }


EXPECTED = {
    ("producer", "process/sdk_end_to_end_events_per_s"): "met",
    ("producer", "process/flat_out_wall_p99_us"): "met",
    ("producer", "process/flat_out_cpu_p99_us"): "met",
    ("producer", "thread/sdk_end_to_end_events_per_s"): "missed",
    ("producer", "thread/flat_out_wall_p99_us"): "met",
    ("producer", "thread/flat_out_cpu_p99_us"): "missed",
    ("ledger_sink", "sink_events_per_s"): "missed",
    ("ledger_queries", "explain_median_ms"): "met",
    ("ledger_queries", "rollup_median_ms"): "missed",
    ("processors", "processors_events_per_s"): "met",
    ("processors", "latency/workers=1/p99_ms"): "met",
    ("processors", "latency/workers=2/p99_ms"): "missed",
    ("processors", "latency_half_drain/p99_ms"): "missed",
    ("authorize", "thread/authorize_p99_us"): "met",
    ("processors", "processors_median_events_per_s"): "missed",
    ("embedded", "drain_events_per_s"): "met",
    ("embedded", "drain_peak_mib"): "missed",
    ("otlp", "ingest_spans_per_s"): "missed",
    ("console", "slowest_median_ms"): "met",
    ("console", "drain_console_events_per_s"): "missed",
}


def target(bench: str, measured: str) -> Target:
    return next(t for t in TARGETS if (t.bench, t.measured) == (bench, measured))


def test_targets_are_judged_met_or_missed() -> None:
    data = results()
    judged = {(t.bench, t.measured): evaluate(t, data[t.bench]).status for t in TARGETS}
    assert {k: v for k, v in judged.items() if k in EXPECTED} == EXPECTED
    assert {k for k, v in judged.items() if k not in EXPECTED} == {
        ("producer", "encode_compiled_us"),
        ("producer", "process/paced_cpu_p99_us"),
        ("producer", "thread/paced_cpu_p99_us"),
        ("authorize", "process/authorize_p99_us"),
        ("authorize", "decide_p99_us"),
        ("scaling", "two_workers_events_per_s"),
        ("verify", "verify_peak_mib"),
        ("verify", "reader_query_median_ms"),
    }  # figures without a target
    assert judged["authorize", "decide_p99_us"] == judged["scaling", "two_workers_events_per_s"]


def test_every_target_of_issues_2_to_5_25_and_26_is_there() -> None:
    with_goal = [t for t in TARGETS if t.goal is not None]
    assert {t.issue for t in with_goal} == {2, 3, 4, 5, 25, 26, 27}
    assert {(t.bench, t.measured) for t in with_goal} == set(EXPECTED)


def test_ratios_are_measured_over_baseline() -> None:
    data = results()
    row = evaluate(target("processors", "processors_events_per_s"), data["processors"])
    assert (row.measured, row.baseline, row.ratio) == (1_600.0, 2_000.0, pytest.approx(0.8))
    row = evaluate(target("scaling", "two_workers_events_per_s"), data["scaling"])
    assert row.ratio == pytest.approx(1.5)
    row = evaluate(target("producer", "process/flat_out_wall_p99_us"), data["producer"])
    assert (row.baseline, row.ratio) == (None, None)


def test_a_latency_with_missing_arrivals_is_missed() -> None:
    data = results()
    data["processors"]["latency"][0] = latency(1, 500.0, arrived=100)
    row = evaluate(target("processors", "latency/workers=1/p99_ms"), data["processors"])
    assert row.status == "missed (100 of 120 arrived)"


def test_the_report_lists_every_figure_with_its_target_and_ratio() -> None:
    text = build_report(results(), MACHINE, sources={"producer": "Ran `python -m bench.x`."})
    for t in TARGETS:
        assert t.figure in text
        assert goal_text(t) in text
    assert "| CPU | Test CPU |" in text
    assert "Ran `python -m bench.x`." in text
    assert "10 of 20 measured targets met." in text
    assert "| 1,600 events/s | 2,000 events/s (bare Faust pass-through agent) | 80% | met |" in text
    assert "| 3,000 events/s | 2,000 events/s (the same backlog, one worker) | 150% |" in text
    assert "≥ 90% of baseline" in text
    assert "< 1,000 ms" in text
    assert "**missed**" in text


def test_a_bench_without_results_is_listed_as_not_run() -> None:
    data: dict[str, Any] = results()
    del data["ledger_queries"]
    text = build_report(data, MACHINE)
    assert "9 of 18 measured targets met; not run: ledger_queries." in text
    assert "| 3 | `explain` of one workflow: median | ≤ 200 ms | not run | **not run** |" in text


@pytest.mark.parametrize(
    ("bench", "path"),
    [
        ("producer", "reference_encode_send_cpu_p99_us"),  # a baseline
        ("authorize", "rules"),  # used by a note only
        ("processors", "latency"),
    ],
)
def test_a_missing_figure_is_a_clear_error(bench: str, path: str) -> None:
    data = copy.deepcopy(results())
    del data[bench][path]
    with pytest.raises(MissingFigureError, match=rf"bench/results/{bench}\.json has no figure"):
        build_report(data, MACHINE)


def test_a_missing_worker_count_is_a_clear_error() -> None:
    data = results()
    data["processors"]["latency"] = [latency(1, 800.0)]
    with pytest.raises(MissingFigureError, match=r"'latency/workers=2/p99_ms'"):
        build_report(data, MACHINE)


def test_every_bench_with_a_target_is_run_and_states_its_issue() -> None:
    modules = {b.name: b.module for b in BENCHES}
    for t in TARGETS:
        source = (ROOT / "bench" / f"{modules[t.bench]}.py").read_text()
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if t.goal is not None:
            assert f"issue {t.issue}" in docstring, (t.bench, t.issue)


def test_a_rebuild_keeps_the_hand_written_part(tmp_path: Path) -> None:
    """What follows the ``PROSE`` marker (how to reproduce, where the time goes) is written
    back after fresh tables; a report without one gets nothing added."""
    from bench.report import PROSE, prose

    report = tmp_path / "REPORT.md"
    assert prose(report) == ""
    report.write_text("# old tables\n\n| a |\n" + PROSE + "\n\n## Where the time goes\n\nx\n")
    rebuilt = build_report(results(), MACHINE) + prose(report)
    assert rebuilt.endswith("|\n\n" + PROSE + "\n\n## Where the time goes\n\nx\n")
    assert "# old tables" not in rebuilt
    report.write_text("# tables only\n")
    assert prose(report) == ""
