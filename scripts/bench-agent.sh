#!/usr/bin/env bash
# Agent turns with and without drafted tokens (prompt lookup in the memory block, jump-forward in
# the action; `--no-speculate` turns them off): the shipped policy on the dev goals, greedy as
# shipped, natively on the CPU backend (`mem1 run --goals dev`) and in headless Chromium on the
# threaded wasm build (tests/bench_agent.mjs, the first GOALS dev goals typed into the demo).
# Prints seconds per turn (prefill and decode), tokens per forward pass, and the ratios, measured in
# this one run; the JSON lines go to $OUT (default target/bench-agent/).
#
#   bash scripts/bench-agent.sh            native (20 goals) and browser (GOALS=5)
#   bash scripts/bench-agent.sh native     native only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
out=${OUT:-$root/target/bench-agent}
mkdir -p "$out"
cargo build --release -q --bin mem1
bash scripts/fetch-models.sh >/dev/null

for flag in "" --no-speculate; do
  name=${flag:-drafts}
  echo "bench-agent: native, dev goals, ${flag:-with drafts} ..." >&2
  ./target/release/mem1 run --goals dev --backend cpu --json $flag 2>/dev/null | tail -1 > "$out/native-${name#--}.json"
done
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/native-drafts.json"))
n = json.load(open(f"{sys.argv[1]}/native-no-speculate.json"))
row = lambda k, r: print(f"  {k:<12} {r['seconds_per_turn']:6.2f} s a turn (prefill {r['prefill_seconds_per_turn']:.2f}, decode {r['decode_seconds_per_turn']:.2f}), {r['tokens_per_forward']:.2f} tokens a forward pass, score {r['score']:.1f}")
print(f"native ({d['backend']}), {d['episodes']} dev goals:")
row("drafts", d)
row("no drafts", n)
print(f"  decode {n['decode_seconds_per_turn'] / d['decode_seconds_per_turn']:.2f}x, turn {n['seconds_per_turn'] / d['seconds_per_turn']:.2f}x faster with drafts; "
      f"{100 * d['draft_acceptance']:.0f} % of draft tokens taken (memory {d['drafts']['memory']}, action {d['drafts']['action']} checked/taken)")
PY

if [ "${1:-}" != native ]; then
  bash scripts/build-web.sh >/dev/null
  (cd tests && [ -d node_modules/playwright-core ] || npm ci --silent)
  node tests/bench_agent.mjs | tee "$out/browser.json" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for k in ("drafts", "no_drafts"):
    x = r[k]
    print(f"  {k:<12} {x[\"seconds_per_turn\"]:6.2f} s a turn (prefill {x[\"prefill_seconds_per_turn\"]:.2f}, decode {x[\"decode_seconds_per_turn\"]:.2f}), {x[\"tokens_per_forward\"]:.2f} tokens a forward pass")
print(f"  decode {r[\"decode_speedup\"]:.2f}x, turn {r[\"turn_speedup\"]:.2f}x faster with drafts ({r[\"goals\"]} dev goals, {r[\"where\"]})")'
fi
