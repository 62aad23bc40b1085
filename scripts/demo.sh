#!/usr/bin/env bash
# The demo: set up if needed, then run the output-saving activity on a course image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the course image ships with fijirun (fijirun.data); FIJIRUN_DATA names another folder
exec .venv/bin/python examples/demo_output_saving.py ${FIJIRUN_DATA:+--data-dir "$FIJIRUN_DATA"} --output demo-output "$@"
