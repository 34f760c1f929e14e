#!/usr/bin/env bash
# The main job on the embedded default: no Kafka, no Java. Installs handrail into .venv
# and runs `handrail demo` (its data, ledger included, goes to .handrail/demo).
# Extra arguments go to `handrail demo`, e.g. --kafka 127.0.0.1:9092.
# pip's output goes to .venv/install.log, shown only if the install fails: the demo's first
# screen is the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "installing handrail into $PWD/.venv (pip's log: .venv/install.log)"
if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
       .venv/bin/python -m pip install --quiet '.[server]'; } >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
fi
exec .venv/bin/handrail demo "$@"
