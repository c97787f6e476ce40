#!/usr/bin/env bash
# Run the whole test suite: lint, unit, integration (real PostgreSQL, Redis, NATS JetStream) and end-to-end
# (real Kamailio + SIPp). Installs what is missing and starts PostgreSQL/Redis/NATS when none answer.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k money
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AKIRA_ROOT"

export AKIRA_TEST_DATABASE_URL=${AKIRA_TEST_DATABASE_URL:-postgresql://akira:akira@127.0.0.1:5432/postgres}
export AKIRA_TEST_REDIS_URL=${AKIRA_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export AKIRA_TEST_NATS_URL=${AKIRA_TEST_NATS_URL:-nats://127.0.0.1:4222}
mkdir -p "$AKIRA_RUN_DIR"

ensure_packages
ensure_venv
ensure_postgres "$AKIRA_TEST_DATABASE_URL"
ensure_database_role "$AKIRA_TEST_DATABASE_URL"
ensure_redis "$AKIRA_TEST_REDIS_URL"
ensure_nats "$AKIRA_TEST_NATS_URL"

say "lint (ruff)"
"$VENV/bin/ruff" check kemi admin tests bench
say "tests"
# -n 4: end-to-end scenarios mostly wait on SIPp and timers, so four run side by side even on
# two cores; each xdist worker has its own Kamailio, ports and Redis database (tests/conftest.py).
exec "$VENV/bin/pytest" -v -n "${AKIRA_TEST_WORKERS:-4}" "$@"
