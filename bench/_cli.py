"""The benchmarks' command lines: every benchmark takes ``--quick``, a smoke run of its
whole code path at tiny sizes (its figures mean nothing), which CI runs so that a broken
benchmark fails the build (``tests/integration/test_bench_quick.py``)."""

from __future__ import annotations

import argparse
from typing import Any


def parse_args(parser: argparse.ArgumentParser, **quick: Any) -> argparse.Namespace:
    """``parser``'s arguments; with ``--quick`` the defaults are ``quick``'s (an argument
    given on the command line still wins)."""
    shown = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in quick.items())
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run, the figures meaningless: {shown}")  # fmt: skip
    if parser.parse_args().quick:
        parser.set_defaults(**quick)
    return parser.parse_args()
