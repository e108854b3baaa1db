#!/usr/bin/env bash
# Builds the browser extension for Chromium and Firefox from extension/ into extension/dist/:
# chrome/ and firefox/ (load them unpacked) and mem1-chrome.zip, mem1-firefox.zip. Each holds the
# wasm engine, the bundled model (SmolLM2-135M-Instruct Q4_1 from .cache/models/, see
# scripts/fetch-models.sh) and the trained policy's LoRA adapter (models/). PROFILE=release|dev (default release). Assumes scripts/setup.sh has run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
t0=$(date +%s)
model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "build-extension: $model is missing (run scripts/fetch-models.sh)" >&2; exit 1; }
adapter=models/mem1-smollm2-135m.lora.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash scripts/build-wasm.sh "$tmp/pkg"
node extension/build.mjs "$tmp/pkg" "$model" "$adapter" extension/dist
echo "build-extension: extension/dist built in $(( $(date +%s) - t0 )) s" >&2
