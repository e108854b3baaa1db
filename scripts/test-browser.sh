#!/usr/bin/env bash
# Runs the browser test suites in headless Chromium (WebGPU on SwiftShader) and headless Firefox
# ESR (WebGPU on lavapipe), no GPU needed, installing whatever is missing first (scripts/setup.sh):
#  1. wasm-bindgen tests (crate/tests/web_gpu.rs, web_observe.rs, web_long_run.rs): serves .cache/models
#     on 127.0.0.1 with Range support (tests/serve.mjs) and runs them the ecosystem's way,
#     `wasm-pack test --headless --chrome crate` and `wasm-pack test --headless --firefox crate`
#     (chromedriver and geckodriver from scripts/setup.sh), with MEM1_MODEL_URL pointing at the
#     server; BROWSERS="chrome firefox" (the default) picks them;
#  2. the web demo: builds web/dist (scripts/build-web.sh) and runs tests/web_demo.mjs (Playwright:
#     one short episode with the bundled model, screenshot in tests/out/web_demo.png);
#  3. the extension: builds extension/dist (scripts/build-extension.sh), runs tests/hostile.mjs
#     (hostile pages read and acted on through the extension: hidden instructions, off-site links,
#     disguised purchases, sensitive fields, pages that change under the agent, huge and deep
#     pages), tests/extension.mjs (Chromium, extension loaded unpacked: episodes on the store and
#     a checkout page) and tests/extension_firefox.mjs (web-ext lint; the same store episode in
#     headless Firefox ESR through geckodriver: the toolbar button, the site permission asked for
#     from Go, the purchase confirmed, Stop).
# Exits non-zero on any failure.
#
# Environment: PROFILE=release|dev (default dev: the crate builds at opt-level 1, its dependencies
# at 2) for the wasm-bindgen tests; WASM_THREADS=1 builds them threaded (scripts/wasm-threads.sh;
# Chromium only, through cargo test: the threaded build needs std rebuilt); SKIP_DEMO=1 skips step
# 2, SKIP_EXTENSION=1 step 3; extra arguments go to the test runner (e.g. a test name filter).
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
chromedriver=${CHROMEDRIVER:-$(command -v chromedriver)}
geckodriver=${GECKODRIVER:-$(command -v geckodriver)}
unset CHROMEDRIVER GECKODRIVER SAFARIDRIVER
status=0
if [ "${WASM_THREADS:-0}" = 1 ]; then
  # The wasm-bindgen tests in the threaded build (the CPU benchmark then starts workers).
  t0=$(date +%s)
  source scripts/wasm-threads.sh
  CHROMEDRIVER=$chromedriver cargo test --target wasm32-unknown-unknown -p mem1 --test web_gpu --test web_observe --test web_long_run \
    "${profile[@]}" "${build_std[@]}" -- --nocapture "$@" || status=$?
  echo "browser tests (wasm-bindgen, threaded, Chromium): exit $status after $(( $(date +%s) - t0 )) s" >&2
else
  for browser in ${BROWSERS:-chrome firefox}; do
    t0=$(date +%s)
    code=0
    # Each browser's driver alone in the environment: the runner takes GECKODRIVER over CHROMEDRIVER.
    case $browser in
      chrome) driver=(CHROMEDRIVER="$chromedriver") ;;
      firefox) driver=(GECKODRIVER="$geckodriver") ;;
      *) echo "test-browser: unknown browser '$browser' (chrome, firefox)" >&2; exit 2 ;;
    esac
    env "${driver[@]}" wasm-pack test --headless "--$browser" crate "${profile[@]}" -- --nocapture "$@" || code=$?
    echo "browser tests (wasm-bindgen, $browser): exit $code after $(( $(date +%s) - t0 )) s" >&2
    [ "$code" = 0 ] || status=$code
  done
fi

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
