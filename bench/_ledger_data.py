"""Workloads for ``bench.ledger``: SDK events for the sink, synthetic rows for the queries.

``emit`` drives real ``Recorder`` objects through workflows shaped like agent work
(decisions with their verdicts, spend, executions, failures and retries, approvals,
handoffs between agents). ``synthetic_insert`` is one ``INSERT ... SELECT FROM numbers(n)``
statement that fills a ledger with ``n`` rows of the same shape, generated inside
ClickHouse: one expression per column of ``handrail.ledger.rows.COLUMNS`` (``ROW``; a
column it lacks fails at once, by name), the typed columns those that the ledger's
``rows.typed_columns`` makes of the row's ``event_json``
(``tests/integration/test_bench_ledger_data.py`` holds every row to it).
"""

from __future__ import annotations

import random
from collections.abc import Generator

from handrail.ledger.rows import COLUMNS, TYPED_COLUMNS
from handrail.producers import Recorder
from handrail.schemas.models import Effect

ROLES = (
    "summarizer", "triage", "router", "planner", "coder",
    "reviewer", "retriever", "writer", "support", "billing",
)  # fmt: skip
REGIONS = ("", "-eu", "-us", "-batch", "-v2")
TEAMS = (
    "team-data", "team-support", "team-platform", "team-billing",
    "team-search", "team-risk", "team-growth", "team-infra",
)  # fmt: skip
ACTIONS = (
    "db.customers.read", "db.customers.write", "db.orders.read", "db.orders.write",
    "db.invoices.write", "tool.search", "tool.browse", "tool.code_exec", "tool.calculator",
    "api.crm.update", "api.crm.lookup", "api.payments.refund", "api.payments.charge",
    "api.tickets.reply", "api.tickets.close", "api.tickets.assign", "email.send",
    "email.draft", "slack.post", "s3.put", "s3.get", "kb.lookup", "kb.update",
    "report.generate", "sql.query", "vector.search", "translate", "classify", "summarize",
    "plan.next_step",
)  # fmt: skip
RESOURCES = (
    "db.customers", "db.orders", "db.invoices", "s3://reports", "s3://tickets", "crm.accounts",
    "payments.refunds", "kb.articles", "tickets", "mail.outbound", "slack.#ops", "warehouse",
)  # fmt: skip
RATIONALES = (
    "summary passed validation and matches the ticket",
    "customer asked for a refund within the policy window",
    "the plan needs fresh context before the next step",
    "retrieved documents answer the question with citations",
    "draft reviewed against the style guide",
    "order total differs from the invoice: reconcile first",
    "the user confirmed the change in the conversation",
    "low confidence classification, route to a specialist",
)  # fmt: skip
RULES = (
    "db-writes", "refund-limit", "pii-egress", "spend-cap", "external-email",
    "prod-deploy", "bulk-update", "payment-ops", "after-hours", "default",
)  # fmt: skip
MODELS = (
    ("openai", "gpt-4.1"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-3.5"), ("google", "gemini-2.5-pro"), ("mistral", "mistral-large"),
)  # fmt: skip
ERRORS = (
    ("Timeout", "upstream timed out after 30s"), ("HTTPError", "502 Bad Gateway"),
    ("RateLimited", "429 Too Many Requests"), ("ValidationError", "missing field customer_id"),
)  # fmt: skip


EFFECTS: tuple[Effect, ...] = ("allow", "allow", "allow", "deny", "needs_approval")


def agent_names() -> list[str]:
    """Fifty agent names: ten roles in five variants."""
    return [role + region for region in REGIONS for role in ROLES]


# -- SDK events for the sink ------------------------------------------------------------------


def _workflow(a: Recorder, b: Recorder, wf: str, rng: random.Random) -> Generator[None, None, None]:
    """One workflow: yields after every event it records (so the caller can stop anywhere)."""
    with a.workflow(wf):
        for step in range(rng.randint(3, 8)):
            action, resource = rng.choice(ACTIONS), rng.choice(RESOURCES)
            decision = a.decision(
                action,
                rng.choice(RATIONALES),
                resource=resource,
                inputs=[{"name": "ticket", "ref": f"s3://tickets/{wf}/{step}.json"}],
                checks=[
                    {"name": "schema", "passed": True},
                    {"name": "pii_free", "passed": rng.random() > 0.1},
                ],
                alternatives=["escalate"],
            )
            yield
            with a.within(decision):
                effect: Effect = rng.choice(EFFECTS)
                a.policy_verdict(
                    action, effect, rng.choice(RULES), "matched rule", resource=resource,
                    cost_usd=round(rng.random() ** 3 * 5, 4), attempt=1,
                )  # fmt: skip
                yield
                provider, model = rng.choice(MODELS)
                a.spend(
                    round(0.0002 + rng.random() ** 3 * 0.9, 6), provider, model,
                    input_tokens=rng.randint(200, 8000), output_tokens=rng.randint(50, 1500),
                    action="llm.complete",
                )  # fmt: skip
                yield
                if effect == "deny":
                    a.escalation("denied by policy", "team-risk", action=action)
                    yield
                    continue
                if effect == "needs_approval":
                    approval = f"ap-{wf}-{step}"
                    a.approval_requested(approval, action, "policy", cost_usd=12.5)
                    yield
                    a.approval_granted(approval, "alice", "looks right")
                    yield
                if rng.random() < 0.15:
                    error_type, message = rng.choice(ERRORS)
                    a.action_failed(action, error_type, message, retryable=True)
                    yield
                    a.retry(action, f"op-{wf}-{step}", 1, message)
                    yield
                a.action_executed(action, resource=resource, duration_ms=rng.random() * 900)
                yield
        ticket = a.handoff_offered(b.agent.name, "analyse", payload={"workflow": wf})
        yield
    with b.receive(ticket):
        b.handoff_accepted(ticket, checks=[{"name": "schema", "passed": True}])
        yield
        b.decision("report.generate", "handed-off work passed its checks", resource="warehouse")
        yield
        b.action_executed("report.generate", duration_ms=120.0)
        yield


def emit(recorders: list[Recorder], n: int, seed: int = 11) -> None:
    """Record exactly ``n`` events through ``recorders`` (pairs of agents hand off work)."""
    rng = random.Random(seed)
    count, i = 0, 0
    while count < n:
        a, b = rng.sample(recorders, 2)
        steps = _workflow(a, b, f"wf-{seed}-{i:06d}", rng)
        for _ in steps:
            count += 1
            if count == n:
                steps.close()
                break
        i += 1


# -- synthetic rows inside ClickHouse ---------------------------------------------------------

LANES = 256
"""Concurrent sessions: row n belongs to lane n % LANES, so ~LANES workflows interleave."""


def _array(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _pick(values: tuple[str, ...] | list[str], index: str) -> str:
    return f"{_array(values)}[{index} % {len(values)} + 1]"


def _js(expr: str) -> str:
    """A JSON string value of a String expression with no quotes or backslashes in it."""
    return f"'\"', {expr}, '\"'"


def synthetic_insert(n: int, start_epoch_s: int, days: int = 30) -> str:
    """``INSERT INTO events (...) SELECT ... FROM numbers(n)``: n rows over ``days`` days.

    Row n is the j-th event (j = n / LANES) of session ``lane = n % LANES``; a lane runs
    workflows of 50 to 150 events (fixed per lane, staggered), one after the other, so about
    n / 100 workflows, each spanning an hour or two, with ~LANES running at any moment and
    time increasing with n. A workflow starts with a decision; its agent hands the work to
    another agent every 40 events (offer, then an acceptance or, one time in ten, a
    rejection); the other events are decisions, spend, executions, verdicts, failures,
    retries, approvals, escalations and heartbeats. Each event is caused by the previous
    event of its workflow. Ids and hashes are deterministic (hashes of n).
    """
    names = agent_names()
    step_us = days * 86_400 * 1_000_000 // n
    start_us = start_epoch_s * 1_000_000
    event_id = "reinterpretAsUUID(sipHash128(toString({})))"
    kinds = (
        (300, "spend"), (550, "decision_made"), (750, "action_executed"),
        (830, "policy_verdict"), (880, "retry"), (920, "action_failed"),
        (940, "approval_requested"), (955, "approval_granted"), (960, "approval_denied"),
        (965, "approval_expired"), (975, "escalation"),
    )  # fmt: skip
    kind_expr = "multiIf(" + ", ".join(f"h < {lim}, '{k}'" for lim, k in kinds) + ", 'heartbeat')"
    lane_rows = f"(intDiv({n} - lane - 1, {LANES}) + 1)"
    base = f"""
        SELECT number AS n, n % {LANES} AS lane, intDiv(n, {LANES}) AS j,
               50 + (lane * 37) % 101 AS wlen, (lane * 7919) % wlen AS phase,
               intDiv(j + phase, wlen) AS k, (j + phase) % wlen AS pos,
               {lane_rows} AS lane_n,
               sipHash64(n, 3) % 1000 AS h, sipHash64(lane, k, 1) % 50 AS agent0,
               (agent0 + intDiv(pos + 1, 40) * 7) % 50 AS ai,
               sipHash64(lane, k, intDiv(pos, 5)) AS topic_hash
        FROM numbers({n})"""
    typed = f"""
        SELECT *,
               concat('wf-', lower(hex(sipHash64(lane, k)))) AS workflow_id,
               multiIf(pos % 40 = 38 AND j + 1 < lane_n AND pos + 1 < wlen, 'handoff_offered',
                       pos % 40 = 39 AND j > 0,
                       if(sipHash64(lane, k, pos) % 10 = 0, 'handoff_rejected',
                          'handoff_accepted'),
                       pos = 0, 'decision_made', {kind_expr}) AS type,
               {_pick(names, "ai")} AS agent,
               {_pick(TEAMS, "ai")} AS owner,
               concat('1.', toString(intDiv(n * 5, {n}))) AS agent_version,
               fromUnixTimestamp64Micro(
                   toInt64({start_us} + n * {step_us} + sipHash64(n, 9) % {step_us}), 'UTC'
               ) AS time,
               toString({event_id.format("n")}) AS event_id_s,
               if(pos = 0 OR j = 0, '', toString({event_id.format(f"n - {LANES}")}))
                   AS causation_id,
               lower(hex(sipHash64(lane, 'session'))) AS session_id,
               j + 1 AS sequence,
               type = 'spend' AS is_spend,
               if(is_spend, {_pick([m for _, m in MODELS], "topic_hash")}, '') AS model,
               if(is_spend, 'llm.complete', {_pick(ACTIONS, "topic_hash")}) AS action0,
               concat({_pick(RESOURCES, "intDiv(topic_hash, 7)")}, '/',
                      toString(sipHash64(lane, k) % 100000)) AS resource0,
               {_pick(["allow", "allow", "allow", "deny", "needs_approval"], "sipHash64(n, 4)")}
                   AS effect0,
               {_pick(RULES, "sipHash64(n, 6)")} AS rule0,
               round(0.0002 + pow((sipHash64(n, 5) % 10000) / 10000, 3) * 0.9, 6) AS spend_usd,
               lower(hex(sipHash64(lane, k, intDiv(pos, 40)))) AS handoff_id0,
               {_pick(names, "(agent0 + (intDiv(pos + 1, 40) + 1) * 7) % 50")} AS next_agent,
               {_pick(names, "(agent0 + (intDiv(pos + 1, 40) - 1 + 50) * 7) % 50")} AS prev_agent,
               concat('ap-', lower(hex(sipHash64(lane, k, intDiv(pos, 10))))) AS approval0,
               {_pick(RATIONALES, "sipHash64(n, 8)")} AS rationale,
               {_pick([e for _, e in ERRORS], "sipHash64(n, 10)")} AS error_message,
               sipHash64(n, 12) % 10 = 0 AS pii_failed
        FROM ({base})"""
    has_action = (
        "type IN ('decision_made', 'policy_verdict', 'action_executed', 'action_failed', "
        "'retry', 'spend', 'approval_requested', 'escalation')"
    )
    columns = f"""
        SELECT *,
               if({has_action}, action0, '') AS action,
               if(type IN ('decision_made', 'policy_verdict', 'action_executed',
                           'action_failed', 'approval_requested'), resource0, '') AS resource,
               multiIf(type = 'decision_made', rationale,
                       type = 'policy_verdict', 'matched rule',
                       type IN ('action_failed', 'retry'), error_message,
                       type = 'handoff_rejected', 'missing customer id',
                       type IN ('approval_requested', 'approval_granted', 'approval_denied'),
                           'policy',
                       type = 'escalation', 'denied by policy', '') AS reason,
               if(is_spend, spend_usd, 0.) AS cost_usd,
               if(sipHash64(n, 7) % 4 = 0, spend_usd * 3, 0.) AS verdict_cost,
               if(type = 'policy_verdict', effect0, '') AS effect,
               if(type = 'policy_verdict', rule0, '') AS rule,
               multiIf(type = 'decision_made', if(pii_failed, ['schema'], ['schema', 'pii_free']),
                       type = 'handoff_accepted', ['schema'], []) AS checks_passed,
               multiIf(type = 'decision_made' AND pii_failed, ['pii_free'],
                       type = 'handoff_rejected', ['schema'], []) AS checks_failed,
               if(type LIKE 'handoff_%', handoff_id0, '') AS handoff_id,
               multiIf(type = 'handoff_offered', agent, type LIKE 'handoff_%', prev_agent, '')
                   AS handoff_from,
               multiIf(type = 'handoff_offered', next_agent, type LIKE 'handoff_%', agent, '')
                   AS handoff_to,
               if(type LIKE 'approval_%', approval0, '') AS approval_id,
               if(type LIKE 'approval_%', replaceOne(type, 'approval_', ''), '')
                   AS approval_state,
               if(n < intDiv({n}, 3), 1, 2) AS schema_version,
               'handrail.events' AS topic,
               sipHash64(workflow_id) % 6 AS partition,
               intDiv(n, 6) AS offset,
               lower(hex(SHA256(toString(n - 1)))) AS prev_hash,
               lower(hex(SHA256(toString(n)))) AS row_hash
        FROM ({typed})"""
    payload = """multiIf(
        type = 'decision_made', concat('"action":"', action, '","alternatives":["escalate"],',
            '"checks":[{"detail":null,"name":"schema","passed":true},',
            '{"detail":null,"name":"pii_free","passed":', if(pii_failed, 'false', 'true'),
            '}],"inputs":[{"name":"ticket","ref":"s3://tickets/', workflow_id, '/',
            toString(pos), '.json","value":null}],"rationale":"', reason, '","resource":"',
            resource, '"'),
        type = 'spend', concat('"action":"llm.complete","input_tokens":',
            toString(200 + sipHash64(n, 13) % 7800), ',"model":"', model,
            '","output_tokens":', toString(50 + sipHash64(n, 14) % 1450),
            ',"provider":"vendor","usd":', toString(cost_usd)),
        type = 'policy_verdict', concat('"action":"', action, '","attempt":1,"cost_usd":',
            toString(verdict_cost), ',"effect":"', effect, '","mode":"enforce",',
            '"reason":"matched rule","resource":"', resource, '","rule":"', rule, '"'),
        type = 'action_executed', concat('"action":"', action, '","approval_id":null,',
            '"duration_ms":', toString(sipHash64(n, 15) % 900000 / 1000),
            ',"output_ref":null,"resource":"', resource, '"'),
        type = 'action_failed', concat('"action":"', action, '","duration_ms":null,',
            '"error_message":"', reason, '","error_type":"Timeout","resource":"', resource,
            '","retryable":true'),
        type = 'retry', concat('"action":"', action, '","attempt":2,"operation_id":"op-',
            toString(n), '","reason":"', reason, '"'),
        type = 'handoff_offered', concat('"contract":null,"deadline":null,"handoff_id":"',
            handoff_id, '","payload_ref":null,"payload_sha256":null,"task":"analyse",',
            '"to_agent":"', handoff_to, '"'),
        type LIKE 'handoff_%', concat('"checks":[{"detail":null,"name":"schema","passed":',
            if(type = 'handoff_accepted', 'true}],', 'false}],'), '"from_agent":"',
            handoff_from, '","handoff_id":"', handoff_id, '"',
            if(type = 'handoff_rejected', concat(',"reason":"', reason, '"'), '')),
        type = 'approval_requested', concat('"action":"', action, '","approval_id":"',
            approval_id, '","cost_usd":12.5,"expires_at":null,"reason":"', reason,
            '","resource":"', resource, '"'),
        type = 'approval_expired', concat('"approval_id":"', approval_id, '"'),
        type LIKE 'approval_%', concat('"approval_id":"', approval_id,
            '","approver":"alice","reason":"', reason, '","signed":null'),
        type = 'escalation', concat('"action":"', action,
            '","reason":"denied by policy","severity":"warning","to":"team-risk"'),
        '"interval_s":30.0,"status":"ok"')"""
    event_json = f"""concat('{{"agent":{{"name":', {_js("agent")}, ',"owner":', {_js("owner")},
        ',"version":', {_js("agent_version")}, '}},"causation_id":',
        if(causation_id = '', 'null', concat({_js("causation_id")})),
        ',"event_id":', {_js("event_id_s")}, ',"labels":{{"env":"prod"}},"payload":{{',
        {payload}, ',"type":', {_js("type")}, '}},"sequence":', toString(sequence),
        ',"session_id":', {_js("session_id")}, ',"time":',
        {_js("formatDateTime(time, '%Y-%m-%dT%H:%i:%S.%f+00:00', 'UTC')")},
        ',"workflow_id":', {_js("workflow_id")}, '}}')"""
    rows = f"SELECT *, {event_json} AS event_json FROM ({columns})"
    return f"INSERT INTO events ({', '.join(COLUMNS)})\nSELECT {row_select()}\nFROM ({rows})"


ROW = {
    "event_id": "toUUID(event_id_s)",
    **{c: c for c in TYPED_COLUMNS if c != "event_id"},
    **{c: c for c in ("schema_version", "event_json", "topic", "partition", "offset")},
    **{c: c for c in ("prev_hash", "row_hash")},
    "raw_hex": "lower(hex(substring(event_json, 1, intDiv(length(event_json), 2))))",
}
"""Each column of a ledger row, as ``synthetic_insert`` makes it. The hashes are not a
chain and ``raw_hex`` is no producer's message (ClickHouse cannot write Avro in a query):
half the event's JSON, about a real message's length (Avro has no field names), so the
column weighs on disk and in reads about as it does in a real ledger. Synthetic rows do
not pass ``verify``; they are for the queries."""


def row_select() -> str:
    """The final ``SELECT`` list: one expression per ``COLUMNS`` entry, in order. Raises
    ``ValueError`` naming the columns when the ledger's row layout and ``ROW`` differ."""
    missing = [c for c in COLUMNS if c not in ROW]
    unknown = [c for c in ROW if c not in COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"bench/_ledger_data.py ROW is out of step with handrail.ledger.rows.COLUMNS: "
            f"no expression for {missing}, expressions for unknown columns {unknown}"
        )
    return ",\n       ".join(ROW[c] if ROW[c] == c else f"{ROW[c]} AS {c}" for c in COLUMNS)
