"""The broker's jars: resolved from Maven Central by ``mvn`` and ``scripts/kafka/pom.xml``.

The resolved classpath is cached (keyed by the pom's hash) so only the first run pays for Maven.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from local_kafka.errors import BrokerError

POM_PATH = Path(__file__).resolve().parents[1] / "kafka" / "pom.xml"

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def default_cache_dir() -> Path:
    """Where the resolved classpath is cached: ``$XDG_CACHE_HOME/handrail/kafka``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "handrail" / "kafka"


def _mvn_executable() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise BrokerError("`mvn` is not on PATH: install Maven to resolve the Kafka jars")
    return found


def resolve_classpath(cache_dir: Path | None = None, *, pom: Path = POM_PATH) -> str:
    """Return the broker's Java classpath, resolving it with ``mvn`` on first use.

    The result is cached in ``cache_dir`` under a name keyed by the pom's SHA-256, so editing
    the pom re-resolves; a cached classpath whose jars have vanished is resolved again too.
    """
    cache = (cache_dir or default_cache_dir()).resolve()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    cached = cache / f"classpath-{digest}.txt"
    if cached.is_file():
        classpath = cached.read_text(encoding="utf-8").strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"classpath-{digest}.{os.getpid()}.tmp"
    cmd = [
        _mvn_executable(),
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={partial}",
    ]
    shown = " ".join(cmd)
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"`{shown}` timed out after {exc.timeout}s") from exc
    classpath = partial.read_text(encoding="utf-8").strip() if partial.is_file() else ""
    if done.returncode != 0 or not classpath:
        partial.unlink(missing_ok=True)
        output = _ANSI_ESCAPE.sub("", done.stdout + done.stderr).strip()
        raise BrokerError(
            f"resolving the Kafka classpath failed (`{shown}` exited "
            f"{done.returncode}):\n{output[-8000:]}"
        )
    os.replace(partial, cached)
    return classpath
