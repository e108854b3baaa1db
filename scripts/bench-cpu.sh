#!/usr/bin/env bash
# CPU baseline: llama.cpp (through llama-cpp-python, built from source natively) against our
# `mem1 bench --backend cpu`, on the same GGUF files, prompt and thread count, and against the same
# CPU backend compiled to wasm (SIMD; one thread, and the threaded build on THREADS threads) in
# headless Chromium (BROWSER=0 skips that).
#
#   bash scripts/bench-cpu.sh
#
# Env: THREADS (default 2, used by both engines; exported as MEM1_THREADS for ours),
#      PROMPT_TOKENS (300), DECODE_TOKENS (128), REPEATS (3, best run reported; in the browser
#      too, each run from an emptied cache of the same loaded model),
#      FLASH_ATTN=1 (llama.cpp's flash attention: here ~+12 % prefill but ~-40 % decode; default off,
#      llama-cpp-python's default), WAIT_IDLE (seconds to wait, per model, for other processes to leave the CPU; default 0),
#      MODELS (space-separated GGUF paths; default: the two test models), SETUP_ONLY=1 (build the venv only).
# Output: one JSON line per (engine, model) on stdout, then a human table. Build logs go to
# .cache/llama-venv-build.log. The first run compiles llama.cpp (~12 min on 2 cores; scripts/llama-venv.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

THREADS=${THREADS:-2}
PROMPT_TOKENS=${PROMPT_TOKENS:-300}
DECODE_TOKENS=${DECODE_TOKENS:-128}
REPEATS=${REPEATS:-3}
venv="$root/.cache/llama-venv"

# --- llama-cpp-python compiled from source, in its venv (scripts/llama-venv.sh; idempotent) ------
py=$(bash "$root/scripts/llama-venv.sh")
[ "${SETUP_ONLY:-0}" = 1 ] && { echo "venv ready: $venv" >&2; exit 0; }

# --- models ----------------------------------------------------------------------------------
if [ -n "${MODELS:-}" ]; then
  read -r -a models <<< "$MODELS"
else
  models=("$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
          "$root/.cache/models/qwen2.5-coder-0.5b-instruct.gguf")
  for m in "${models[@]}"; do
    [ -f "$m" ] || { bash "$root/scripts/fetch-models.sh" >&2; break; }
  done
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# --- llama.cpp -------------------------------------------------------------------------------
echo "llama.cpp: threads=$THREADS prompt=$PROMPT_TOKENS decode=$DECODE_TOKENS repeats=$REPEATS (best)" >&2
"$py" "$root/scripts/bench_llama.py" --model "${models[@]}" --threads "$THREADS" \
  --prompt-tokens "$PROMPT_TOKENS" --decode-tokens "$DECODE_TOKENS" --repeats "$REPEATS" \
  --wait-idle "${WAIT_IDLE:-0}" $([ "${FLASH_ATTN:-0}" = 1 ] && echo --flash-attn) | tee -a "$results"

# --- ours --------------------------------------------------------------------------------------
export MEM1_THREADS=$THREADS
mem1="$root/target/release/mem1"
if [ ! -x "$mem1" ]; then
  echo "building target/release/mem1 ..." >&2
  cargo build --release -p mem1 >&2 || echo "cargo build failed; skipping our engine" >&2
fi
if [ -x "$mem1" ]; then
  for m in "${models[@]}"; do
    if [ "${WAIT_IDLE:-0}" != 0 ]; then
      "$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import bench_llama; bench_llama.wait_idle(float(sys.argv[2]))' \
        "$root/scripts" "$WAIT_IDLE"
    fi
    # Best of REPEATS runs, like the llama.cpp side.
    for _ in $(seq "$REPEATS"); do
      if out=$("$mem1" bench --model "$m" --backend cpu --prompt-tokens "$PROMPT_TOKENS" \
                 --decode-tokens "$DECODE_TOKENS" 2>&1); then
        line=$(printf '%s\n' "$out" | grep -E '^\{.*prefill_tok_s' | tail -1 || true)
        if [ -n "$line" ]; then
          "$py" - "$m" "$THREADS" "$line" <<'EOF' | tee -a "$results"
import json, os, sys
d = json.loads(sys.argv[3])
print(json.dumps({"engine": "mem1 cpu", "model": os.path.basename(sys.argv[1]),
                  "threads": int(sys.argv[2]),
                  "prefill_tokens": d.get("prefill_tokens", d.get("prompt_tokens")),
                  "prefill_tok_s": d.get("prefill_tok_s"),
                  "decode_tokens": d.get("decode_tokens"),
                  "decode_tok_s": d.get("decode_tok_s")}))
EOF
        else
          echo "mem1 bench printed no JSON line for $m:" >&2; printf '%s\n' "$out" | tail -5 >&2; break
        fi
      else
        echo "mem1 bench --backend cpu failed for $m:" >&2; printf '%s\n' "$out" | tail -5 >&2; break
      fi
    done
  done
fi

# --- ours in headless Chromium (wasm, SIMD; one thread, then the threaded build) -------------------
# The release build of crate/tests/web_gpu.rs with MEM1_BROWSER_BENCH=1 runs bench_cpu_backend_in_browser
# on both test models (served over HTTP by scripts/test-browser.sh) and logs one `BENCH {json}` each;
# WASM_THREADS=1 builds it threaded and it computes on THREADS threads (Web Workers on shared memory;
# the test runner's page is cross-origin isolated).
if [ "${BROWSER:-1}" = 1 ]; then
  for wasm_threads in 0 1; do
    echo "ours in headless Chromium (release wasm build$([ $wasm_threads = 1 ] && echo ", threaded, $THREADS threads"); first run compiles it) ..." >&2
    blog=$(mktemp)
    WASM_THREADS=$wasm_threads MEM1_BENCH_THREADS=$THREADS MEM1_BROWSER_BENCH=1 MEM1_BENCH_PROMPT=$PROMPT_TOKENS MEM1_BENCH_REPEATS=$REPEATS \
      MEM1_BENCH_DECODE=$DECODE_TOKENS PROFILE=release SKIP_DEMO=1 SKIP_EXTENSION=1 \
      bash "$root/scripts/test-browser.sh" bench_cpu_backend_in_browser > "$blog" 2>&1 \
      || { tail -20 "$blog" >&2; echo "the browser benchmark failed" >&2; }
    sed -n 's/^BENCH //p' "$blog" | tee -a "$results"
    rm -f "$blog"
  done
fi

# --- table -------------------------------------------------------------------------------------
"$py" - "$results" <<'EOF'
import json, sys
best = {}   # (engine kind, model) -> best prefill / decode over repeats
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d["engine"].startswith("mem1 wasm"):
        kind = "wasm1" if d.get("backend", "").endswith(" 1 thread") else "wasmN"
    else:
        kind = "ours" if d["engine"].startswith("mem1") else "llama"
    b = best.setdefault((kind, d["model"]), {"prefill": 0.0, "decode": 0.0})
    b["prefill"] = max(b["prefill"], d.get("prefill_tok_s") or 0.0)
    b["decode"] = max(b["decode"], d.get("decode_tok_s") or 0.0)
models = list(dict.fromkeys(m for _, m in best))
cols = [("llama", "llama.cpp"), ("ours", "ours native"), ("wasm1", "wasm 1 thread"), ("wasmN", "wasm threaded")]
print()
print("tok/s prefill / decode, best of repeats; (x) = ratio to llama.cpp native")
print(f"{'model':<34}" + "".join(f" {name:>24}" for _, name in cols))
f = lambda x: f"{x:.1f}" if x else "-"
r = lambda a, b: f"{a / b:.2f}" if a and b else "-"
for m in models:
    l = best.get(("llama", m), {})
    row = f"{m[:34]:<34}"
    for kind, _ in cols:
        o = best.get((kind, m), {})
        cell = f"{f(o.get('prefill'))} / {f(o.get('decode'))}"
        if kind != "llama":
            cell += f" ({r(o.get('prefill'), l.get('prefill'))}/{r(o.get('decode'), l.get('decode'))})"
        row += f" {cell:>24}"
    print(row)
EOF
