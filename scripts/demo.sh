#!/usr/bin/env bash
# The main job: set up, build, serve the WebShop-style store on 127.0.0.1, and run the MEM1 agent
# on a freshly sampled goal with the default model, printing each turn (Ctrl-C stops the store).
#   MODEL=path.gguf   another GGUF (default: SmolLM2-135M-Instruct Q4_1, fetched by setup)
#   BACKEND=gpu|cpu   (default cpu: faster than a CPU-emulated Vulkan adapter; use gpu on a real GPU)
#   EPISODES=N TURNS=T PORT=P SEED=S
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cargo build --release -q
bin=./target/release/mem1
model=${MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
port=${PORT:-3000}

"$bin" shop serve --port "$port" --seed "${SEED:-1}" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5
kill -0 $server 2>/dev/null || { echo "demo: the store could not start on port $port (set PORT=...)" >&2; exit 1; }
echo "demo: the store is at http://127.0.0.1:$port/fixed_0 (goal 0; /fixed_N for others)" >&2
echo "demo: running the MEM1 agent ($model, backend ${BACKEND:-cpu}) on ${EPISODES:-1} sampled goal(s)..." >&2
"$bin" run --model "$model" --sample "${EPISODES:-1}" --seed "${SEED:-1}" --max-turns "${TURNS:-6}" \
  --backend "${BACKEND:-cpu}" --progress --no-prompts
echo "demo: the store keeps serving at http://127.0.0.1:$port/fixed_0 — Ctrl-C to stop" >&2
wait $server
