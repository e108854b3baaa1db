#!/usr/bin/env bash
# The whole test suite: native (CPU reference, GPU backend on Vulkan/lavapipe, store, agent), a
# short run of every fuzz target, and browser (wasm in headless Chromium on WebGPU, the extension
# in Chromium and Firefox). Sets up a fresh machine first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"

echo "== native tests" >&2
cargo test --release --workspace 2>&1

echo "== training pipeline (tiny end-to-end run: expert data, SFT and GRPO steps, the result in the engine)" >&2
bash scripts/train.sh check

echo "== fuzz smoke (every cargo-fuzz target for 15 s from its seeds)" >&2
bash scripts/fuzz.sh smoke 15

if [ -x scripts/test-browser.sh ]; then
  echo "== browser tests" >&2
  bash scripts/test-browser.sh
fi
