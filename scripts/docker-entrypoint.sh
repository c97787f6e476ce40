#!/usr/bin/env bash
# Container roles: kamailio (SIP + engine), admin (web + API), worker (CDR rater), or any
# `akira` subcommand (migrate, publish, simulate, users ...).
set -euo pipefail
mkdir -p "${AKIRA_RUN_DIR:-/run/akira}" "${AKIRA_SPOOL_DIR:-/var/spool/akira}" \
    "${AKIRA_SNAPSHOT_DIR:-/var/lib/akira/snapshot}"
role=${1:-admin}
shift || true
case "$role" in
    kamailio) exec /opt/akira/scripts/kamailio-run.sh ;;
    admin) exec akira serve "$@" ;;
    worker) exec akira worker "$@" ;;
    akira) exec akira "$@" ;;
    *) exec akira "$role" "$@" ;;
esac
