#!/usr/bin/env bash
# The GPU benchmark: `mem1 bench --synthetic` (random weights of real models' shapes, built in
# memory: nothing to download) on Qwen2.5-0.5B, -1.5B and -7B in Q4_K and Q4_0. For each: prefill
# and decode tokens/s, every kernel's time and achieved GB/s in one decode step, the copy kernel's
# bandwidth as the roofline and decode's share of it, and an agent turn (a 1,400-token prompt, a
# 64-token summary, a 24-token action under the constrained-decoding mask) in seconds, with the
# submissions and bytes read back per generated token; and what checking an 8-token draft in one
# submission costs, in decode steps (the agent drafts where a check costs less than the tokens it
# saves: on a memory-bound GPU it should be near 1).
#
#   bash scripts/bench-gpu.sh          the whole benchmark (for a real GPU)
#   bash scripts/bench-gpu.sh smoke    SmolLM2-135M shapes and a few tokens (what the suite runs on lavapipe)
#
# Needs only the built binary (MEM1_BIN, default target/release/mem1; built here when cargo is
# there): on a lent GPU machine, carry target/release/mem1 and run this script as is. One JSON
# line per run goes to $OUT (default target/bench-gpu/), and a table to stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MEM1_BIN:-$root/target/release/mem1}
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p mem1)
fi
out=${OUT:-$root/target/bench-gpu}
mkdir -p "$out"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"

if [ "${1:-}" = smoke ]; then
  runs=("smollm2-135m q4_0")
  flags=(--prompt-tokens 32 --decode-tokens 4 --turn --summary-tokens 4 --action-tokens 4 --copy-mib 16)
else
  runs=()
  for m in qwen2.5-0.5b qwen2.5-1.5b qwen2.5-7b; do
    for q in q4_k q4_0; do runs+=("$m $q"); done
  done
  flags=(--prompt-tokens 512 --decode-tokens 64 --repeats 3 --turn)
fi

printf '%-14s %-5s %9s %9s %9s %10s %8s %9s %7s %7s %9s\n' model quant prefill decode roofline 'of roofl.' 'copy' 'turn' 'sub/tok' 'B/tok' 'check 8'
printf '%-14s %-5s %9s %9s %9s %10s %8s %9s %7s %7s %9s\n' '' '' 'tok/s' 'tok/s' 'tok/s' '' 'GB/s' 's' '' '' 'steps'
for run in "${runs[@]}"; do
  read -r model quant <<<"$run"
  file="$out/$model-$quant.json"
  "$bin" bench --synthetic "$model" --quant "$quant" --backend gpu "${flags[@]}" >"$file"
  # The figures the table shows, read from the JSON line with the shell alone (no jq/python needed).
  get() { grep -o "\"$1\":[-0-9.e+]*" "$file" | head -1 | cut -d: -f2; }
  printf '%-14s %-5s %9.1f %9.1f %9.1f %9.1f%% %8.2f %9.2f %7.3f %7.1f %9.2f\n' "$model" "$quant" \
    "$(get prefill_tok_s)" "$(get decode_tok_s)" "$(get roofline_tok_s)" "$(awk "BEGIN{print 100*$(get decode_vs_roofline)}")" \
    "$(get copy_gb_s)" "$(get turn_seconds)" "$(get submissions_per_token)" "$(get readback_bytes_per_token)" "$(get check8_decode_steps)"
done
echo "device: $(grep -o '"backend":"[^"]*"' "$file" | cut -d'"' -f4)"
echo "per-kernel times and GB/s: $out/*.json (\"kernels\")"
