#!/usr/bin/env bash
# Runs the browser test suites in headless Chromium with WebGPU (SwiftShader, no GPU needed),
# installing whatever is missing first (scripts/setup.sh):
#  1. wasm-bindgen tests (crate/tests/web_gpu.rs, web_observe.rs, web_long_run.rs): serves .cache/models
#     on 127.0.0.1 with Range support (tests/serve.mjs), runs `cargo test --target
#     wasm32-unknown-unknown -p mem1 --test web_gpu --test web_observe --test web_long_run` with MEM1_MODEL_URL
#     pointing at it, and stops the server;
#  2. the web demo: builds web/dist (scripts/build-web.sh) and runs tests/web_demo.mjs (Playwright:
#     one short episode with the bundled model, screenshot in tests/out/web_demo.png);
#  3. the extension: builds extension/dist (scripts/build-extension.sh), runs tests/hostile.mjs
#     (hostile pages read and acted on through the extension: hidden instructions, off-site links,
#     disguised purchases, sensitive fields, pages that change under the agent, huge and deep
#     pages), tests/extension.mjs (Chromium, extension loaded unpacked: episodes on the store and
#     a checkout page) and tests/extension_firefox.mjs (web-ext lint, installed in headless
#     Firefox ESR).
# Exits non-zero on any failure.
#
# Environment: PROFILE=release|dev (default dev: the crate builds at opt-level 1, its dependencies
# at 2) for the wasm-bindgen tests; WASM_THREADS=1 builds them threaded (scripts/wasm-threads.sh); SKIP_DEMO=1 skips step 2, SKIP_EXTENSION=1 step 3; extra arguments go to the test
# runner (e.g. a test name filter).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash "$root/scripts/setup.sh"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# --- model server (stops when this script exits: its stdin is a pipe we hold) ------------------
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  exec 9>&- 2>/dev/null || true
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$tmp/stdin"
node "$root/tests/serve.mjs" "$root/.cache/models" 0 <"$tmp/stdin" >"$tmp/serve.log" 2>&1 &
server_pid=$!
exec 9>"$tmp/stdin"
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/serve.log")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "model server did not start:" >&2; cat "$tmp/serve.log" >&2; exit 1; }
echo "model server on http://127.0.0.1:$port (pid $server_pid)" >&2

# --- the tests ---------------------------------------------------------------------------------
profile=()
[ "${PROFILE:-dev}" = release ] && profile=(--release)
export MEM1_MODEL_URL="http://127.0.0.1:$port"
export CARGO_PROFILE_DEV_DEBUG=false
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$root/webdriver.json"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
unset GECKODRIVER SAFARIDRIVER
t0=$(date +%s)
status=0
build_std=()
# WASM_THREADS=1: the wasm-bindgen tests in the threaded build (the CPU benchmark then starts workers).
if [ "${WASM_THREADS:-0}" = 1 ]; then source scripts/wasm-threads.sh; fi
cargo test --target wasm32-unknown-unknown -p mem1 --test web_gpu --test web_observe --test web_long_run "${profile[@]}" "${build_std[@]}" -- --nocapture "$@" || status=$?
echo "browser tests (wasm-bindgen): exit $status after $(( $(date +%s) - t0 )) s" >&2

if [ -z "${SKIP_DEMO:-}" ]; then
  t1=$(date +%s)
  demo=0
  bash scripts/build-web.sh && node tests/web_demo.mjs || demo=$?
  echo "browser tests (web demo): exit $demo after $(( $(date +%s) - t1 )) s" >&2
  [ "$demo" = 0 ] || status=$demo
fi

if [ -z "${SKIP_EXTENSION:-}" ]; then
  t2=$(date +%s)
  ext=0
  { cargo build --release -q --bin mem1 && bash scripts/build-extension.sh && node tests/hostile.mjs && node tests/extension.mjs \
      && node tests/extension_firefox.mjs; } || ext=$?
  echo "browser tests (extension): exit $ext after $(( $(date +%s) - t2 )) s" >&2
  [ "$ext" = 0 ] || status=$ext
fi
exit $status
