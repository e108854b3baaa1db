#!/usr/bin/env bash
# Builds the crate for the browser and runs wasm-bindgen (--target web) into OUT_DIR:
#   bash scripts/build-wasm.sh OUT_DIR
# Used by build-web.sh (the demo) and build-extension.sh. PROFILE=release|dev (default release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
out=${1:?usage: build-wasm.sh OUT_DIR}
profile=${PROFILE:-release}
flags=()
[ "$profile" = release ] && flags=(--release)
dir=$([ "$profile" = release ] && echo release || echo debug)
cargo build "${flags[@]}" --target wasm32-unknown-unknown -p mem1 --lib
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" "target/wasm32-unknown-unknown/$dir/mem1.wasm"
