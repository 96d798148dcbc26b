#!/usr/bin/env bash
# Every test Natter has: formatting and lints, Rust unit tests, the server's integration tests once on
# SQLite and once on a PostgreSQL cluster the tests start themselves, then the Playwright specs in
# Debian's chromium against a dev build on a throwaway database.
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
E2E_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_e2e_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$E2E_DATA"
}
# The browser tests sign up many people from one address.
NATTER_DATA_DIR="$E2E_DATA" NATTER_REGISTRATIONS_PER_HOUR=1000 \
  target/debug/natter --listen "127.0.0.1:$E2E_PORT" >"$E2E_DATA/server.log" 2>&1 &
SERVER=$!
trap stop_e2e_server EXIT
if ! (cd end2end && NATTER_URL="http://127.0.0.1:$E2E_PORT" npx playwright test); then
  echo "--- the server's log:" >&2
  tail -n 100 "$E2E_DATA/server.log" >&2
  exit 1
fi
