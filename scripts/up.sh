#!/usr/bin/env bash
# Bring the whole platform up on this machine with demo data:
# Kamailio routing on 127.0.0.1:5060, the admin on http://127.0.0.1:8000, the CDR worker.
# Installs what is missing (Debian packages, .venv), uses the PostgreSQL and Redis that answer
# at AKIRA_DATABASE_URL / AKIRA_REDIS_URL or starts private ones. Stop with scripts/down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AKIRA_ROOT"

export AKIRA_DATABASE_URL=${AKIRA_DATABASE_URL:-postgresql://akira:akira@127.0.0.1:5432/akira}
export AKIRA_REDIS_URL=${AKIRA_REDIS_URL:-redis://127.0.0.1:6379/0}
export AKIRA_SPOOL_DIR=${AKIRA_SPOOL_DIR:-$AKIRA_RUN_DIR/spool}
# One snapshot directory for this host: the publisher writes it, Kamailio's sync keeps it
# current, `akira simulate` maps it.
export AKIRA_SNAPSHOT_DIR=${AKIRA_SNAPSHOT_DIR:-$AKIRA_RUN_DIR/snapshot}
export AKIRA_SIP_LISTEN=${AKIRA_SIP_LISTEN:-udp:127.0.0.1:5060}
mkdir -p "$AKIRA_RUN_DIR" "$AKIRA_SPOOL_DIR" "$AKIRA_SNAPSHOT_DIR"

ensure_packages
ensure_venv
ensure_postgres "$AKIRA_DATABASE_URL"
ensure_database_role "$AKIRA_DATABASE_URL"
ensure_redis "$AKIRA_REDIS_URL"
export AKIRA_BUS=${AKIRA_BUS:-redis}
if [ "$AKIRA_BUS" = nats ]; then
    export AKIRA_NATS_URL=${AKIRA_NATS_URL:-nats://127.0.0.1:4222}
    ensure_nats "$AKIRA_NATS_URL"
fi
akira=$VENV/bin/akira

[ -f "$AKIRA_RUN_DIR/secret_key" ] || "$VENV/bin/python" -c \
    "import secrets; print(secrets.token_urlsafe(48))" > "$AKIRA_RUN_DIR/secret_key"
export AKIRA_SECRET_KEY=$(cat "$AKIRA_RUN_DIR/secret_key")

say "database schema"
"$akira" migrate --create-database
say "demo data"
"$akira" demo
if [ ! -f "$AKIRA_RUN_DIR/admin-password" ]; then
    "$VENV/bin/python" -c "import secrets; print(secrets.token_urlsafe(12))" \
        > "$AKIRA_RUN_DIR/admin-password"
    "$akira" users create admin --role admin --password-stdin < "$AKIRA_RUN_DIR/admin-password"
fi
say "publishing the routing snapshot"
"$akira" publish --by quickstart --node-wait 0

# Restart what a previous `up` left running, so code changes take effect.
for name in admin worker kamailio; do stop_process "$name"; done
ensure_sip_port_free "$AKIRA_SIP_LISTEN"

say "starting Kamailio on ${AKIRA_SIP_LISTEN#udp:}"
AKIRA_KAMAILIO_DIR=$AKIRA_RUN_DIR/kamailio nohup "$AKIRA_ROOT/scripts/kamailio-run.sh" \
    > "$AKIRA_RUN_DIR/kamailio.log" 2>&1 &
echo $! > "$AKIRA_RUN_DIR/kamailio.pid"
say "starting the CDR worker"
nohup "$akira" worker > "$AKIRA_RUN_DIR/worker.log" 2>&1 &
echo $! > "$AKIRA_RUN_DIR/worker.pid"
say "starting the admin on http://127.0.0.1:8000"
nohup "$akira" serve > "$AKIRA_RUN_DIR/admin.log" 2>&1 &
echo $! > "$AKIRA_RUN_DIR/admin.pid"

for _ in $(seq 100); do
    kamcmd -s "unix:$AKIRA_RUN_DIR/kamailio/ctl" core.uptime >/dev/null 2>&1 && break
    kill -0 "$(cat "$AKIRA_RUN_DIR/kamailio.pid")" 2>/dev/null \
        || die "Kamailio stopped; see $AKIRA_RUN_DIR/kamailio.log"
    sleep 0.2
done
"$VENV/bin/python" - <<'PY' || die "the admin did not answer; see $AKIRA_RUN_DIR/admin.log"
import time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=1)
        break
    except Exception:
        time.sleep(0.2)
else:
    raise SystemExit(1)
PY

cat <<TXT

Akira is up.
  SIP (Kamailio + KEMI engine)  ${AKIRA_SIP_LISTEN}
  admin                         http://127.0.0.1:8000   user: admin   password: $(cat "$AKIRA_RUN_DIR/admin-password")
  logs                          $AKIRA_RUN_DIR/{kamailio,worker,admin}.log
  stop                          scripts/down.sh

Place a test call with SIPp (three vendor stand-ins answer on 127.0.0.1:5081-5083 and the
customer Acme calls from 127.0.0.2; for London, 4420..., Alpha on 5081 is the cheapest):
  scripts/test-call.sh 442071234567
See how the engine decides it:
  .venv/bin/akira simulate --src-ip 127.0.0.2 --number 442071234567
A few seconds later its CDR is in PostgreSQL:
  psql "$AKIRA_DATABASE_URL" -c 'SELECT call_id, attempt, terminator_id, sip_code, duration, customer_price, vendor_cost FROM cdrs'
TXT
