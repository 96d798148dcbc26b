#!/usr/bin/env bash
# Installs everything Natter needs to build and test, offline but for the package registries.
# Idempotent: every step checks first, so a second run on a ready machine takes seconds.
# The recipe and the reasons behind each step: docs/toolchain.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
BINARYEN_VERSION=132
export DEBIAN_FRONTEND=noninteractive
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }

# Debian's Rust 1.96 (its rustc targets wasm32), the lld it links wasm with, the test browser, and the
# services a cluster runs on: PostgreSQL and NATS (the tests start their own), nginx for
# scripts/cluster.sh.
PKGS=(rustc-web cargo-web rust-web-src rust-web-clippy rustfmt-web lld-22 chromium
  postgresql nats-server nginx)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  # Installing must not start the packages' own services (nginx on port 80 and so on): the tests and
  # scripts/cluster.sh start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's binaryen (108) corrupts wasm-bindgen's externref table and would shadow the npm wasm-opt.
if dpkg -s binaryen >/dev/null 2>&1; then apt-get remove -y -qq binaryen >/dev/null; fi

rustup toolchain list | grep -q '^debian' || rustup toolchain link debian /usr

# The wasm32 standard library, built once by Debian's compiler; the stamp says which rustc built it.
WASM_DIR=/usr/lib/rustlib/wasm32-unknown-unknown
if [ "$(cat "$WASM_DIR/built-with.txt" 2>/dev/null)" != "$(rustc +debian -vV)" ]; then
  say "building the wasm32 standard library"
  B=$(mktemp -d)
  mkdir -p "$B/src"
  printf '[package]\nname="wasm-std-dummy"\nversion="0.0.0"\nedition="2021"\n[profile.release]\ndebug=0\ncodegen-units=1\n' >"$B/Cargo.toml"
  echo 'pub fn f() -> String { format!("{:?}", std::collections::HashMap::<u8, u8>::new()) }' >"$B/src/lib.rs"
  (cd "$B" && RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Cembed-bitcode=yes CARGO_TARGET_DIR="$B/target" \
    cargo +debian build --quiet --release -Zbuild-std=std,panic_abort,proc_macro,test \
    --target wasm32-unknown-unknown)
  rm -rf "$WASM_DIR/lib" && mkdir -p "$WASM_DIR/lib"
  find "$B/target/wasm32-unknown-unknown/release/deps" -maxdepth 1 -type f \
    \( -name 'lib*.rlib' -o -name 'lib*.rmeta' \) ! -name 'libwasm_std_dummy-*' -exec cp {} "$WASM_DIR/lib/" \;
  rustc +debian -vV >"$WASM_DIR/built-with.txt"
  rm -rf "$B"
fi

# Build tools from source. They only orchestrate, so a quick unoptimised-LTO build is plenty and
# saves many minutes on two cores.
quick_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo +debian install --quiet "$@"
}
if ! cargo-leptos --version 2>/dev/null | grep -qF "$CARGO_LEPTOS_VERSION"; then
  say "building cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes on two cores)"
  quick_install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi
# wasm-bindgen-cli must equal the locked wasm-bindgen exactly. Its own lockfile names a crate
# version the registry lacks, hence no --locked.
WB=${WASM_BINDGEN_VERSION:-$(awk '$0=="name = \"wasm-bindgen\""{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)}
if ! wasm-bindgen --version 2>/dev/null | grep -qF "$WB"; then
  say "building wasm-bindgen-cli $WB"
  quick_install wasm-bindgen-cli --version "$WB" --force
fi
if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  say "npm: binaryen@$BINARYEN_VERSION (wasm-opt)"
  npm install -g --silent "binaryen@$BINARYEN_VERSION.0.0"
fi

# Playwright and its TypeScript runner; the browser is Debian's chromium, never a download.
LOCK_SUM=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
if [ "$(cat end2end/node_modules/.natter-lock.sha256 2>/dev/null)" != "$LOCK_SUM" ]; then
  say "npm: end2end packages"
  (cd end2end && npm ci --silent --no-audit --no-fund)
  echo "$LOCK_SUM" >end2end/node_modules/.natter-lock.sha256
fi
say "ready"
