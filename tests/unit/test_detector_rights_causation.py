"""Rejected work is judged by causation: an execution acts on the handoff nearest up its
``caused_by`` chain that handed work to its agent. An agent that rejected the first of five
handoffs and accepted the other four was paged four times, once for each action it then
ran on accepted work; the reject-then-re-offer flow of docs/sdk.md paged someone."""

from __future__ import annotations

from pathlib import Path

import orjson

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors.rights import _MEMORY, DecisionRights, _short
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.support.observations import T0, Pipeline, obs

ACTION = "email.send"  # no verdict required: only the handoff is judged
SUMMARY = "analyst executed email.send after rejecting the handoff it acts on"


def offer(n: int, at: float = T0) -> Observation:
    return obs("handoff_offered", at=at, agent="summarizer", owner="team-s", seq=n,
               event_id=f"o{n}", handoff_id=f"h{n}", to_agent="analyst")  # fmt: skip


def answer(kind: str, n: int, at: float, cause: str | None = None) -> Observation:
    return obs(f"handoff_{kind}", at=at, event_id=f"{kind[0]}{n}", cause=cause or f"o{n}",
               handoff_id=f"h{n}", from_agent="summarizer")  # fmt: skip


def acts(name: str, at: float, cause: str | None) -> list[Observation]:
    """A decision caused by ``cause``, then the action it decided (a two-link chain)."""
    return [
        obs("decision_made", at=at, event_id=f"d-{name}", cause=cause, action=ACTION),
        obs("action_executed", at=at + 0.1, event_id=name, cause=f"d-{name}", action=ACTION),
    ]


def run(events: list[Observation]) -> list[Finding]:
    """Through ``routes`` and JSON between every step, as the worker does; then a tick past
    every grace period."""
    pipeline = Pipeline()
    found = []
    for event in events:
        found += pipeline.observe(event, event.time)
    return found + pipeline.tick(T0 + 3_600)


def summaries(found: list[Finding]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.summary, f.evidence) for f in found if f.detector == "rights"]


def five_handoffs(act_on_rejected: bool = False) -> list[Observation]:
    events = [offer(n) for n in range(1, 6)]
    events.append(answer("rejected", 1, T0 + 1))
    events += [answer("accepted", n, T0 + n) for n in range(2, 6)]
    for n in range(2, 6):
        events += acts(f"x{n}", T0 + 10 + n, cause=f"a{n}")
    if act_on_rejected:
        events += acts("x1", T0 + 20, cause="r1")
    return events


def test_actions_on_the_four_accepted_of_five_handoffs_page_nobody() -> None:
    assert summaries(run(five_handoffs())) == []


def test_an_action_on_the_rejected_handoff_still_pages() -> None:
    assert summaries(run(five_handoffs(act_on_rejected=True))) == [(SUMMARY, ("x1", "r1"))]


def test_an_action_in_the_rejected_offers_scope_pages() -> None:
    """Rejected outside the handoff's scope, then acted on inside it: the chain reaches the
    offer, and the agent's answer to that offer was a rejection."""
    events = [offer(1), answer("rejected", 1, T0 + 1), *acts("x1", T0 + 5, cause="o1")]
    assert summaries(run(events)) == [(SUMMARY, ("x1", "r1"))]


def test_acting_on_an_offer_it_accepted_after_rejecting_another_pages_nobody() -> None:
    events = [offer(1), offer(2), answer("rejected", 1, T0 + 1), answer("accepted", 2, T0 + 2)]
    assert summaries(run([*events, *acts("x2", T0 + 5, cause="o2")])) == []


def test_an_older_accepted_handoff_stays_accepted_after_a_later_rejection() -> None:
    """Accept h2, then reject h3, then act on h2: judged by h2, not by the latest answer."""
    events = [offer(2), offer(3), answer("accepted", 2, T0 + 1), answer("rejected", 3, T0 + 2)]
    assert summaries(run([*events, *acts("x2", T0 + 5, cause="a2")])) == []
    events.append(answer("accepted", 4, T0 + 3))  # and a later acceptance clears nothing
    assert summaries(run([*events, *acts("x3", T0 + 5, cause="r3")])) == [(SUMMARY, ("x3", "r3"))]


def test_with_no_causation_the_latest_answer_decides() -> None:
    """An execution with no ``caused_by``: a rejection as its agent's latest answer still
    pages (B rejects, then writes anyway); a re-offer accepted since does not."""
    rejected = [offer(1), answer("rejected", 1, T0 + 1)]
    assert summaries(run([*rejected, *acts("x", T0 + 5, cause=None)])) == [(SUMMARY, ("x", "r1"))]
    again = [*rejected, offer(2, T0 + 2), answer("accepted", 2, T0 + 3)]
    assert summaries(run([*again, *acts("x", T0 + 5, cause=None)])) == []


def test_a_handoff_to_another_agent_on_the_chain_is_passed_by() -> None:
    """The analyst rejected h1, then handed part of it on to a writer: its action caused by
    its own offer still acts on h1."""
    onward = obs("handoff_offered", at=T0 + 2, event_id="o9", cause="r1", handoff_id="h9",
                 to_agent="writer")  # fmt: skip
    events = [offer(1), answer("rejected", 1, T0 + 1), onward, *acts("x", T0 + 5, cause="o9")]
    assert summaries(run(events)) == [(SUMMARY, ("x", "r1"))]


def test_a_forged_causation_cycle_ends_the_walk() -> None:
    cycle = [
        offer(1), answer("rejected", 1, T0 + 1),
        obs("decision_made", at=T0 + 2, event_id="c1", cause="c2"),
        obs("decision_made", at=T0 + 2, event_id="c2", cause="c1"),
        obs("action_executed", at=T0 + 3, event_id="x", cause="c1", action=ACTION),
    ]  # fmt: skip
    assert summaries(run(cycle)) == [(SUMMARY, ("x", "r1"))]  # no handoff: latest answer


def test_links_are_kept_only_once_the_workflow_has_a_handoff_and_stay_bounded() -> None:
    detector, state = DecisionRights(DetectorRules()), {}
    detector.observe(state, obs("decision_made", event_id="d0", cause="root"), T0)
    assert state == {}  # a workflow with no handoff keeps nothing
    detector.observe(state, offer(1), T0)
    for n in range(_MEMORY + 10):
        detector.observe(state, obs("decision_made", event_id=f"d{n + 1}", cause=f"d{n}"), T0)
    assert len(state["parents"]) == _MEMORY
    assert _short("d1") not in state["parents"]  # the oldest went
    assert state["parents"][_short(f"d{_MEMORY + 10}")] == _short(f"d{_MEMORY + 9}")
    assert orjson.loads(orjson.dumps(state)) == state


def test_a_rejection_an_earlier_version_kept_is_still_judged() -> None:
    """Earlier versions kept ``[time, agent, event]`` per rejection, without links."""
    detector, state = DecisionRights(DetectorRules()), {}
    state.update(workflow="wf-1", last=T0, rejected=[[T0, "analyst", "r-old"]])
    detector.observe(state, obs("action_executed", at=T0 + 1, event_id="x", action=ACTION), T0)
    (found,) = detector.tick(state, T0 + 100)[1]
    assert found.evidence == ("x", "r-old")


# -- through the SDK: the reject-then-re-offer flow of docs/sdk.md, recorded ----------------------


def test_the_sdks_reject_then_reoffer_flow_pages_nobody(tmp_path: Path) -> None:
    """Recorded by two real recorders as docs/sdk.md shows (``receive`` scopes), read back
    from the spool and judged: the four actions on accepted work page nobody; an action
    run on the rejected handoff still pages."""
    settings = Settings(spool=SpoolSettings(dir=tmp_path / "spool"))
    sender = Recorder(settings, AgentIdentity(name="summarizer", owner="team-s"))
    receiver = Recorder(settings, AgentIdentity(name="analyst", owner="team-data"))
    with sender, receiver:
        with sender.workflow("wf-1841"):
            tickets = [sender.handoff_offered("analyst", f"part {n}", payload=n) for n in range(5)]
        with receiver.receive(tickets[0]):
            receiver.handoff_rejected(tickets[0], "no customer id")
        for ticket in tickets[1:]:
            with receiver.receive(ticket):
                receiver.handoff_accepted(ticket)
                receiver.decision(ACTION, "the summary says so")
                receiver.action_executed(ACTION)
        with receiver.receive(tickets[0]):
            wrong = receiver.action_executed(ACTION)  # on the work it rejected
    events = [Observation.from_record(r) for r in read_all(tmp_path / "spool")]
    start = min(e.time for e in events)
    shifted = [_at(e, T0 + e.time - start) for e in sorted(events, key=lambda e: e.time)]
    found = summaries(run(shifted))
    assert [(summary, evidence[0]) for summary, evidence in found] == [(SUMMARY, wrong.event_id)]


def _at(event: Observation, time: float) -> Observation:
    values = event.to_list()
    values[2] = time
    return Observation.from_list(values)
