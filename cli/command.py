"""The ``handrail`` console script.

With the SDK alone (``pip install handrail``) it says which extra to install instead of
failing on an import; so does a command whose extra is missing (``handrail[server]``:
the ledger, the pipeline, the processors).
"""

from __future__ import annotations

import sys

EXTRA_MODULES = frozenset({
    "typer", "rich", "click", "cryptography",  # handrail[cli]
    "chdb", "clickhouse_connect", "faust", "mode", "aiokafka", "uvloop", "httpx",  # [server]
    "aiohttp", "opentelemetry", "google", "genai_prices",  # [server]: the OTLP receiver
    "jinja2",  # [server]: the console
})  # fmt: skip
"""What the extras install, by import name (tests/unit/test_layers.py checks it against
pyproject.toml): any other missing module is a bug, and shows as one."""
CLI_EXTRAS = (
    "install handrail[cli] for keys, approvals, resume and spool "
    "(pip install 'handrail[cli]'), or handrail[server] for everything"
)


def main() -> None:
    """Run the ``handrail`` command line."""
    try:
        from handrail.cli.app import app  # noqa: PLC0415 - typer and rich are an extra
    except ModuleNotFoundError as exc:
        if not _from_an_extra(exc):
            raise
        sys.stderr.write(f"handrail: the command line needs {exc.name}: {CLI_EXTRAS}\n")
        raise SystemExit(2) from None
    try:
        app()
    except ModuleNotFoundError as exc:
        if not _from_an_extra(exc):
            raise
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
        sys.stderr.write(
            f"handrail {command}: needs {exc.name}, which is not installed: "
            "install handrail[server] (pip install 'handrail[server]')\n"
        )
        raise SystemExit(2) from None


def _from_an_extra(exc: ModuleNotFoundError) -> bool:
    return exc.name is not None and exc.name.partition(".")[0] in EXTRA_MODULES
