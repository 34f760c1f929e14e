-- Named views for forensics (docs/forensics.md). Plain views: nothing is stored, each is
-- computed from events and the rollups when queried, so it is never stale. Views keep no
-- row order: put ORDER BY in the query that reads them.

-- decision_path: the columns an auditor reads to follow a workflow, one row per event.
-- Read it as: WHERE workflow_id = ... ORDER BY time, sequence.
CREATE VIEW IF NOT EXISTS decision_path AS
SELECT workflow_id, time, sequence, agent, type, action, resource, reason,
       checks_passed, checks_failed, effect, rule, approval_id, approval_state,
       handoff_from, handoff_to, cost_usd, event_id, causation_id
FROM events;

-- cost_by_agent: total cost and event count per agent, from the cost_by_agent_hour rollup.
-- The rollup is a SummingMergeTree (rows of one agent and hour merge eventually), so it
-- is always read with sum() and GROUP BY. It keeps hours, not instants: first_hour and
-- last_hour are the UTC hours of the agent's first and last event. Its cost is the
-- cost_usd column of every event; policy_verdict and approval_requested may carry an
-- estimated cost_usd, which the rollup counts as well.
CREATE VIEW IF NOT EXISTS cost_by_agent AS
SELECT agent, sum(cost_usd) AS cost_usd, sum(events) AS events,
       min(hour) AS first_hour, max(hour) AS last_hour
FROM cost_by_agent_hour
GROUP BY agent;

-- cost_by_workflow: what each workflow cost. cost_usd counts spend events only (money
-- actually spent); estimated_usd is what verdicts and approval requests estimated.
CREATE VIEW IF NOT EXISTS cost_by_workflow AS
SELECT workflow_id,
       sumIf(usd, type = 'spend') AS cost_usd,
       countIf(type = 'spend') AS spends,
       sumIf(usd, type != 'spend') AS estimated_usd,
       count() AS events,
       arraySort(groupUniqArray(toString(agent))) AS agents,
       min(time) AS first_time,
       max(time) AS last_time
-- renamed in a subquery: ClickHouse aliases are global, so a second sumIf(cost_usd, ...)
-- next to "... AS cost_usd" would read the alias (an aggregate inside an aggregate)
FROM (SELECT workflow_id, type, cost_usd AS usd, agent, time FROM events)
GROUP BY workflow_id;

-- handoff_outcomes_by_edge: per from -> to edge, from the handoff_outcomes rollup (a
-- SummingMergeTree: read with sum()). unanswered = offered - accepted - rejected (still
-- pending, or the answer was lost). rejection_rate = rejected / (accepted + rejected):
-- the share of answered handoffs the receiver refused, 0 when none was answered.
CREATE VIEW IF NOT EXISTS handoff_outcomes_by_edge AS
SELECT handoff_from, handoff_to,
       sum(offered) AS offered,
       sum(accepted) AS accepted,
       sum(rejected) AS rejected,
       toInt64(offered) - toInt64(accepted) - toInt64(rejected) AS unanswered,
       if(accepted + rejected = 0, 0, rejected / (accepted + rejected)) AS rejection_rate,
       min(day) AS first_day,
       max(day) AS last_day
FROM handoff_outcomes
GROUP BY handoff_from, handoff_to;

-- retries_per_operation: retry events per agent, action and operation (the payload's
-- operation_id, which the agent keeps across the attempts of one operation).
-- retries counts retry events; max_attempt is the highest attempt number seen (1 = the
-- first retry, i.e. the second try).
CREATE VIEW IF NOT EXISTS retries_per_operation AS
SELECT agent, action,
       JSONExtractString(event_json, 'payload', 'operation_id') AS operation_id,
       count() AS retries,
       max(JSONExtractUInt(event_json, 'payload', 'attempt')) AS max_attempt,
       min(time) AS first_retry,
       max(time) AS last_retry,
       arraySort(groupUniqArray(workflow_id)) AS workflows
FROM events
WHERE type = 'retry'
GROUP BY agent, action, operation_id;

-- policy_violations: one row per action_executed event that broke a rule, with its kind.
--
-- An execution E (workflow W, action A, time T) is *covered* by an approval when W holds
-- an approval_granted event G with G.time <= T (granted before it ran, not after) and
-- either the approval_requested event of G's approval_id in W named the action A, or E
-- cites G's approval_id in its own approval_id. Grants are matched within the workflow
-- only: an approval of another workflow never covers an execution.
--
-- violation is, in this order of precedence:
--   'executed_despite_deny'              W holds a policy_verdict for A with effect deny,
--                                        and E is not covered;
--   'executed_without_required_approval' W holds a policy_verdict for A with effect
--                                        needs_approval, and E is not covered;
--   'db_write_without_approval'          A starts with 'db.' (every executed action of the
--                                        db namespace counts as a write: the SDK has no
--                                        read/write flag) and W holds no approval_granted
--                                        at all at or before T, whatever it was for.
-- A verdict counts whenever it was recorded in W for A (before or after E) and in either
-- mode (a shadow verdict is a rule about to be enforced: its breaches are what
-- enforcement would block). Executions that break nothing are not listed.
-- rules and effects are the blocking verdicts' rules and effects (empty for db writes).
--
-- Built with two LEFT JOINs on aggregated sides (join_use_nulls = 0: a workflow with no
-- grant gets an empty array) and arrayExists over its grants: no correlated subquery and
-- no non-equi join, which older ClickHouse servers do not support.
CREATE VIEW IF NOT EXISTS policy_violations AS
WITH
    requests AS (
        SELECT workflow_id, approval_id, any(action) AS requested_action
        FROM events
        WHERE type = 'approval_requested'
        GROUP BY workflow_id, approval_id
    ),
    grants AS (
        SELECT g.workflow_id AS workflow_id,
               groupArray((g.approval_id, toString(r.requested_action), g.time)) AS granted
        FROM (
            SELECT workflow_id, approval_id, time FROM events WHERE type = 'approval_granted'
        ) AS g
        LEFT JOIN requests AS r
            ON g.workflow_id = r.workflow_id AND g.approval_id = r.approval_id
        GROUP BY g.workflow_id
    ),
    verdicts AS (
        SELECT workflow_id, toString(action) AS action,
               arraySort(groupUniqArray(toString(effect))) AS effects,
               arraySort(groupUniqArray(rule)) AS rules
        FROM events
        WHERE type = 'policy_verdict' AND effect IN ('needs_approval', 'deny')
        GROUP BY workflow_id, action
    ),
    executed AS (
        SELECT workflow_id, time, sequence, agent, toString(action) AS action, resource,
               approval_id, event_id
        FROM events
        WHERE type = 'action_executed'
    )
SELECT workflow_id, time, agent, action, resource, approval_id, violation, rules, effects,
       sequence, event_id
FROM (
    SELECT e.workflow_id AS workflow_id, e.time AS time, e.agent AS agent,
           e.action AS action, e.resource AS resource, e.approval_id AS approval_id,
           e.sequence AS sequence, e.event_id AS event_id, v.rules AS rules,
           v.effects AS effects,
           arrayExists(
               x -> x.3 <= e.time
                    AND (x.2 = e.action OR (e.approval_id != '' AND x.1 = e.approval_id)),
               g.granted
           ) AS covered,
           arrayExists(x -> x.3 <= e.time, g.granted) AS any_grant_before,
           multiIf(
               has(v.effects, 'deny') AND NOT covered, 'executed_despite_deny',
               has(v.effects, 'needs_approval') AND NOT covered,
                   'executed_without_required_approval',
               startsWith(e.action, 'db.') AND NOT any_grant_before, 'db_write_without_approval',
               ''
           ) AS violation
    FROM executed AS e
    LEFT JOIN verdicts AS v ON e.workflow_id = v.workflow_id AND e.action = v.action
    LEFT JOIN grants AS g ON e.workflow_id = g.workflow_id
)
WHERE violation != '';
