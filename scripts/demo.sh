#!/usr/bin/env bash
# The main job: on a fresh machine, install what is missing (scripts/setup.sh: Debian packages,
# the wasm32 target, wasm-bindgen, node packages, the models), build the web demo (the store, the
# observation builder and the MEM1 agent compiled to wasm; scripts/build-web.sh) and serve it on
# 127.0.0.1, printing the URL. Open it in a browser with WebGPU, pick a goal, press Run.
# Keeps serving until Ctrl-C.
#   PORT=P              (default 8080)
#   HEADLESS=1          instead: the same agent in the terminal, natively: exactly `mem1 run --sample 5`
#                       (the shipped policy: SmolLM2-135M with the bundled LoRA adapter; seed 0,
#                       backend auto), with each turn's progress. EPISODES=N, SEED=S, TURNS=T,
#                       BACKEND=auto|gpu|cpu|ref, MODEL=path.gguf and LORA=adapter.gguf|none
#                       change it (each only when set).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ -n "${HEADLESS:-}" ]; then
  cargo build --release -q
  args=(run --sample "${EPISODES:-5}")
  [ -n "${SEED:-}" ] && args+=(--seed "$SEED")
  [ -n "${TURNS:-}" ] && args+=(--max-turns "$TURNS")
  [ -n "${BACKEND:-}" ] && args+=(--backend "$BACKEND")
  [ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
  [ -n "${LORA:-}" ] && args+=(--lora "$LORA")
  echo "demo: mem1 ${args[*]} --progress --no-prompts (the in-process store; mem1 run names the policy next)" >&2
  exec ./target/release/mem1 "${args[@]}" --progress --no-prompts
fi

bash scripts/build-web.sh
port=${PORT:-8080}
log=$(mktemp)
SERVE_KEEP=1 node tests/serve.mjs web/dist "$port" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 50); do
  grep -q '^listening' "$log" && break
  kill -0 $server 2>/dev/null || break
  sleep 0.1
done
grep -q '^listening' "$log" || { cat "$log" >&2; echo "demo: the server did not start (PORT=$port in use? set PORT=...)" >&2; exit 1; }
echo
echo "  MEM1 shopping agent demo: http://127.0.0.1:$port/"
echo
echo "demo: serving web/dist (a folder of static files; any static host serves it too). Ctrl-C stops." >&2
echo "demo: open it in any current browser; WebGPU (Chrome/Edge 113+; on Linux chrome://flags/#enable-unsafe-webgpu) runs the model on the GPU, elsewhere it runs on the CPU backend (WebAssembly SIMD)." >&2
wait $server
