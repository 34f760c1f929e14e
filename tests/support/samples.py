"""One valid sample of every event type, built from the generated models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from handrail.schemas import AVRO_NAMES, PAYLOAD_TYPES, EventRecord
from handrail.schemas.models import Check, Evidence

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "decision_made": {
        "action": "db.customers.write",
        "rationale": "summary passed validation",
        "resource": "db.customers",
        "inputs": [Evidence(name="summary", ref="s3://bucket/summary.json", value=None)],
        "checks": [
            Check(name="has_customer_id", passed=True),
            Check(name="pii", passed=False, detail="email"),
        ],
        "alternatives": ["escalate"],
    },
    "policy_verdict": {
        "action": "db.customers.write",
        "effect": "needs_approval",
        "rule": "db-writes",
        "reason": "writes need a human",
        "cost_usd": 0.25,
        "attempt": 1,
    },
    "action_executed": {"action": "db.customers.write", "duration_ms": 12.5, "approval_id": "ap-1"},
    "action_failed": {
        "action": "api.call",
        "error_type": "Timeout",
        "error_message": "504",
        "retryable": True,
    },
    "retry": {"action": "api.call", "operation_id": "op-1", "attempt": 2, "reason": "504"},
    "spend": {
        "usd": 0.0123,
        "provider": "openai",
        "model": "gpt-x",
        "input_tokens": 1200,
        "output_tokens": 300,
        "action": "summarize",
    },
    "handoff_offered": {
        "handoff_id": "h-1",
        "to_agent": "analyst",
        "task": "analyse",
        "payload_sha256": "ab" * 32,
        "deadline": NOW + timedelta(minutes=5),
    },
    "handoff_accepted": {
        "handoff_id": "h-1",
        "from_agent": "summarizer",
        "checks": [Check(name="schema", passed=True)],
    },
    "handoff_rejected": {
        "handoff_id": "h-1",
        "from_agent": "summarizer",
        "reason": "no id",
        "checks": [Check(name="schema", passed=False, detail="missing id")],
    },
    "approval_requested": {
        "approval_id": "ap-1",
        "action": "db.customers.write",
        "reason": "policy",
        "cost_usd": 7.5,
        "expires_at": NOW + timedelta(hours=1),
    },
    "approval_granted": {"approval_id": "ap-1", "approver": "alice", "reason": "looks right"},
    "approval_denied": {"approval_id": "ap-1", "approver": "bob", "reason": "no"},
    "approval_expired": {"approval_id": "ap-1"},
    "escalation": {
        "reason": "third failure",
        "to": "team-data",
        "action": "api.call",
        "severity": "critical",
    },
    "heartbeat": {"status": "ok", "interval_s": 30.0},
    "alert_raised": {
        "dedup_key": "retry_storm:a:op-1",
        "detector": "retry_storm",
        "severity": "critical",
        "owner": "team-data",
        "summary": "12 retries in 60s",
        "evidence": ["e1", "e2"],
        "subject_agent": "a",
        "subject_operation": "op-1",
    },
    "alert_resolved": {"dedup_key": "retry_storm:a:op-1", "summary": "no retries for 10m"},
    "halt": {
        "scope": "operation",
        "target_agent": "a",
        "operation_id": "op-1",
        "reason": "storm",
        "alert_dedup_key": "retry_storm:a:op-1",
    },
    "resume": {
        "scope": "operation",
        "target_agent": "a",
        "operation_id": "op-1",
        "reason": "fixed",
        "by": "alice",
    },
    "alert_delivered": {
        "dedup_key": "k",
        "channel": "pagerduty",
        "target": "team-data",
        "ok": True,
        "status_code": 202,
        "attempt": 1,
    },
}


def sample_payloads() -> dict[str, Any]:
    missing = set(PAYLOAD_TYPES) - set(SAMPLE_FIELDS)
    assert not missing, f"add samples for {missing}"
    return {tag: PAYLOAD_TYPES[tag](**fields) for tag, fields in SAMPLE_FIELDS.items()}


def event_record(
    kind: str = "heartbeat", *, sequence: int = 1, agent: str = "a", **fields: Any
) -> EventRecord:
    """A current-schema Avro event record (as fastavro writes it) carrying the sample payload,
    with ``fields`` replacing some of its payload fields."""
    payload = {**sample_payloads()[kind].model_dump(exclude={"type"}), **fields}
    return {
        "event_id": str(uuid.uuid4()), "time": NOW, "workflow_id": "wf", "causation_id": None,
        "agent": {"name": agent, "version": "1", "owner": "team"}, "session_id": "s",
        "sequence": sequence, "labels": {},
        "payload": (AVRO_NAMES[kind], payload),
    }  # fmt: skip
