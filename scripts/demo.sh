#!/usr/bin/env bash
# The main job: set up, build, and serve the store on 127.0.0.1 (Ctrl-C stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cargo build --release -q
port=${PORT:-3000}
echo "mem1: the WebShop-style store is at http://127.0.0.1:$port/fixed_0" >&2
exec ./target/release/mem1 shop serve --port "$port"
