#!/usr/bin/env bash
# Builds the crate for the browser and runs wasm-bindgen (--target web), twice:
#   bash scripts/build-wasm.sh OUT_DIR
#   OUT_DIR/mem1.js          simd128, one thread: what any page loads
#   OUT_DIR/load.js          loadMem1(): picks one of the two (crate/js/load.js)
#   OUT_DIR/threads/mem1.js  simd128 + atomics (shared memory): the CPU backend computes on Web
#                            Workers too; only a cross-origin-isolated page can load it
# Used by build-web.sh (the demo) and build-extension.sh. PROFILE=release|dev (default release).
# THREADS=0 skips the threaded build.
# The threaded build's flags: scripts/wasm-threads.sh.
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

cp crate/js/load.js "$out/load.js"
[ "${THREADS:-1}" = 0 ] && exit 0
source scripts/wasm-threads.sh
cargo build "${flags[@]}" --target wasm32-unknown-unknown -p mem1 --lib "${build_std[@]}"
wasm-bindgen --target web --no-typescript --out-dir "$out/threads" "target/threads/wasm32-unknown-unknown/$dir/mem1.wasm"
