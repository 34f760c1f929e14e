"""Small fixed multi-agent workflows recorded through the SDK, for the forensics tests:
intake -> summarizer -> analyst -> db-writer, with decisions and their checks, costs, a
retry, a rejected handoff and an approval. On the embedded default they go to the spool;
with Kafka settings to Kafka.
"""

from __future__ import annotations

from handrail.producers import Check, Evidence, HandoffTicket, Recorder
from handrail.settings import AgentIdentity, Settings

AGENTS = {
    "intake": AgentIdentity(name="intake", version="1.4", owner="team-support"),
    "summarizer": AgentIdentity(name="summarizer", version="2.1", owner="team-data"),
    "analyst": AgentIdentity(name="analyst", version="0.9", owner="team-data"),
    "db-writer": AgentIdentity(name="db-writer", version="1.0", owner="team-platform"),
}


def run(settings: Settings, workflows: int = 2) -> list[str]:
    """Record ``workflows`` customer-ticket workflows; return their workflow ids."""
    recorders = {name: Recorder(settings, identity) for name, identity in AGENTS.items()}
    ids = []
    try:
        for n in range(workflows):
            ids.append(_ticket(recorders, n, bad_summary=n % 2 == 1))
    finally:
        for recorder in recorders.values():
            recorder.close()
    return ids


def _ticket(r: dict[str, Recorder], n: int, *, bad_summary: bool) -> str:
    intake, summarizer, analyst, writer = (r[a] for a in AGENTS)
    with intake.workflow(f"ticket-{n + 1}") as scope:
        intake.decision(
            "route.summarize",
            "customer email about a billing error",
            inputs=[Evidence(name="email", ref=f"mail://inbox/{1000 + n}")],
            checks=[Check(name="language_supported", passed=True)],
        )
        ticket = intake.handoff_offered("summarizer", "summarize the customer thread")

    with summarizer.receive(ticket):
        summarizer.handoff_accepted(ticket, checks=[Check(name="thread_present", passed=True)])
        summarizer.action_failed("llm.summarize", "RateLimit", "429", retryable=True)
        summarizer.retry("llm.summarize", f"sum-{n}", 1, "429 from provider")
        summarizer.spend(0.042, "openai", "gpt-4o", input_tokens=5200, output_tokens=380)
        checks = [
            Check(
                name="has_customer_id",
                passed=not bad_summary,
                detail=None if not bad_summary else "no customer id in summary",
            )
        ]
        summarizer.decision("handoff.analyst", "summary ready", checks=checks)
        to_analyst = summarizer.handoff_offered(
            "analyst", "find the billing error", payload={"summary": f"ticket {n + 1}"}
        )

    _analyse(analyst, writer, to_analyst, bad_summary)
    return scope.workflow_id


def _analyse(analyst: Recorder, writer: Recorder, ticket: HandoffTicket, bad: bool) -> None:
    with analyst.receive(ticket):
        if bad:
            analyst.handoff_rejected(
                ticket,
                "summary has no customer id",
                checks=[Check(name="has_customer_id", passed=False)],
            )
            analyst.escalation("bad summary from summarizer", "team-data", action="analyse")
            return
        analyst.handoff_accepted(ticket, checks=[Check(name="has_customer_id", passed=True)])
        analyst.spend(0.31, "anthropic", "claude", input_tokens=9000, output_tokens=1200)
        analyst.decision(
            "db.customers.write",
            "refund of $12.40 is owed",
            inputs=[Evidence(name="invoice", ref="db://invoices/88")],
        )
        to_writer = analyst.handoff_offered("db-writer", "record the refund")
    with writer.receive(to_writer):
        writer.handoff_accepted(to_writer)
        writer.policy_verdict(
            "db.customers.write",
            "needs_approval",
            "db-writes-need-approval",
            "customer database writes need a human",
        )
        writer.approval_requested(
            "ap-" + to_writer.handoff_id[:8], "db.customers.write", "refund write"
        )
        writer.approval_granted(
            "ap-" + to_writer.handoff_id[:8], "alice@example.com", "refund checked against invoice"
        )
        writer.action_executed(
            "db.customers.write",
            resource="db.customers",
            duration_ms=8.2,
            approval_id="ap-" + to_writer.handoff_id[:8],
        )
