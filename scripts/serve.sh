#!/usr/bin/env bash
# Installs everything, loads the demo data into the SQLite default and serves the API on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/itsm-ai serve --demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
