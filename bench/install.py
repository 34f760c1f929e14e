"""What an agent installs: ``pip install handrail`` (no extras) into a fresh venv.

    python -m bench.install                    # from PyPI (the repository itself from its path)
    python -m bench.install --wheels DIR       # offline: only the wheels in DIR
    python -m bench.install --runs 15 --json bench/results/install.json
    python -m bench.install --quick            # one interpreter timed: a smoke run

Prints the venv's site-packages size (all of it, and without pip and setuptools, which
every venv has), its largest distributions, and the median of ``--runs`` fresh
interpreters' ``import handrail.producers`` (wall and CPU time, the interpreter's own start
excluded); fails if the server side (chdb, Faust, uvloop, ...) was installed.

Offline (no PyPI): make a wheelhouse once where PyPI is reachable, with the build
backend's own requirements, then point ``--wheels`` at it::

    python -m pip wheel -w wheels . 'setuptools>=77' wheel

Targets (issue 24): site-packages of the dependencies well under 50 MB;
``import handrail.producers`` under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench._cli import parse_args

REPO = Path(__file__).resolve().parent.parent
SERVER_SIDE = ("chdb", "clickhouse_connect", "faust", "mode", "aiokafka", "uvloop", "httpx")
"""Importable in the SDK's venv = the server side leaked into ``pip install handrail``."""
VENV_OWN = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources")
IMPORT_TIME = (
    "import time\n"
    "wall, cpu = time.perf_counter(), time.process_time()\n"
    "import handrail.producers\n"
    "print(time.perf_counter() - wall, time.process_time() - cpu)\n"
)


def make_sdk_venv(place: Path, wheels: Path | None = None) -> Path:
    """A fresh venv in ``place`` with this repository installed, no extras; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(place)], check=True)
    python = place / "bin" / "python"
    offline = ["--no-index", "--find-links", str(wheels)] if wheels else []
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *offline, str(REPO)],
        check=True,
    )  # fmt: skip
    return python


def site_packages(python: Path) -> Path:
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return Path(done.stdout.strip())


def sizes(site: Path) -> tuple[Counter[str], int]:
    """Bytes per top-level entry of site-packages (a package, its dist-info, a module), and
    the bytes of byte-code (``.pyc``, compiled by pip at install) outside the venv's own."""
    found: Counter[str] = Counter()
    byte_code = 0
    for entry in site.iterdir():
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        found[entry.name] = sum(p.lstat().st_size for p in files)
        if not entry.name.startswith(VENV_OWN):
            byte_code += sum(p.lstat().st_size for p in files if p.suffix == ".pyc")
    return found, byte_code


def server_side_present(python: Path) -> list[str]:
    """The server side's packages importable in the venv (none, for the SDK)."""
    code = f"import importlib.util as u; print(*[m for m in {SERVER_SIDE!r} if u.find_spec(m)])"
    done = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return done.stdout.split()


def import_times(python: Path, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``import handrail.producers`` in ``runs`` fresh interpreters."""
    times = []
    for _ in range(runs):
        done = subprocess.run([str(python), "-c", IMPORT_TIME], check=True, capture_output=True,
                              text=True, cwd=tempfile.gettempdir())  # fmt: skip
        wall, cpu = done.stdout.split()
        times.append((float(wall), float(cpu)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="Fresh interpreters timed.")
    parser.add_argument("--wheels", type=Path, help="Install offline from these wheels only.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parse_args(parser, runs=1)
    with tempfile.TemporaryDirectory(prefix="handrail-sdk-") as tmp:
        python = make_sdk_venv(Path(tmp) / "venv", args.wheels)
        site = site_packages(python)
        by_entry, byte_code = sizes(site)
        leaked = server_side_present(python)
        times = import_times(python, args.runs)
    total = sum(by_entry.values())
    own = sum(n for e, n in by_entry.items() if e.startswith(VENV_OWN))
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    print(f"site-packages: {total / 1e6:.1f} MB; without pip and setuptools: "
          f"{(total - own) / 1e6:.1f} MB, of which {byte_code / 1e6:.1f} MB byte-code")  # fmt: skip
    for entry, n in by_entry.most_common(12):
        print(f"  {n / 1e6:7.1f} MB  {entry}")
    print(f"import handrail.producers, median of {args.runs}: wall {wall * 1000:.0f} ms, "
          f"CPU {cpu * 1000:.0f} ms (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    if args.json:
        figures = {"site_packages_bytes": total, "dependencies_bytes": total - own,
                   "byte_code_bytes": byte_code,
                   "import_wall_s": wall, "import_cpu_s": cpu, "runs": args.runs,
                   "server_side": leaked}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))
    if leaked:
        raise SystemExit(f"the SDK's install holds the server side: {', '.join(leaked)}")


if __name__ == "__main__":
    main()
