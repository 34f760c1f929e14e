#!/usr/bin/env bash
# Install everything into .venv and run the whole test suite: lint, types, the layers and
# the declared dependencies, unit, integration (a real Kafka broker from Maven Central;
# needs Java 17 and Maven), the console in a real browser (Debian's chromium, installed
# here when missing and run as root; otherwise `apt-get install chromium` first).
# Under CI=true a broker that cannot start fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
# The console's browser tests drive Debian's chromium (Playwright downloads no browser).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy -p handrail
.venv/bin/lint-imports --no-cache  # the layers in pyproject.toml ([tool.importlinter])
.venv/bin/deptry .                 # every import declared ([tool.deptry])
exec .venv/bin/python -m pytest "$@"
