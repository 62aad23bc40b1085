#!/usr/bin/env bash
# The test suite: set up if needed, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
FIJIRUN_EXTRA_APT="${FIJIRUN_EXTRA_APT:-chromium}" bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
