"""A clean multi-agent workload through the SDK: intake -> summarizer -> analyst ->
db-writer, with spend, a few retries within budget, rare rejections, allowed verdicts
before every database write, and heartbeats. It must never raise an alert."""

from __future__ import annotations

from handrail.producers import HandoffTicket, Recorder

AGENTS = ("intake", "summarizer", "analyst", "db-writer")
PASS = [{"name": "schema", "passed": True}]


def _pass_on(rec: Recorder, ticket: HandoffTicket, to: str, i: int) -> HandoffTicket | None:
    """Accept (or, 1 in 20, reject) the ticket; if accepted, hand the work on."""
    if i % 20 == 19 and i > 100:  # 5%, well under the rejection limit; none among the
        # first answers, where a worker reading partitions unevenly may judge a rate on
        # five answers (the test workers' min_answers) with a rejection among them
        rec.handoff_rejected(ticket, "incomplete")
        return None
    rec.handoff_accepted(ticket, checks=PASS)
    if rec.agent.name == "summarizer":
        if i % 100 == 0:  # a rare failure and one retry, within budget
            rec.action_failed("llm.call", "Timeout", "504", retryable=True)
            rec.retry("llm.call", f"op-{i}", 1, "504")
        rec.spend(0.01, "openai", "gpt-4o", input_tokens=2000, output_tokens=300)
        rec.action_executed("llm.call")
    else:
        rec.decision("db.customers.write", "summary checks passed", checks=PASS)
    return rec.handoff_offered(to, "continue", payload={"t": i})


def workflow(recorders: dict[str, Recorder], i: int) -> None:
    """Workflow ``i``: a ticket through the four agents (about 16 events); every 50th
    starts with a heartbeat from each agent."""
    intake, summarizer, analyst, writer = (recorders[a] for a in AGENTS)
    if i % 50 == 1:
        for rec in recorders.values():
            rec.heartbeat(interval_s=5.0)
    with intake.workflow():
        intake.decision("summarize", "new ticket", inputs=[{"name": "ticket", "ref": f"t{i}"}])
        intake.spend(0.002, "openai", "gpt-4o-mini", input_tokens=400, output_tokens=50)
        ticket: HandoffTicket | None = intake.handoff_offered("summarizer", "summarise")
    for rec, to in ((summarizer, "analyst"), (analyst, "db-writer")):
        if ticket is not None:
            with rec.receive(ticket):
                ticket = _pass_on(rec, ticket, to, i)
    if ticket is not None:
        with writer.receive(ticket):
            writer.handoff_accepted(ticket)
            writer.policy_verdict("db.customers.write", "allow", "writes-allowed", "ok")
            writer.action_executed("db.customers.write", resource="db.customers")


def recorded(recorders: dict[str, Recorder]) -> int:
    return sum(r.stats().accepted for r in recorders.values())


def run(recorders: dict[str, Recorder], events: int) -> int:
    """Record workflows until at least ``events`` events, then stop every agent's duty;
    return how many were recorded."""
    i = 0
    while recorded(recorders) < events:
        i += 1
        workflow(recorders, i)
    for rec in recorders.values():
        rec.heartbeat(status="stopped")
    return recorded(recorders)
