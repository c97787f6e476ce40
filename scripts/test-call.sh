#!/usr/bin/env bash
# Place one test call through the running platform (scripts/up.sh) with SIPp: three vendor
# stand-ins answer on 127.0.0.1:5081-5083 and the demo customer Acme calls from 127.0.0.2.
# Usage: scripts/test-call.sh [NUMBER] [SOURCE_IP] [PROXY]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
number=${1:-442071234567}
source_ip=${2:-127.0.0.2}
proxy=${3:-127.0.0.1:5060}
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -USR1 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for port in 5081 5082 5083; do
    sipp -sf "$root/tests/e2e/scenarios/uas-answer.xml" -i 127.0.0.1 -p "$port" -nostdin \
        -trace_msg -message_file "$work/vendor-$port.msg" >/dev/null 2>&1 &
    pids+=($!)
done
sleep 0.5
echo "calling $number from $source_ip through $proxy ..."
if sipp -sf "$root/tests/e2e/scenarios/uac-answered.xml" -s "$number" -i "$source_ip" -m 1 \
        -d 2000 -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$work/uac.msg" \
        "$proxy" >/dev/null 2>&1; then
    echo "answered; final replies seen by the customer:"
else
    echo "the call failed; replies seen by the customer:"
fi
grep -E '^SIP/2.0 [2-6]' "$work/uac.msg" | sort | uniq -c || true
for port in 5081 5082 5083; do
    count=$(grep -c '^INVITE sip:' "$work/vendor-$port.msg" 2>/dev/null || true)
    printf 'vendor on port %s received %s INVITE(s)\n' "$port" "${count:-0}"
done
