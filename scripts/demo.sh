#!/usr/bin/env bash
# The main job: on a fresh machine, install what is missing (scripts/setup.sh: Debian packages,
# the wasm32 target, wasm-bindgen, node packages, the models), build the web demo (the store, the
# observation builder and the MEM1 agent compiled to wasm; scripts/build-web.sh) and serve it on
# 127.0.0.1, printing the URL. Open it in a browser with WebGPU, pick a goal, press Run.
# Keeps serving until Ctrl-C.
#   PORT=P              (default 8080)
#   HEADLESS=1          instead: the same agent in the terminal, `mem1 run --sample N` natively,
#                       printing each episode's result (EPISODES=N, default 5; TURNS=T; SEED=S;
#                       MODEL=path.gguf; BACKEND=auto|gpu|cpu|ref, default cpu)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ -n "${HEADLESS:-}" ]; then
  cargo build --release -q
  model=${MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
  echo "demo: MEM1 agent ($model, backend ${BACKEND:-cpu}) on ${EPISODES:-5} sampled goal(s) in the in-process store" >&2
  exec ./target/release/mem1 run --model "$model" --sample "${EPISODES:-5}" --seed "${SEED:-1}" \
    --max-turns "${TURNS:-10}" --backend "${BACKEND:-cpu}" --progress --no-prompts
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
