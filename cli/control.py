"""What people decide on the control channel: ``handrail resume`` lifts a halt;
``handrail approvals list | approve | deny`` answers the agents waiting for a human;
``handrail keys new`` makes the key pair a person signs with.
Every decision is signed with the person's private key (``--key FILE`` or
``HANDRAIL_SIGNING_KEY``) and recorded as an event (who, why, the signed text) on the
events topic and the control channel; with no Kafka configured, in the spool and the
control log (the embedded default). The governance file says who the key belongs to and
whether that person may decide; agents act only on decisions that verify.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from nacl.signing import SigningKey
from rich.console import Console

from handrail.control.decisions import DecisionRefusedError, on_approval, on_halt
from handrail.governance.authority import Authority
from handrail.governance.loader import GovernanceError, load
from handrail.governance.signing import (
    KEY_ENV,
    Decision,
    SigningError,
    generate,
    private_key,
    public_key_line,
    sign,
    write_private_key,
)
from handrail.settings import KafkaSettings, Settings

approvals_app = typer.Typer(help="Answer agents waiting for a human.", no_args_is_help=True)
keys_app = typer.Typer(help="Key pairs that sign decisions.", no_args_is_help=True)
console = Console()

Kafka = Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: settings).")]
By = Annotated[
    str | None, typer.Option(help="Who decides: must be the key's owner (default: the owner).")
]
Reason = Annotated[str, typer.Option(help="Why (recorded).")]
Key = Annotated[
    Path | None,
    typer.Option(help=f"Your private key file (mode 0600; default: ${KEY_ENV}).", dir_okay=False),
]
GovernanceFile = Annotated[
    Path | None,
    typer.Option("--governance", help="The governance file (default: HANDRAIL_GOVERNANCE__FILE)."),
]


def _settings(kafka: str | None) -> Settings:
    settings = Settings()
    if kafka is not None:
        settings.kafka = KafkaSettings(
            **{**settings.kafka.model_dump(), "bootstrap_servers": kafka}
        )
    return settings


Signer = tuple[str, SigningKey]
"""A person's name in the governance file, and their private key."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _authority(settings: Settings, file: Path | None) -> Authority:
    """The governance file's people and rights; the recorder the CLI records with is no agent
    under rules, so the settings' file is cleared afterwards."""
    file = file or settings.governance.file
    settings.governance.file = None  # a person at the CLI is not an agent under rules
    if file is None:
        raise _fail("the governance file says who may decide: give --governance FILE or set "
                    "HANDRAIL_GOVERNANCE__FILE")  # fmt: skip
    try:
        return Authority(load(file))
    except GovernanceError as exc:
        raise _fail(str(exc)) from None


def _signer(authority: Authority, key_file: Path | None, by: str | None) -> Signer:
    """Who the private key belongs to, as the governance file names them; ``--by``, when
    given, must be that person."""
    try:
        key = private_key(key_file)
    except SigningError as exc:
        raise _fail(str(exc)) from None
    public = key.verify_key
    owners = [name for name, held in authority.people_keys.items() if public in held]
    if not owners:
        raise _fail("this key belongs to nobody under `people` in the governance file "
                    "(`handrail keys new NAME` prints the line to add)")  # fmt: skip
    owner = owners[0]
    if by is not None and by != owner:
        raise _fail(f"--by {by} does not match the key, which is {owner}'s")
    return owner, key


def _publish(settings: Settings, decision: Decision, private: SigningKey) -> None:
    """Record a person's signed decision and make sure it left this process."""
    from handrail.producers.decisions import record_decision  # noqa: PLC0415 - the SDK here

    if not record_decision(settings, decision, sign(decision, private)):
        typer.echo("Kafka did not take the decision; it waits in the spool. Try again.",
                   err=True)  # fmt: skip
        raise typer.Exit(1)


def resume(
    agent: Annotated[str, typer.Argument(help="The halted agent.")],
    *,
    reason: Reason,
    by: By = None,
    operation: Annotated[str | None, typer.Option(help="Lift only this operation's halt.")] = None,
    key: Key = None,
    governance: GovernanceFile = None,
    kafka: Kafka = None,
) -> None:
    """Lift a halt, signed: the agent's next authorize() is decided by its rules again."""
    from handrail.control.follower import read_control  # noqa: PLC0415

    settings = _settings(kafka)
    authority = _authority(settings, governance)
    signer, private = _signer(authority, key, by)
    try:
        decision = on_halt(authority, read_control(settings, authority), agent, operation,
                           signer=signer, reason=reason)  # fmt: skip
    except DecisionRefusedError as exc:
        raise _fail(str(exc)) from None
    _publish(settings, decision, private)
    what = f"operation {operation} of {agent}" if operation else agent
    typer.echo(f"resumed {what} (by {signer}: {reason})")


def _age(since: datetime, until: datetime | None = None) -> str:
    seconds = max(0, int(((until or datetime.now(UTC)) - since).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@approvals_app.command("list")
def list_(
    kafka: Kafka = None,
    all_: Annotated[bool, typer.Option("--all", help="Also the decided ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    governance: GovernanceFile = None,
) -> None:
    """Approvals waiting for a human, oldest first, with their age."""
    from handrail.control.follower import read_control  # noqa: PLC0415

    settings = _settings(kafka)
    state = read_control(settings, _authority(settings, governance))
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


def _decide(approval_id: str, *, by: str | None, reason: str, key: Path | None,
            governance: Path | None, kafka: str | None, grant: bool) -> None:  # fmt: skip
    from handrail.control.follower import read_control  # noqa: PLC0415

    settings = _settings(kafka)
    authority = _authority(settings, governance)
    signer, private = _signer(authority, key, by)
    state = read_control(settings, authority)
    try:
        decision = on_approval(
            authority, state, approval_id, signer=signer, reason=reason, grant=grant
        )
    except DecisionRefusedError as exc:
        raise _fail(str(exc)) from None
    _publish(settings, decision, private)
    request = state.approvals[approval_id]
    verb = "approved" if grant else "denied"
    typer.echo(f"{verb} {request.action} for {request.agent} ({approval_id}; by {signer}: "
               f"{reason})")  # fmt: skip


@approvals_app.command("approve")
def approve(
    approval_id: Annotated[str, typer.Argument(help="From `handrail approvals list`.")],
    *,
    reason: Reason,
    by: By = None,
    key: Key = None,
    governance: GovernanceFile = None,
    kafka: Kafka = None,
) -> None:
    """Approve, signed: the waiting agent proceeds within a second."""
    _decide(
        approval_id, by=by, reason=reason, key=key, governance=governance, kafka=kafka, grant=True
    )


@approvals_app.command("deny")
def deny(
    approval_id: Annotated[str, typer.Argument(help="From `handrail approvals list`.")],
    *,
    reason: Reason,
    by: By = None,
    key: Key = None,
    governance: GovernanceFile = None,
    kafka: Kafka = None,
) -> None:
    """Deny, signed: the waiting agent gets ActionBlockedError within a second."""
    _decide(
        approval_id, by=by, reason=reason, key=key, governance=governance, kafka=kafka, grant=False
    )


@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="Whose key: the name under `people`.")],
    out: Annotated[
        Path | None, typer.Option(help="The private key file to create (default: NAME.key).")
    ] = None,
) -> None:
    """Make a key pair: the private key in a new file only you can read; prints the public
    key line for the governance file."""
    path = out or Path(f"{name}.key")
    key = generate()
    try:
        write_private_key(path, key)
    except SigningError as exc:
        raise _fail(str(exc)) from None
    line = public_key_line(key.verify_key, name)
    typer.echo(f"private key: {path} (mode 0600; keep it secret)", err=True)
    typer.echo(f"add to the governance file under `people`:\n  {name}: {{keys: ['{line}']}}",
               err=True)  # fmt: skip
    typer.echo(line)


@approvals_app.command("prove")
def prove(
    approval_id: Annotated[
        str | None, typer.Argument(help="One approval (default: every one in the ledger).")
    ] = None,
    *,
    governance: GovernanceFile = None,
) -> None:
    """Who approved what, from the ledger and the governance file's public keys alone:
    each decision's signature is checked, and that its signer held the right. Exits 1 when
    an approval has a decision that proves nothing."""
    from handrail.control.proof import PROOF_SQL  # noqa: PLC0415
    from handrail.control.proof import prove as prove_rows  # noqa: PLC0415
    from handrail.ledger.reader import open_reader  # noqa: PLC0415

    settings = _settings(None)
    authority = _authority(settings, governance)
    reader = open_reader(settings.ledger.dsn, settings.ledger.reads)
    try:
        rows = reader.query(PROOF_SQL, {"approval_id": approval_id or ""})
    finally:
        reader.close()
    proofs = prove_rows((r["event_json"] for r in rows), authority)
    if approval_id is not None and not proofs:
        raise _fail(f"no approval {approval_id} was requested in the ledger")
    for p in proofs:
        decided = f"{p.state} by {p.signer} (event {p.decision_event_id})" if p.signer else (
            "no proven decision")  # fmt: skip
        typer.echo(f"{p.approval_id}  {p.agent}: {p.action}  {decided}")
        for forged in p.refused:
            typer.echo(f"    REFUSED {forged.kind} {forged.event_id} (recorded by "
                       f"{forged.agent}): {forged.reason}")  # fmt: skip
    if any(p.refused for p in proofs):
        raise typer.Exit(1)
