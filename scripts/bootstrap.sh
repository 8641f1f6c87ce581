#!/usr/bin/env bash
# Creates .venv and installs the project with everything it needs; does nothing when already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${ITSM_VENV:-.venv}
stamp="$VENV/.installed-$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import itsm_ai, torch, sentence_transformers, faiss, sklearn" >/dev/null
rm -f "$VENV"/.installed-*
touch "$stamp"
