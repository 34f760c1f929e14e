#!/usr/bin/env bash
# The main job on the embedded default: no Kafka, no Java. Installs handrail into .venv
# and runs `handrail demo` (its data, ledger included, goes to .handrail/demo).
# Extra arguments go to `handrail demo`, e.g. --kafka 127.0.0.1:9092.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet '.[server]'
exec .venv/bin/handrail demo "$@"
