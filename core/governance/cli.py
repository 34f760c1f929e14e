"""``handrail resume``: lift a halt the processors put on an agent or one operation."""

from __future__ import annotations

from typing import Annotated

import typer

from handrail.settings import AgentIdentity, KafkaSettings, Settings


def resume(
    agent: Annotated[str, typer.Argument(help="The halted agent.")],
    by: Annotated[str, typer.Option(help="Who lifts the halt (recorded).")],
    reason: Annotated[str, typer.Option(help="Why it is safe again (recorded).")],
    operation: Annotated[str | None, typer.Option(help="Lift only this operation's halt.")] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
) -> None:
    """Lift a halt: the agent's next authorize() is decided by its rules again."""
    from handrail.producers import Recorder  # noqa: PLC0415 - the SDK loads only here
    from handrail.schemas.models import Resume  # noqa: PLC0415

    settings = Settings()
    servers = kafka or settings.kafka.bootstrap_servers
    if not servers:
        raise typer.BadParameter("resume needs Kafka: pass --kafka or set "
                                 "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS")  # fmt: skip
    settings.kafka = KafkaSettings(**{
        **settings.kafka.model_dump(), "bootstrap_servers": servers,
        "events_topic": settings.processors.control_topic,
    })  # fmt: skip
    settings.governance.file = None  # the CLI is not an agent under rules
    scope = "operation" if operation else "agent"
    with Recorder(settings, AgentIdentity(name="handrail-cli", owner=by)) as rec:
        rec.record(Resume(scope=scope, target_agent=agent, operation_id=operation,
                          reason=reason, by=by))  # fmt: skip
        rec.flush(10)
        delivered = rec.stats().delivered
    if not delivered:
        typer.echo("Kafka did not take the resume; it waits in the spool. Try again.", err=True)
        raise typer.Exit(1)
    what = f"operation {operation} of {agent}" if operation else agent
    typer.echo(f"resumed {what} (by {by}: {reason})")
