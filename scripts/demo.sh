#!/usr/bin/env bash
# The demo: set up if needed, then run the output-saving activity on a course image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${FIJIRUN_DATA:-../shared/data}
exec .venv/bin/python examples/demo_output_saving.py --data-dir "$DATA" --output demo-output "$@"
