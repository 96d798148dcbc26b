#!/usr/bin/env bash
# Prints the server's memory before, right after, and a minute after a burst of registrations, each of
# which hashes a password with Argon2 (19 MiB). Hashing memory must stay bounded and not pile up.
#
#   bash scripts/measure-hashing-memory.sh [registrations] [concurrency]
#
# NATTER_BIN picks the binary (default: a release build, made if missing); PORT the port (3390).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-1000}
CONCURRENCY=${2:-32}
PORT=${PORT:-3390}
BIN=${NATTER_BIN:-target/release/natter}
if [ -z "${NATTER_BIN:-}" ]; then cargo build -q --release -p server --bin natter; fi

DATA=$(mktemp -d)
NATTER_DATA_DIR="$DATA" NATTER_LISTEN="127.0.0.1:$PORT" NATTER_REGISTRATIONS_PER_HOUR=1000000 \
  NATTER_LOG=warn LEPTOS_SITE_ROOT=target/site "$BIN" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.2; done

rss() { awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$SERVER/status"; }
echo "registrations: $COUNT, $CONCURRENCY at a time"
echo "rss before:        $(rss)"
START=$(date +%s%N)
CODES=$(seq "$COUNT" | xargs -P "$CONCURRENCY" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  -H 'content-type: application/json' -d '{"username":"m{}x","password":"measure password"}' \
  "http://127.0.0.1:$PORT/api/auth/register" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
echo "answers:           ${CODES%,} in $(( ($(date +%s%N) - START) / 1000000 )) ms"
echo "rss right after:   $(rss)"
sleep 60
echo "rss a minute later: $(rss)"
