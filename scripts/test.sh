#!/usr/bin/env bash
# Every test Natter has: formatting and lints, Rust unit tests, the server's integration tests once on
# SQLite and once on a PostgreSQL cluster the tests start themselves, then the Playwright specs in
# Debian's chromium against the dev build on a throwaway database, and the chat spec once more through
# scripts/cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all --check
cargo clippy -p app -p server --all-targets --features app/schema -- -D warnings
# Every cargo call below selects the same packages and features, so the test build is the only one.
cargo test -p app -p server --features app/schema
NATTER_TEST_DATABASE=postgres cargo test -p app -p server --features app/schema --test api

# The browser tests: cargo-leptos builds the wasm bundle and the site; the server is the binary the
# tests above built (`cargo leptos end-to-end` would build it again, with other features), on a free
# port so that a `cargo leptos watch` left running on 3000 is never what the browser tests reach.
cargo leptos build --frontend-only
E2E_DATA=$(mktemp -d)
chmod 755 "$E2E_DATA" # the cluster's PostgreSQL runs as the postgres user, below it
# Seven ports free now: one for the server, then nginx, the three nodes, PostgreSQL and NATS of the cluster.
read -r E2E_PORT CLUSTER_PORT NODE_1 NODE_2 NODE_3 CLUSTER_PG_PORT CLUSTER_NATS_PORT < <(python3 -c '
import socket
held = [socket.socket() for _ in range(7)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))')
PIDS_TO_STOP=()
stop_e2e_services() {
  for pid in "${PIDS_TO_STOP[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS_TO_STOP[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$E2E_DATA"
}
trap stop_e2e_services EXIT
# Shows a log and fails, when a browser run failed.
failed() {
  echo "--- $1:" >&2
  tail -n 100 "$2" >&2
  exit 1
}

# The browser tests sign up many people from one address.
NATTER_DATA_DIR="$E2E_DATA/single" NATTER_REGISTRATIONS_PER_HOUR=1000 \
  target/debug/natter --listen "127.0.0.1:$E2E_PORT" >"$E2E_DATA/server.log" 2>&1 &
PIDS_TO_STOP+=($!)
(cd end2end && NATTER_URL="http://127.0.0.1:$E2E_PORT" npx playwright test) ||
  failed "the server's log" "$E2E_DATA/server.log"

# Two people chat through scripts/cluster.sh (nginx in front of three nodes on PostgreSQL and NATS), on
# the same binary.
NATTER_CLUSTER_DIR="$E2E_DATA/cluster" NATTER_CLUSTER_BINARY=target/debug/natter \
  NATTER_CLUSTER_PORT="$CLUSTER_PORT" NATTER_CLUSTER_NODE_PORTS="$NODE_1 $NODE_2 $NODE_3" \
  NATTER_CLUSTER_PG_PORT="$CLUSTER_PG_PORT" NATTER_CLUSTER_NATS_PORT="$CLUSTER_NATS_PORT" \
  bash scripts/cluster.sh >"$E2E_DATA/cluster.log" 2>&1 &
PIDS_TO_STOP+=($!)
(cd end2end && NATTER_URL="http://127.0.0.1:$CLUSTER_PORT" npx playwright test tests/chat.spec.ts) ||
  failed "scripts/cluster.sh's output" "$E2E_DATA/cluster.log"
