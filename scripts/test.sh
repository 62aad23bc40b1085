#!/usr/bin/env bash
# The test suite: set up if needed, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
FIJIRUN_EXTRA_APT="${FIJIRUN_EXTRA_APT:-chromium}" bash scripts/setup.sh
# lint first (a second): pyflakes, pycodestyle, bugbear, import order (pyproject.toml [tool.ruff])
.venv/bin/python -m ruff check --quiet . || { echo "test: ruff found problems (ruff check .)"; exit 1; }
# and types (pyproject.toml [tool.mypy]: src/fijirun)
.venv/bin/python -m mypy --no-error-summary >/dev/null || { .venv/bin/python -m mypy; echo "test: mypy found problems"; exit 1; }
exec .venv/bin/python -m pytest "$@"
