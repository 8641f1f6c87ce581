#!/usr/bin/env bash
# Installs everything, then runs lint and the whole test suite on SQLite and on the local PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Debian packages the tests need, installed when missing: Chromium for the browser tests (never a downloaded
# browser), dovecot-imapd for the IMAP polling tests (started by the tests with a throw-away config on a free
# port of 127.0.0.1, never as a system service), libmagic1 for sniffing attachment types.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || missing+=(libmagic1)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "warning: could not install ${missing[*]}; the tests that need them will be skipped" >&2
fi
PG_URL=${ITSM_PG_TEST_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/itsm_test}

start_postgres() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='itsm_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE itsm_test"
}

# Redis for the task-queue-on-Redis tests (they skip when it cannot be reached): started when installed and down.
if command -v redis-server >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save '' >/dev/null || true
fi

.venv/bin/ruff check .
# The import contracts in .importlinter (layers, forbidden imports, independent features).
.venv/bin/lint-imports
echo "== tests on SQLite =="
.venv/bin/pytest -q -p no:cacheprovider "$@"
echo "== database tests again on PostgreSQL =="
start_postgres
ITSM_TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider -m db "$@"
