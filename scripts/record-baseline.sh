#!/usr/bin/env bash
# Records the context-size curves the web demo plots beside its live run (web/data/baseline.json):
# the same sampled goal played by `mem1 run` in MEM1 mode and in full-history mode, natively, with
# the shipped policy (SmolLM2-135M with the bundled LoRA adapter) unless told otherwise. The JSON
# keeps the policy (the adapter's sha256), the exact commands, the backend, the date and the
# commit, so the page can say what the recorded curves are.
#   SEED=S TURNS=T BACKEND=auto|cpu|gpu   (defaults: 1, 10, auto)
#   MODEL=path.gguf LORA=adapter.gguf|none (default: the shipped policy)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q
args=(run --sample 1 --seed "${SEED:-1}" --max-turns "${TURNS:-10}" --backend "${BACKEND:-auto}" --json --no-prompts)
[ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
[ -n "${LORA:-}" ] && args+=(--lora "$LORA")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mode in mem1 full; do
  echo "record-baseline: mem1 ${args[*]} --mode $mode" >&2
  ./target/release/mem1 "${args[@]}" --mode "$mode" > "$tmp/$mode.jsonl"
done
ARGS="${args[*]}" COMMIT=$(git rev-parse --short HEAD) TMP="$tmp" node --input-type=module -e '
import fs from "node:fs";
const read = (m) => fs.readFileSync(`${process.env.TMP}/${m}.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const runs = ["mem1", "full"].map((mode) => {
  const [ep, summary] = read(mode);
  if (ep.error) throw new Error(`the ${mode} run ended by an error: ${ep.error}`);
  return { mode, context_per_turn: ep.context_per_turn, prompt_per_turn: ep.per_turn, peak_context_tokens: ep.peak_context_tokens,
           turns: ep.turns, reward: ep.reward, done: ep.done, seconds: ep.seconds, actions: ep.actions, summary, instruction: ep.instruction };
});
const s = runs[0].summary;
const out = {
  note: "context_per_turn = tokens in context at the end of each turn (the prompt plus the output of the model), measured by mem1 run natively",
  command: `mem1 ${process.env.ARGS} --mode mem1|full`,
  made_by: "scripts/record-baseline.sh",
  policy: s.policy,
  model: (s.model || "").split("/").pop(),
  lora: s.lora,
  lora_sha256: s.lora_sha256,
  backend: s.backend,
  date: new Date().toISOString().slice(0, 10),
  commit: process.env.COMMIT,
  goal: runs[0].instruction,
  runs: runs.map(({ summary, instruction, ...r }) => r),
};
fs.writeFileSync("web/data/baseline.json", JSON.stringify(out, null, 1) + "\n");
console.error(`record-baseline: wrote web/data/baseline.json (${out.policy}; ${runs.map((r) => r.mode + " " + JSON.stringify(r.context_per_turn)).join("; ")})`);
'
