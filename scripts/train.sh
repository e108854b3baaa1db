#!/usr/bin/env bash
# Trains a small MEM1 policy for the store (issue 9): expert episodes, supervised fine-tuning in
# JAX on a GGUF base, evaluation with `mem1 run`. The Python environment (jax, optax, gguf-py) is
# installed into .cache/train-venv (pinned, from PyPI; CPU jax, or JAX_PIP='jax[cuda12]==0.10.2'
# on a GPU machine). Outputs go to .cache/train/ (ignored).
#
#   bash scripts/train.sh setup      the Python environment only
#   bash scripts/train.sh data       expert episodes (training goals only: --exclude-eval)
#   bash scripts/train.sh sft        fine-tune BASE on them -> .cache/train/sft.gguf
#   bash scripts/train.sh rl         GRPO from the SFT model: ITERS rounds of rollouts (RL_GOALS
#                                    training goals x GROUP samples at temperature 0.8) and one
#                                    update each -> .cache/train/rl.gguf, reward curve rl-curve.jsonl
#   bash scripts/train.sh eval       mem1 run on the dev goals and the 200-goal evaluation sample
#   bash scripts/train.sh all        data, sft, eval
#   bash scripts/train.sh check      a tiny end-to-end run (part of scripts/test.sh): a few
#                                    expert episodes, 4 SFT steps on SmolLM2-135M, the result
#                                    loaded by the engine (same logits as the trainer's model,
#                                    also for Qwen2.5's architecture) and run for 2 turns
#
# Settings (environment): BASE (default the SmolLM2-135M GGUF), GOALS (expert goals drawn, 5000),
# SEED (1), STEPS (1000), LR (1e-4), EVAL_BACKEND (auto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=.cache/train-venv
py=$venv/bin/python
out=.cache/train
BASE=${BASE:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
QWEN=.cache/models/qwen2.5-coder-0.5b-instruct.gguf
mem1=./target/release/mem1

setup() {
  if ! "$py" -c 'import jax, optax, gguf' 2>/dev/null; then
    echo "train: installing jax, optax, gguf-py into $venv (about 140 MB, once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${JAX_PIP:-jax==0.10.2}" jaxlib==0.10.2 optax==0.2.8 gguf==0.19.0 numpy
  fi
  [ -f "$BASE" ] || bash scripts/fetch-models.sh >/dev/null
  [ -x "$mem1" ] || cargo build --release -q
  mkdir -p "$out"
}

data() { # goals seed file
  "$mem1" run --policy expert --model "$BASE" --sample "$1" --seed "$2" --exclude-eval \
    --trace "$3" --trace-ids --no-prompts --json | tail -1
}

evaluate() { # model
  for g in "--goals dev" "--sample 200 --seed 0"; do
    echo "eval $1 $g" >&2
    "$mem1" run --model "$1" $g --backend "${EVAL_BACKEND:-auto}" --max-tokens 224 --json | tail -1
  done
}

rl() {
  setup
  local start=${MODEL:-$out/sft.gguf} cur state=$out/rl-state.pkl
  [ -f "$start" ] || { echo "train rl: $start is missing (bash scripts/train.sh sft, or MODEL=...)" >&2; exit 1; }
  rm -f "$state" "$out/rl-curve.jsonl"
  cur=$start
  for i in $(seq 1 "${ITERS:-20}"); do
    "$mem1" run --model "$cur" --sample "${RL_GOALS:-8}" --seed $((1000 + i)) --exclude-eval --repeat "${GROUP:-4}" \
      --temperature 0.8 --max-tokens 224 --trace "$out/rollouts.jsonl" --trace-ids --no-prompts --json > "$out/rollouts-summary.jsonl"
    "$py" train/mem1_train.py grpo --base "$start" --rollouts "$out/rollouts.jsonl" --out "$out/rl.gguf" \
      --state "$state" --lr "${RL_LR:-1e-5}" | tee -a "$out/rl-curve.jsonl"
    cur=$out/rl.gguf
  done
}

check() {
  setup
  local t; t=$(mktemp -d); trap 'rm -rf "$t"' RETURN
  echo "train check: expert episodes" >&2
  data 40 1 "$t/expert.jsonl" >/dev/null
  echo "train check: 4 SFT steps on $BASE" >&2
  "$py" train/mem1_train.py sft --base "$BASE" --data "$t/expert.jsonl" --out "$t/sft.gguf" \
    --steps 4 --lr 1e-4 --eval-turns 4 --eval-every 4 --max-len 1024 > "$t/sft.json"
  "$py" - "$t/sft.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"train check: held-out loss {s['first_eval_loss']:.3f} -> {s['last_eval_loss']:.3f} after {s['steps']} steps", file=sys.stderr)
assert s["last_eval_loss"] < s["first_eval_loss"], "fine-tuning did not lower the held-out loss"
EOF
  # The trainer's model is the engine's model: same logits on the written GGUF (llama) and on
  # Qwen2.5 (qwen2: biases, half-split rotary), against the engine's f32 reference backend.
  for m in "$t/sft.gguf" "$QWEN"; do
    ids=$("$mem1" logits --model "$m" --backend ref --prompt "Buy red running shoes under 50 dollars" --out "$t/engine.npy" 2>/dev/null \
      | "$py" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["tokens"])))')
    "$py" train/mem1_train.py logits --model "$m" --ids "$ids" --out "$t/jax.npy" >/dev/null
    "$py" - "$t/engine.npy" "$t/jax.npy" "$m" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
d = float(np.abs(a - b).max()); scale = float(np.abs(a).max())
print(f"train check: {sys.argv[3]}: engine vs trainer logits, max |diff| {d:.2e} (max |logit| {scale:.1f})", file=sys.stderr)
assert a.shape == b.shape and d <= 1e-3 * max(scale, 1.0) and a.argmax() == b.argmax(), "the trainer's model differs from the engine's"
EOF
  done
  echo "train check: the fine-tuned model in mem1 run" >&2
  "$mem1" run --model "$t/sft.gguf" --goals dev --limit 1 --max-turns 2 --backend cpu --json > "$t/run.jsonl"
  "$py" - "$t/run.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ep, summary = lines[0], lines[-1]
print(f"train check: mem1 run: {ep['turns']} turns, actions {ep['actions']}, error {ep['error']}", file=sys.stderr)
assert ep["turns"] == 2 and ep["error"] is None and summary["errors"] == 0
EOF
  echo "train check: GRPO on the model's own rollouts (2 samples of one goal) and on expert groups" >&2
  "$mem1" run --model "$t/sft.gguf" --goals dev --limit 1 --repeat 2 --temperature 1 --max-turns 2 --backend cpu \
    --trace "$t/rollouts.jsonl" --trace-ids --no-prompts --json > /dev/null
  "$py" train/mem1_train.py grpo --base "$t/sft.gguf" --rollouts "$t/rollouts.jsonl" --out "$t/rl.gguf" --state "$t/rl.pkl" --max-len 1024 > "$t/rl1.json"
  # Expert episodes cut at 5 turns: a detour leaves the purchase unmade, so groups have signal.
  "$mem1" run --policy expert --model "$BASE" --sample 40 --seed 3 --exclude-eval --repeat 2 --detour 0.5 --max-turns 5 \
    --trace "$t/groups.jsonl" --trace-ids --no-prompts --json > /dev/null
  "$py" train/mem1_train.py grpo --base "$t/sft.gguf" --rollouts "$t/groups.jsonl" --out "$t/rl.gguf" --state "$t/rl.pkl" --max-len 768 > "$t/rl2.json"
  "$py" - "$t/rl1.json" "$t/rl2.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"train check: grpo iterations {a['iteration']}, {b['iteration']}: {a['episodes']} and {b['episodes']} episodes, {b['turns_trained']} turns trained", file=sys.stderr)
assert a["iteration"] == 1 and b["iteration"] == 2 and a["episodes"] == 2 and b["turns_trained"] > 0
EOF
  "$mem1" logits --model "$t/rl.gguf" --prompt "hello" --backend cpu > /dev/null
  echo "train check: ok" >&2
}

case "${1:-}" in
  setup) setup ;;
  data) setup; data "${GOALS:-5000}" "${SEED:-1}" "$out/expert.jsonl" ;;
  sft)
    setup
    "$py" train/mem1_train.py sft --base "$BASE" --data "$out/expert.jsonl" --out "$out/sft.gguf" \
      --steps "${STEPS:-1000}" --lr "${LR:-1e-4}" --curve "$out/sft-curve.jsonl" ;;
  rl) rl ;;
  eval) setup; evaluate "${MODEL:-$out/sft.gguf}" ;;
  all) "$0" data && "$0" sft && "$0" eval ;;
  check) check ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
