#!/usr/bin/env bash
# Trains a small MEM1 policy for the store (issue 9): expert episodes, supervised fine-tuning in
# JAX on a GGUF base, evaluation with `mem1 run`. The Python environment (jax, optax, gguf-py) is
# installed into .cache/train-venv (pinned, from PyPI; CPU jax, or JAX_PIP='jax[cuda12]==0.10.2'
# on a GPU machine). Outputs go to .cache/train/ (ignored).
#
#   bash scripts/train.sh setup      the Python environment only
#   bash scripts/train.sh data       expert episodes (training goals only: --exclude-eval), single
#                                    goals and shopping lists of ITEMS ("1 2 4") items
#   bash scripts/train.sh sft        fine-tune BASE on them: a LoRA adapter of rank LORA_RANK (16)
#                                    -> .cache/train/sft.lora.gguf (LORA_RANK=0: the whole model
#                                    -> .cache/train/sft.gguf)
#   bash scripts/train.sh rl         GRPO from the SFT policy: ITERS rounds of rollouts (RL_GOALS
#                                    training goals x GROUP samples at temperature RL_TEMP (1)
#                                    and top-p 1, the whole distribution; RL_TURNS (10) turns) and
#                                    one update each, learning rate RL_LR (1e-4) -> .cache/train/
#                                    rl.lora.gguf (or rl.gguf), reward curve rl-curve.jsonl (each
#                                    round's mean reward beside the `visible` expert's on the same
#                                    goals); RESUME=1 goes on after the last finished round (a run
#                                    stopped, or more ITERS; from the state alone, without POLICY)
#   bash scripts/train.sh eval       mem1 run on the dev goals and the 200-goal evaluation sample
#                                    (POLICY=adapter or model; default the SFT one)
#   bash scripts/train.sh curve      the rl reward curve as a table
#   bash scripts/train.sh all        data, sft, eval
#   bash scripts/train.sh check      a tiny end-to-end run (part of scripts/test.sh): a few
#                                    expert episodes, 4 SFT steps on SmolLM2-135M, the result
#                                    loaded by the engine (same logits as the trainer's model,
#                                    also for Qwen2.5's architecture) and run for 2 turns; GRPO
#                                    updates, and the rl loop for 2 rounds (the second resumed)
#
# Settings (environment): BASE (default the SmolLM2-135M GGUF), GOALS (expert goals drawn, 5000),
# SEED (1), STEPS (1000), BATCH (1), LR (1e-3 for an adapter, 1e-4 for the whole model), LORA_RANK
# (16), ADAPTER (sft: continue training this adapter instead of a fresh one), SAVE_EVERY (0),
# EVAL_BACKEND (auto), TRAIN_OUT (the output folder, .cache/train).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=.cache/train-venv
py=$venv/bin/python
out=${TRAIN_OUT:-.cache/train}
BASE=${BASE:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
QWEN=.cache/models/qwen2.5-coder-0.5b-instruct.gguf
mem1=./target/release/mem1
LORA_RANK=${LORA_RANK:-16}
if [ "$LORA_RANK" -gt 0 ]; then ext=lora.gguf; else ext=gguf; fi

# `mem1 run` flags for a trained policy: an adapter over BASE, or a whole model.
policy_args() { # file
  case "$1" in
    *.lora.gguf) echo "--model $BASE --lora $1" ;;
    *) echo "--model $1" ;;
  esac
}

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
  # Single goals and shopping lists: each list length in ITEMS ("1 2 4") gets an equal share of
  # the goals drawn (so a list of 4 is a quarter as many tasks), each with its own seed.
  local mix=(${ITEMS:-1 2 4}) parts=() n
  for n in "${mix[@]}"; do
    "$mem1" run --policy expert --model "$BASE" --sample $(( $1 / ${#mix[@]} / n )) --items "$n" --seed $(( $2 + 1000 * (n - 1) )) \
      --exclude-eval --trace "$3.items$n" --trace-ids --no-prompts --json | tail -1
    parts+=("$3.items$n")
  done
  cat "${parts[@]}" > "$3"
  rm -f "${parts[@]}"
}

evaluate() { # policy (adapter or model)
  for g in ${EVAL_GOALS:-"--goals dev" "--sample 200 --seed 0"}; do
    echo "eval $1 $g" >&2
    "$mem1" run $(policy_args "$1") $g --backend "${EVAL_BACKEND:-auto}" --max-tokens 224 --json | tail -1
  done
}

rl() {
  setup
  local start=${POLICY:-$out/sft.$ext} state=$out/rl-state.pkl from expert cur first=1
  case "$start" in *.lora.gguf) ext=lora.gguf ;; *) ext=gguf ;; esac
  if [ "${RESUME:-0}" = 1 ] && [ -f "$state" ] && [ -f "$out/rl.$ext" ]; then
    # Go on after the last finished update: its weights and optimizer state, the curve so far,
    # the next round's goals. The last round's file stands in for the start (the state holds the
    # values), so the start need not be here any more.
    first=$(( $("$py" -c 'import pickle, sys; print(pickle.load(open(sys.argv[1], "rb"))["iteration"])' "$state") + 1 ))
    start=$out/rl.$ext
    echo "train rl: resuming at round $first of ${ITERS:-20} from $start" >&2
  else
    [ -f "$start" ] || { echo "train rl: $start is missing (bash scripts/train.sh sft, or POLICY=...)" >&2; exit 1; }
    [ "${RESUME:-0}" = 1 ] && echo "train rl: RESUME=1 but no finished round in $out; starting from $start" >&2
    rm -f "$state" "$out/rl-curve.jsonl"
  fi
  case "$start" in *.lora.gguf) from="--base $BASE --adapter $start" ;; *) from="--base $start" ;; esac
  cur=$start
  for i in $(seq "$first" "${ITERS:-20}"); do
    # --exclude-eval keeps about 1 sampled goal in 7 (the evaluation products are the popular
    # ones), so draw many and keep the first RL_GOALS.
    local goals=(--sample $((16 * ${RL_GOALS:-8})) --limit "${RL_GOALS:-8}" --seed $((1000 + i)) --exclude-eval)
    "$mem1" run $(policy_args "$cur") "${goals[@]}" --repeat "${GROUP:-4}" \
      --temperature "${RL_TEMP:-1}" --top-p 1 --top-k 64 --max-tokens 224 --max-turns "${RL_TURNS:-10}" --trace "$out/rollouts.jsonl" --trace-ids --no-prompts --json > "$out/rollouts-summary.jsonl"
    # The `visible` expert on the same goals: rounds draw new goals, some harder than others, so
    # the curve carries the expert's score beside the policy's to read the policy's against.
    expert=$("$mem1" run --policy expert --expert visible --model "$BASE" "${goals[@]}" --json 2> "$out/expert.log" | tail -1) \
      || { cat "$out/expert.log" >&2; exit 1; }
    "$py" train/mem1_train.py grpo $from --rollouts "$out/rollouts.jsonl" --out "$out/rl.$ext" \
      --state "$state" --lr "${RL_LR:-1e-4}" --temperature "${RL_TEMP:-1}" \
      | "$py" -c 'import json, sys
line, expert = json.loads(sys.stdin.read()), json.loads(sys.argv[1])
line["expert_mean_reward"] = expert["score"] / 100
print(json.dumps(line))
print("train rl: round %d: mean reward %.3f (visible expert %.3f on the same goals), %d turns trained"
      % (line["iteration"], line["mean_reward"], line["expert_mean_reward"], line["turns_trained"]), file=sys.stderr)' "$expert" \
      | tee -a "$out/rl-curve.jsonl"
    cur=$out/rl.$ext
  done
}

# The reward curve of `rl` as a table: each round's mean sampled reward (the policy before that
# round's update), the `visible` expert's on the same goals, their ratio, and the ratio's mean
# over the last 3 rounds.
curve() {
  [ -f "$out/rl-curve.jsonl" ] || { echo "train curve: no $out/rl-curve.jsonl (bash scripts/train.sh rl)" >&2; exit 1; }
  "$py" - "$out/rl-curve.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| round | policy | visible expert | ratio | ratio, last 3 | groups with a spread (turns trained) |")
print("|---|---|---|---|---|---|")
ratios = []
for r in rows:
    e = r.get("expert_mean_reward")
    ratios.append(r["mean_reward"] / e if e else None)
    last = [x for x in ratios[-3:] if x is not None]
    fmt = lambda x: "—" if x is None else f"{x:.3f}"
    g = f"{r['groups_with_spread']} of {r['groups']}" if "groups_with_spread" in r else "—"
    print(f"| {r['iteration']} | {r['mean_reward']:.3f} | {fmt(e)} | {fmt(ratios[-1])} | {fmt(sum(last) / len(last) if last else None)} | {g} ({r['turns_trained']}) |")
EOF
}

# Engine (f32 reference backend) against trainer logits on one prompt: within 1e-3 of the largest
# logit, same argmax. Args: label, then the engine's model flags; TRAINER_ARGS: the trainer's.
same_logits() {
  local label=$1; shift
  ids=$("$mem1" logits "$@" --backend ref --prompt "Buy red running shoes under 50 dollars" --out "$t/engine.npy" 2>/dev/null \
    | "$py" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["tokens"])))')
  "$py" train/mem1_train.py logits $TRAINER_ARGS --ids "$ids" --out "$t/jax.npy" >/dev/null
  "$py" - "$t/engine.npy" "$t/jax.npy" "$label" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
d = float(np.abs(a - b).max()); scale = float(np.abs(a).max())
print(f"train check: {sys.argv[3]}: engine vs trainer logits, max |diff| {d:.2e} (max |logit| {scale:.1f})", file=sys.stderr)
assert a.shape == b.shape and d <= 1e-3 * max(scale, 1.0) and a.argmax() == b.argmax(), "the trainer's model differs from the engine's"
EOF
}

check() {
  setup
  local t; t=$(mktemp -d); trap 'rm -rf "$t"' RETURN
  echo "train check: expert episodes" >&2
  data 120 1 "$t/expert.jsonl" >/dev/null
  "$py" -c 'import json, sys; items = [json.loads(l)["items"] for l in open(sys.argv[1])]
assert 1 in items and max(items) > 1, f"the expert data holds no shopping list: {items}"
print(f"train check: {len(items)} expert episodes, {sum(i > 1 for i in items)} of them shopping lists", file=sys.stderr)' "$t/expert.jsonl"
  echo "train check: 4 SFT steps of a LoRA adapter on $BASE, 1 more continuing it, 1 of the whole model" >&2
  "$py" train/mem1_train.py sft --base "$BASE" --data "$t/expert.jsonl" --out "$t/sft.lora.gguf" --lora-rank 8 \
    --steps 4 --lr 1e-3 --eval-turns 4 --eval-every 4 --max-len 1024 > "$t/sft.json"
  "$py" train/mem1_train.py sft --base "$BASE" --data "$t/expert.jsonl" --out "$t/sft2.lora.gguf" --adapter "$t/sft.lora.gguf" \
    --steps 1 --lr 1e-3 --eval-turns 4 --eval-every 4 --max-len 1024 > "$t/sft2.json"
  "$py" train/mem1_train.py sft --base "$BASE" --data "$t/expert.jsonl" --out "$t/sft.gguf" --lora-rank 0 \
    --steps 1 --lr 1e-4 --eval-turns 0 --max-len 1024 > /dev/null
  "$py" - "$t/sft.json" "$t/sft2.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"train check: held-out loss {s['first_eval_loss']:.3f} -> {s['last_eval_loss']:.3f} after {s['steps']} steps", file=sys.stderr)
assert s["adapter"] and s["last_eval_loss"] < s["first_eval_loss"], "fine-tuning did not lower the held-out loss"
# --adapter continues from the written adapter (F16): it starts where the first run ended.
c = json.load(open(sys.argv[2]))
print(f"train check: continued from the adapter: held-out loss {c['first_eval_loss']:.4f} (the first run ended at {s['last_eval_loss']:.4f})", file=sys.stderr)
assert abs(c["first_eval_loss"] - s["last_eval_loss"]) <= 0.01 * s["last_eval_loss"], "--adapter did not start from the adapter"
EOF
  # The trainer's model is the engine's model: same logits on a written GGUF (llama), on the base
  # with the trained adapter merged by the engine at load time (`--lora`), and on Qwen2.5 (qwen2:
  # biases, half-split rotary), against the engine's f32 reference backend.
  TRAINER_ARGS="--model $t/sft.gguf" same_logits "whole model written by the trainer" --model "$t/sft.gguf"
  TRAINER_ARGS="--model $BASE --adapter $t/sft.lora.gguf" same_logits "LoRA adapter merged at load" --model "$BASE" --lora "$t/sft.lora.gguf"
  TRAINER_ARGS="--model $QWEN" same_logits "$QWEN" --model "$QWEN"
  echo "train check: the fine-tuned adapter in mem1 run" >&2
  "$mem1" run --model "$BASE" --lora "$t/sft.lora.gguf" --goals dev --limit 1 --max-turns 2 --backend cpu --json > "$t/run.jsonl"
  "$py" - "$t/run.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ep, summary = lines[0], lines[-1]
print(f"train check: mem1 run: {ep['turns']} turns, actions {ep['actions']}, error {ep['error']}", file=sys.stderr)
assert ep["turns"] == 2 and ep["error"] is None and summary["errors"] == 0
EOF
  echo "train check: GRPO on the adapter's own rollouts (2 samples of one goal) and on expert groups" >&2
  "$mem1" run --model "$BASE" --lora "$t/sft.lora.gguf" --goals dev --limit 1 --repeat 2 --temperature 1 --max-turns 2 --backend cpu \
    --trace "$t/rollouts.jsonl" --trace-ids --no-prompts --json > /dev/null
  "$py" train/mem1_train.py grpo --base "$BASE" --adapter "$t/sft.lora.gguf" --rollouts "$t/rollouts.jsonl" --out "$t/rl.lora.gguf" \
    --state "$t/rl.pkl" --max-len 1024 > "$t/rl1.json"
  # Expert episodes cut at 5 turns: a detour leaves the purchase unmade, so groups have signal.
  "$mem1" run --policy expert --expert target --model "$BASE" --sample 40 --seed 3 --exclude-eval --repeat 2 --detour 0.5 --max-turns 5 \
    --trace "$t/groups.jsonl" --trace-ids --no-prompts --json > /dev/null
  "$py" train/mem1_train.py grpo --base "$BASE" --adapter "$t/sft.lora.gguf" --rollouts "$t/groups.jsonl" --out "$t/rl.lora.gguf" \
    --state "$t/rl.pkl" --max-len 768 --temperature 0.7 > "$t/rl2.json"
  "$py" - "$t/rl1.json" "$t/rl2.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"train check: grpo iterations {a['iteration']}, {b['iteration']}: {a['episodes']} and {b['episodes']} episodes, {b['turns_trained']} turns trained", file=sys.stderr)
assert a["iteration"] == 1 and b["iteration"] == 2 and a["episodes"] == 2 and b["turns_trained"] > 0 and b["updated"]
EOF
  "$mem1" logits --model "$BASE" --lora "$t/rl.lora.gguf" --prompt "hello" --backend cpu > /dev/null
  echo "train check: the GRPO loop: one round, then one more resumed (1 goal x 2 samples, 2 turns)" >&2
  local loop="TRAIN_OUT=$t/rl POLICY=$t/sft.lora.gguf RL_GOALS=1 GROUP=2 RL_TURNS=2"
  env $loop ITERS=1 bash "$0" rl > /dev/null 2> "$t/loop1.log" || { cat "$t/loop1.log" >&2; exit 1; }
  # The resumed round needs no start: the last round's adapter and the state are enough.
  mv "$t/sft.lora.gguf" "$t/sft.lora.gguf.away"
  env $loop ITERS=2 RESUME=1 bash "$0" rl > /dev/null 2> "$t/loop2.log" || { cat "$t/loop2.log" >&2; exit 1; }
  mv "$t/sft.lora.gguf.away" "$t/sft.lora.gguf"
  grep -h "train rl:" "$t/loop1.log" "$t/loop2.log" >&2
  "$py" - "$t/rl/rl-curve.jsonl" <<'EOF'
import json, sys
curve = [json.loads(l) for l in open(sys.argv[1])]
assert [c["iteration"] for c in curve] == [1, 2], curve
assert all(c["episodes"] == 2 and 0 <= c["expert_mean_reward"] <= 1 for c in curve), curve
EOF
  grep -q "resuming at round 2" "$t/loop2.log"
  TRAIN_OUT=$t/rl bash "$0" curve > "$t/curve.md"
  cat "$t/curve.md" >&2
  [ "$(grep -c '^| [12] |' "$t/curve.md")" = 2 ] || { echo "train check: the curve table lacks its 2 rounds" >&2; exit 1; }
  echo "train check: ok" >&2
}

case "${1:-}" in
  setup) setup ;;
  data) setup; data "${GOALS:-5000}" "${SEED:-1}" "$out/expert.jsonl" ;;
  sft)
    setup
    if [ "$LORA_RANK" -gt 0 ]; then lr=${LR:-1e-3}; else lr=${LR:-1e-4}; fi
    "$py" train/mem1_train.py sft --base "$BASE" --data "$out/expert.jsonl" --out "$out/sft.$ext" --lora-rank "$LORA_RANK" \
      --steps "${STEPS:-1000}" --batch "${BATCH:-1}" --lr "$lr" --save-every "${SAVE_EVERY:-0}" --curve "$out/sft-curve.jsonl" \
      ${ADAPTER:+--adapter "$ADAPTER"} ;;
  rl) rl ;;
  eval) setup; evaluate "${POLICY:-$out/sft.$ext}" ;;
  curve) curve ;;
  all) "$0" data && "$0" sft && "$0" eval ;;
  check) check ;;
  *) sed -n '/^set -euo/q; 2,$p' "$0" >&2; exit 2 ;;
esac
