#!/usr/bin/env bash
# The whole test suite: the JavaScript's lint and type check, native (CPU reference, GPU backend
# on Vulkan/lavapipe, store, agent), the CPU backend's NEON kernels under qemu-aarch64 (on x86-64
# hosts), a short run of every fuzz target, and browser (wasm in headless Chromium on WebGPU, the
# demo, the extension in Chromium and Firefox). Sets up a fresh machine first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"

echo "== JavaScript lint and type check" >&2
bash scripts/lint-js.sh

echo "== llama.cpp's server for the remote-policy tests (llama-cpp-python, built once into .cache/llama-venv)" >&2
bash scripts/llama-venv.sh >/dev/null

echo "== native tests" >&2
cargo test --release --workspace 2>&1

if [ "$(uname -m)" = x86_64 ]; then
  echo "== CPU backend on aarch64 (the NEON kernels, cross-compiled and run under qemu-aarch64)" >&2
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    cargo test --release --target aarch64-unknown-linux-gnu -p mem1 --lib cpu:: 2>&1
fi

echo "== GPU benchmark, smallest setting (scripts/bench-gpu.sh smoke on Vulkan/lavapipe)" >&2
bash scripts/bench-gpu.sh smoke

echo "== training pipeline (tiny end-to-end run: expert data, SFT and GRPO steps, the result in the engine)" >&2
bash scripts/train.sh check

echo "== fuzz smoke (every cargo-fuzz target for 15 s from its seeds)" >&2
bash scripts/fuzz.sh smoke 15

echo "== browser tests" >&2
bash scripts/test-browser.sh
