#!/usr/bin/env bash
# MEM1's curve on shopping lists (issue 36): for lists of N items (ITEMS, default "1 2 4 8 16"),
# LISTS lists each (default 3, drawn with --sample LISTS --seed SEED), the policy in MEM1 mode and
# with its full history, both with the same KV cache (KV tokens, default 4096): the mean item
# score, the peak context, seconds a turn, and how many episodes the KV limit ended (full history
# is not truncated: an episode whose context outgrows the cache ends with that error).
#
#   bash scripts/bench-lists.sh                      the shipped policy (models/ adapter)
#   POLICY=expert bash scripts/bench-lists.sh        the visible expert (no model runs: seconds)
#   ITEMS="1 2 4" LISTS=2 KV=4096 bash scripts/bench-lists.sh
#
# Prints one JSON line per run to stderr and the table to stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
[ -f .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf ] || bash scripts/fetch-models.sh >/dev/null
cargo build --release -q -p mem1
mem1=target/release/mem1
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"

items=${ITEMS:-1 2 4 8 16}
lists=${LISTS:-3}
kv=${KV:-4096}
case "${POLICY:-model}" in
  model) who=(--backend "${BACKEND:-cpu}" --ctx "$kv") ;;
  expert) who=(--policy expert --ctx "$kv") ;;
  *) echo "bench-lists: POLICY is model or expert" >&2; exit 2 ;;
esac

rows=()
for n in $items; do
  for mode in mem1 full; do
    line=$("$mem1" run "${who[@]}" --items "$n" --sample "$lists" --seed "${SEED:-7}" --mode "$mode" --json --no-prompts \
      | python3 -c '
import json, sys
eps, summary = [], None
for l in sys.stdin:
    v = json.loads(l)
    if v.get("summary"):
        summary = v
    else:
        eps.append(v)
over = sum(1 for e in eps if e.get("error") and ("context" in e["error"] or "KV" in e["error"]))
print(json.dumps({"items": int(sys.argv[1]), "mode": sys.argv[2], "lists": len(eps), "score": summary["score"],
    "mean_peak_context_tokens": summary["mean_peak_context_tokens"], "peak_context_tokens": summary["peak_context_tokens"],
    "seconds_per_turn": summary["seconds_per_turn"], "mean_turns": summary["mean_turns"], "kv_limit_ended": over,
    "errors": summary["errors"], "policy": summary["policy"]}))' "$n" "$mode")
    echo "$line" >&2
    rows+=("$line")
  done
done

printf '%s\n' "${rows[@]}" | KV=$kv LISTS=$lists python3 -c "$(cat <<'PY'
import json, os, sys
rows = [json.loads(l) for l in sys.stdin]
print("policy: %s, KV cache %s tokens, %s lists each" % (rows[0]["policy"], os.environ["KV"], os.environ["LISTS"]))
print("| items | mode | mean item score | mean peak context | peak context | s a turn | turns | ended by the KV limit |")
print("|---|---|---|---|---|---|---|---|")
one = {r["mode"]: r for r in rows if r["items"] == 1}
for r in rows:
    base = one.get(r["mode"])
    ratio = " (%.2fx)" % (r["mean_peak_context_tokens"] / base["mean_peak_context_tokens"]) if base and r["items"] > 1 else ""
    print("| %d | %s | %.1f | %.0f%s | %d | %.2f | %.1f | %d of %d |" % (r["items"], r["mode"], r["score"], r["mean_peak_context_tokens"], ratio,
          r["peak_context_tokens"], r["seconds_per_turn"], r["mean_turns"], r["kv_limit_ended"], r["lists"]))
PY
)"
