"""What people decide on the control channel: ``handrail resume`` lifts a halt;
``handrail approvals list | approve | deny`` answers the agents waiting for a human.
Every decision is recorded as an event (who, why) on the events topic and the control
channel; with no Kafka configured, in the spool and the control log (the embedded default).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from handrail.schemas.models import ApprovalDenied, ApprovalGranted, Payload, Resume
from handrail.settings import AgentIdentity, KafkaSettings, Settings

approvals_app = typer.Typer(help="Answer agents waiting for a human.", no_args_is_help=True)
console = Console()

Kafka = Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: settings).")]
By = Annotated[str, typer.Option(help="Who decides (recorded).")]
Reason = Annotated[str, typer.Option(help="Why (recorded).")]


def _settings(kafka: str | None) -> Settings:
    settings = Settings()
    if kafka is not None:
        settings.kafka = KafkaSettings(
            **{**settings.kafka.model_dump(), "bootstrap_servers": kafka}
        )
    settings.governance.file = None  # a person at the CLI is not an agent under rules
    return settings


def _publish(settings: Settings, by: str, payload: Payload, workflow_id: str | None = None,
             caused_by: str | None = None) -> None:  # fmt: skip
    """Record a person's decision and make sure it left this process."""
    from handrail.producers import Recorder  # noqa: PLC0415 - the SDK loads only here

    with Recorder(settings, AgentIdentity(name="handrail-cli", owner=by)) as rec:
        rec.record(payload, workflow_id=workflow_id, caused_by=caused_by)
        if settings.kafka.bootstrap_servers and not (rec.flush(10) and rec.stats().delivered):
            typer.echo("Kafka did not take the decision; it waits in the spool. Try again.",
                       err=True)  # fmt: skip
            raise typer.Exit(1)


def resume(
    agent: Annotated[str, typer.Argument(help="The halted agent.")],
    by: By,
    reason: Reason,
    operation: Annotated[str | None, typer.Option(help="Lift only this operation's halt.")] = None,
    kafka: Kafka = None,
) -> None:
    """Lift a halt: the agent's next authorize() is decided by its rules again."""
    scope = "operation" if operation else "agent"
    lift = Resume(scope=scope, target_agent=agent, operation_id=operation, reason=reason, by=by)
    _publish(_settings(kafka), by, lift)
    what = f"operation {operation} of {agent}" if operation else agent
    typer.echo(f"resumed {what} (by {by}: {reason})")


def _age(since: datetime, until: datetime | None = None) -> str:
    seconds = max(0, int(((until or datetime.now(UTC)) - since).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@approvals_app.command("list")
def list_(
    kafka: Kafka = None,
    all_: Annotated[bool, typer.Option("--all", help="Also the decided ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Approvals waiting for a human, oldest first, with their age."""
    from handrail.producers.control_follower import read_control  # noqa: PLC0415

    state = read_control(_settings(kafka))
    shown = sorted(state.approvals.values(), key=lambda a: a.requested_at) if all_ else (
        state.pending())  # fmt: skip
    if as_json:
        for a in shown:
            typer.echo(json.dumps(dataclasses.asdict(a), default=str))
        return
    console.print(f"[bold]{len(shown)} approvals" + ("" if all_ else " pending") + "[/]")
    now = datetime.now(UTC)
    for a in shown:
        on = f" on {a.resource}" if a.resource else ""
        cost = f" costing ${a.cost_usd:,.2f}" if a.cost_usd is not None else ""
        status = f"[yellow]waiting {_age(a.requested_at)}[/]"
        if a.state != "pending":
            status = f"{a.state} by {a.decided_by}: {a.decision_reason or '-'}"
        elif a.expires_at is not None:
            status += f", expires in {_age(now, a.expires_at)}"
        console.print(f"[bold cyan]{a.approval_id}[/]  {a.agent}: {a.action}{on}{cost}  {status}",
                      highlight=False)  # fmt: skip
        console.print(f"    why: {a.reason}\n    workflow: {a.workflow_id}", highlight=False)


def _decide(approval_id: str, by: str, reason: str, kafka: str | None, grant: bool) -> None:
    from handrail.producers.control_follower import read_control  # noqa: PLC0415

    settings = _settings(kafka)
    request = read_control(settings).approvals.get(approval_id)
    if request is None:
        typer.echo(f"no approval {approval_id} was requested (see `handrail approvals list`)",
                   err=True)  # fmt: skip
        raise typer.Exit(2)
    if request.state != "pending":
        typer.echo(f"approval {approval_id} is already {request.state} "
                   f"(by {request.decided_by}: {request.decision_reason})", err=True)  # fmt: skip
        raise typer.Exit(2)
    payload = (ApprovalGranted if grant else ApprovalDenied)(
        approval_id=approval_id, approver=by, reason=reason
    )
    _publish(settings, by, payload, request.workflow_id, request.event_id)
    verb = "approved" if grant else "denied"
    typer.echo(f"{verb} {request.action} for {request.agent} ({approval_id}; by {by}: {reason})")


@approvals_app.command("approve")
def approve(
    approval_id: Annotated[str, typer.Argument(help="From `handrail approvals list`.")],
    by: By,
    reason: Reason,
    kafka: Kafka = None,
) -> None:
    """Approve: the waiting agent proceeds within a second."""
    _decide(approval_id, by, reason, kafka, grant=True)


@approvals_app.command("deny")
def deny(
    approval_id: Annotated[str, typer.Argument(help="From `handrail approvals list`.")],
    by: By,
    reason: Reason,
    kafka: Kafka = None,
) -> None:
    """Deny: the waiting agent gets ActionBlockedError within a second."""
    _decide(approval_id, by, reason, kafka, grant=False)
