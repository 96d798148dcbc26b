#!/usr/bin/env bash
# Sets up if needed, builds the release site and serves Natter at http://127.0.0.1:3000.
# Extra arguments go to the server (see `natter --help`); the SQLite file lives under ./data by default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo leptos serve --release -- "$@"
