#!/usr/bin/env bash
# Records the context-size curves the web demo plots beside its live run (web/data/baseline.json):
# the same sampled goal played by `mem1 run` in MEM1 mode and in full-history mode, natively, with
# the default model. The JSON keeps the exact commands, the model, the backend, the date and the
# commit, so the page can say what the recorded curves are.
#   MODEL=path.gguf BACKEND=cpu|gpu SEED=S TURNS=T   (defaults: SmolLM2, cpu, 1, 10)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q
model=${MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
args=(run --model "$model" --sample 1 --seed "${SEED:-1}" --max-turns "${TURNS:-10}" --backend "${BACKEND:-cpu}" --json --no-prompts)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mode in mem1 full; do
  echo "record-baseline: mem1 ${args[*]} --mode $mode" >&2
  ./target/release/mem1 "${args[@]}" --mode "$mode" > "$tmp/$mode.jsonl"
done
MODEL_PATH="$model" ARGS="${args[*]}" COMMIT=$(git rev-parse --short HEAD) TMP="$tmp" node --input-type=module -e '
import fs from "node:fs";
const read = (m) => fs.readFileSync(`${process.env.TMP}/${m}.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const runs = ["mem1", "full"].map((mode) => {
  const [ep, summary] = read(mode);
  return { mode, per_turn: ep.per_turn, peak_context_tokens: ep.peak_context_tokens, turns: ep.turns, reward: ep.reward,
           done: ep.done, seconds: ep.seconds, actions: ep.actions, backend: summary.backend, instruction: ep.instruction };
});
const out = {
  note: "per_turn = prompt tokens the model conditioned on at each turn, measured by mem1 run (not the browser)",
  command: `mem1 ${process.env.ARGS} --mode mem1|full`,
  made_by: "scripts/record-baseline.sh",
  model: process.env.MODEL_PATH.split("/").pop(),
  backend: runs[0].backend,
  date: new Date().toISOString().slice(0, 10),
  commit: process.env.COMMIT,
  goal: runs[0].instruction,
  runs,
};
fs.writeFileSync("web/data/baseline.json", JSON.stringify(out, null, 1) + "\n");
console.error(`record-baseline: wrote web/data/baseline.json (${runs.map((r) => r.mode + " " + JSON.stringify(r.per_turn)).join("; ")})`);
'
