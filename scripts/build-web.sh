#!/usr/bin/env bash
# Builds the browser demo into web/dist/: a folder of static files any static host can serve
# (relative paths only, no server code). The wasm (crate `mem1`, its `wasm` API) goes through
# wasm-bindgen into web/dist/pkg/; web/*.html|js|css and web/data/ are copied beside it; the default
# model (SmolLM2-135M-Instruct Q4_1, from .cache/models/, see scripts/fetch-models.sh) is hard-linked
# (or copied) to web/dist/models/, beside the trained policy's LoRA adapter (models/) and
# models/policy.json (their sizes and sha256, scripts/policy-manifest.mjs). The shared views in
# web/ui/ (the demo's and the extension's) go to web/dist/ui/.
#
# Environment: PROFILE=release|dev (default release). Assumes scripts/setup.sh has run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

t0=$(date +%s)
dist="$root/web/dist"
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/models" "$dist.tmp/data"
bash scripts/build-wasm.sh "$dist.tmp/pkg"
cp web/*.html web/*.js web/*.css "$dist.tmp/"
cp -r web/ui "$dist.tmp/ui"
cp web/data/*.json "$dist.tmp/data/"
model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "build-web: $model is missing (run scripts/fetch-models.sh)" >&2; exit 1; }
ln "$(readlink -f "$model")" "$dist.tmp/models/" 2>/dev/null || cp "$model" "$dist.tmp/models/"
cp models/mem1-smollm2-135m.lora.gguf "$dist.tmp/models/"
node scripts/policy-manifest.mjs "$model" models/mem1-smollm2-135m.lora.gguf "$dist.tmp/models/policy.json"
rm -rf "$dist"
mv "$dist.tmp" "$dist"
echo "build-web: web/dist built in $(( $(date +%s) - t0 )) s ($(du -sh --apparent-size "$dist/pkg" | cut -f1) of wasm+js)" >&2
