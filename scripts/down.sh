#!/usr/bin/env bash
# Stop what scripts/up.sh started: admin, CDR worker, Kamailio, and the private PostgreSQL and
# Redis it started (machine services it found running are left alone). Data stays on disk.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for name in admin worker kamailio; do stop_process "$name"; done
stop_private_services
say "Akira is stopped"
