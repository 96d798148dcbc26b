#!/usr/bin/env bash
# Every test Natter has: formatting and lints, Rust unit tests, the server's integration tests once on
# SQLite and once on a PostgreSQL cluster the tests start themselves, then the Playwright specs in
# Debian's chromium against a dev build served by cargo-leptos on a throwaway database.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all --check
cargo clippy -p app -p server --all-targets --features app/schema -- -D warnings
cargo test -p app -p server --features app/schema
NATTER_TEST_DATABASE=postgres cargo test -p server --features app/schema --test api

E2E_DATA=$(mktemp -d)
trap 'rm -rf "$E2E_DATA"' EXIT
# The browser tests sign up many people from one address.
NATTER_DATA_DIR="$E2E_DATA" NATTER_REGISTRATIONS_PER_HOUR=1000 cargo leptos end-to-end
