"""Commands of ``handrail`` whose code loads only when they run.

``handrail --help`` and the light commands (keys, approvals, resume, spool) then import
neither the ledger's engine, nor the embedded pipeline, nor Faust; and a command whose
extra is not installed fails in ``handrail.cli.command``, which names the extra.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer carries its own click
    from typer._click.core import Command, Context


class LazyCommand(TyperCommand):
    """A command known by name and help until it runs: ``target`` is ``module:attribute``
    naming a ``typer.Typer`` (a group of commands) or a command function."""

    def __init__(self, name: str, target: str, help: str) -> None:
        super().__init__(name, help=help, add_help_option=False)
        self.target = target

    def load(self) -> Command:
        """The real command (importing its module)."""
        module, _, attribute = self.target.partition(":")
        found = getattr(import_module(module), attribute)
        if isinstance(found, typer.Typer):  # a group, even of one command
            return typer.main.get_group(found)
        single = typer.Typer(rich_markup_mode=None, add_completion=False)  # as handrail.cli.app
        single.command(self.name)(found)
        return typer.main.get_command(single)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        """The real command's context: it parses the arguments and runs."""
        return self.load().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """The ``handrail`` group: its typer commands, then the lazy ones of ``LAZY``."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY:
            return LazyCommand(cmd_name, *LAZY[cmd_name])
        return super().get_command(ctx, cmd_name)


LAZY: dict[str, tuple[str, str]] = {
    "explain": (
        "handrail.cli.ledger:explain_command",
        "Rebuild the decision path that led to an event (or a whole workflow).",
    ),
    "sql": (
        "handrail.cli.ledger:sql_command",
        "Run a read-only SQL query on the ledger, with query parameters (never string-built).",
    ),
    "run": (
        "handrail.cli.run:run",
        "Run handrail until Ctrl-C: agents' events into the ledger, detectors, alerts, halts.",
    ),
    "ledger": ("handrail.cli.ledger:ledger_app", "The decision ledger (ClickHouse)."),
    "sink": ("handrail.cli.ledger:sink_app", "The sink from Kafka into the ledger."),
    "processors": ("handrail.cli.processors:processors_app", "Detect silent failures as a stream."),
    "otlp": ("handrail.cli.otlp:otlp_app", "Receive OpenTelemetry traces (OTLP/HTTP)."),
    "console": (
        "handrail.cli.console:console",
        "Serve the web console: approvals, alerts, halts, decision paths, agents, the ledger.",
    ),
}
"""Name -> (``module:attribute``, the help line ``handrail --help`` shows)."""
