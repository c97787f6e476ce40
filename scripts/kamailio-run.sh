#!/usr/bin/env bash
# Run Kamailio with Akira's KEMI engine in the foreground, logging to stderr.
# Used by scripts/up.sh (in the background) and by the e2e tests; stop it with SIGTERM.
#
# Environment (defaults in brackets):
#   AKIRA_SIP_LISTEN       [udp:127.0.0.1:5060]   Kamailio's listen socket
#   AKIRA_SIP_WORKERS      [4]                    UDP worker processes
#   AKIRA_KAMAILIO_DIR     [$AKIRA_RUN_DIR/kamailio]  pid file, ctl socket
#   AKIRA_SHM_MB / AKIRA_PKG_MB  [256 / 16]       shared / per-process memory
#   AKIRA_SHM_ALLOCATOR    [tlsf]                 shared-memory allocator (-x); "default" keeps
#                                                 Debian's q_malloc with debugging, ~3x the CPU
#                                                 per call (docs/BENCHMARKS.md)
#   AKIRA_FLOOD_REQUESTS / AKIRA_FLOOD_SECONDS  [30 / 2]  pike's flood limit per source IP
#   AKIRA_PROBE_SECONDS    [10]                   OPTIONS probe interval of vendor gateways
#   AKIRA_AUTH_SECRET      [akira-change-me]      keys digest nonces (share it across nodes)
#   AKIRA_RPC_SOCKET       [$AKIRA_KAMAILIO_DIR/rpc.sock]  JSON-RPC datagram socket (a unix path,
#                                                 or udp:IP:PORT on a management address); the
#                                                 node announces it in akira:nodes for the admin
#   AKIRA_REDIS_URL, AKIRA_BUS, AKIRA_NATS_URL, AKIRA_SPOOL_DIR, AKIRA_SNAPSHOT_DIR, AKIRA_NODE,
#   AKIRA_SNAPSHOT_CHECK_INTERVAL, AKIRA_REDIS_TIMEOUT, AKIRA_TELL_UNKNOWN_SOURCES,
#   AKIRA_SHED_QUEUE_HIGH/LOW, AKIRA_VENV
#                                                 passed to the engine (docs/configuration.md)
set -euo pipefail
allocator=${AKIRA_SHM_ALLOCATOR:-tlsf}
allocator_args=()
[ "$allocator" = default ] || allocator_args=(-x "$allocator")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${AKIRA_RUN_DIR:-$root/.run}
kamailio_dir=${AKIRA_KAMAILIO_DIR:-$run_dir/kamailio}
mkdir -p "$kamailio_dir"
redis_url=${AKIRA_REDIS_URL:-redis://127.0.0.1:6379/0}
# ndb_redis's server definition from the same URL (redis://host:port/db or unix://path?db=N)
redis_server=$(python3 - "$redis_url" <<'PY'
import sys
from urllib.parse import parse_qs, urlsplit
url = urlsplit(sys.argv[1])
if url.scheme == "unix":
    db = parse_qs(url.query).get("db", ["0"])[0]
    print(f"name=akira;unix={url.path};db={db}")
else:
    db = url.path.lstrip("/") or "0"
    auth = f";pass={url.password}" if url.password else ""
    print(f"name=akira;addr={url.hostname or '127.0.0.1'};port={url.port or 6379};db={db}{auth}")
PY
)

# A clean environment: Kamailio embeds Debian's Python 3.11.2, and a pyenv or venv on PATH
# would make it load another interpreter's standard library (shared/notes/kamailio-kemi.md).
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    AKIRA_REDIS_URL="$redis_url" \
    AKIRA_BUS="${AKIRA_BUS:-redis}" \
    AKIRA_NATS_URL="${AKIRA_NATS_URL:-nats://127.0.0.1:4222}" \
    AKIRA_REDIS_TIMEOUT="${AKIRA_REDIS_TIMEOUT:-0.5}" \
    AKIRA_SPOOL_DIR="${AKIRA_SPOOL_DIR:-$run_dir/spool}" \
    AKIRA_SNAPSHOT_DIR="${AKIRA_SNAPSHOT_DIR:-$kamailio_dir/snapshot}" \
    AKIRA_SIP_LISTEN="${AKIRA_SIP_LISTEN:-udp:127.0.0.1:5060}" \
    AKIRA_TELL_UNKNOWN_SOURCES="${AKIRA_TELL_UNKNOWN_SOURCES:-0}" \
    AKIRA_AUTH_REALM="${AKIRA_AUTH_REALM:-akira}" \
    AKIRA_PROBE_SECONDS="${AKIRA_PROBE_SECONDS:-10}" \
    AKIRA_SLOTS_ALIVE_MS="${AKIRA_SLOTS_ALIVE_MS:-10000}" \
    AKIRA_NODE="${AKIRA_NODE:-$(hostname)}" \
    AKIRA_RPC_SOCKET="${AKIRA_RPC_SOCKET:-$kamailio_dir/rpc.sock}" \
    AKIRA_SNAPSHOT_CHECK_INTERVAL="${AKIRA_SNAPSHOT_CHECK_INTERVAL:-0.25}" \
    AKIRA_VENV="${AKIRA_VENV:-$root/.venv}" \
    ${AKIRA_SHED_QUEUE_HIGH:+AKIRA_SHED_QUEUE_HIGH=$AKIRA_SHED_QUEUE_HIGH} \
    ${AKIRA_SHED_QUEUE_LOW:+AKIRA_SHED_QUEUE_LOW=$AKIRA_SHED_QUEUE_LOW} \
    kamailio -f "$root/kamailio-cfg/kamailio.cfg" \
    -l "${AKIRA_SIP_LISTEN:-udp:127.0.0.1:5060}" \
    -Y "$kamailio_dir" -P "$kamailio_dir/kamailio.pid" -w "$kamailio_dir" \
    -A "KEMI_SCRIPT=\"$root/kemi/boot/akira_kemi.py\"" \
    -A "CTL_SOCKET=\"unix:$kamailio_dir/ctl\"" \
    -A "RPC_SOCKET=\"${AKIRA_RPC_SOCKET:-$kamailio_dir/rpc.sock}\"" \
    -A "WORKERS=${AKIRA_SIP_WORKERS:-4}" \
    -A "FLOOD_REQUESTS=${AKIRA_FLOOD_REQUESTS:-30}" -A "FLOOD_SECONDS=${AKIRA_FLOOD_SECONDS:-2}" \
    -A "REDIS_SERVER=\"$redis_server\"" \
    -A "AUTH_SECRET=\"${AKIRA_AUTH_SECRET:-akira-change-me}\"" \
    -m "${AKIRA_SHM_MB:-256}" -M "${AKIRA_PKG_MB:-16}" "${allocator_args[@]}" \
    -DD -E
