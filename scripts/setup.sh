#!/usr/bin/env bash
# Install what fijirun needs on a Debian/Ubuntu machine, idempotently:
#   - Debian packages: libij-java (ImageJ 1.x), jython, xvfb, a JDK >= 11 if none (its javac
#     builds fijirun's small Java run guard once);
#   - the Python dependencies into the project virtualenv .venv (editable install).
# As root it runs apt-get itself; otherwise it prints the exact command and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/share/java/ij.jar ] || need+=(libij-java)
[ -f /usr/share/java/jython.jar ] || need+=(jython)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb xauth)
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  need+=(default-jdk-headless)
else
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ -n "$major" ] && [ "$major" -lt 11 ]; then need+=(default-jdk-headless); fi
fi
if [ -n "${FIJIRUN_EXTRA_APT:-}" ]; then
  for p in $FIJIRUN_EXTRA_APT; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
fi

if [ ${#need[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need[*]}"
    sh -c "$cmd" >/tmp/fijirun-apt.log 2>&1 || { tail -20 /tmp/fijirun-apt.log; exit 1; }
  else
    echo "setup: missing Debian packages: ${need[*]}. Run as root:"
    echo "  sudo sh -c '$cmd'"
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.fijirun-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -e ".[test,batch,report,fiji]"
  touch "$stamp"
fi
# build the Java run guard now rather than at the first run (needs ij.jar and javac)
.venv/bin/python -c "from fijirun.backends.guard import guard_classes; from fijirun.jars import find_ij_jar; guard_classes(find_ij_jar())" \
  || { echo "setup: building fijirun's Java run guard failed"; exit 1; }
