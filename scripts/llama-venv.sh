#!/usr/bin/env bash
# llama.cpp, through llama-cpp-python built from source (PyPI has no binary of it for Linux), in
# the ignored venv .cache/llama-venv, with its OpenAI-compatible server (`[server]`): the CPU
# baseline of scripts/bench-cpu.sh and the real server the remote-policy tests run
# (crate/tests/remote.rs). Idempotent: a venv with the pinned version is kept. The first build
# compiles llama.cpp (~12 min on 2 cores; BUILD_JOBS=N, default 2); its log goes to
# .cache/llama-venv-build.log. Prints the venv's python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

LLAMA_CPP_PYTHON_VERSION=0.3.36
venv="$root/.cache/llama-venv"
py="$venv/bin/python"

ready() {
  [ -x "$py" ] && "$py" - "$LLAMA_CPP_PYTHON_VERSION" <<'PY' 2>/dev/null
import sys, llama_cpp, llama_cpp.server.app  # the server's dependencies too
sys.exit(0 if llama_cpp.__version__ == sys.argv[1] else 1)
PY
}
if ! ready; then
  if ! command -v cc >/dev/null || ! command -v c++ >/dev/null; then
    echo "llama-venv: installing a C/C++ compiler (build-essential) ..." >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential >&2
  fi
  [ -x "$py" ] || python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip >&2
  # cmake and ninja as wheels from PyPI (the system may have neither; never build them from source).
  "$py" -m pip install -q --only-binary :all: "cmake>=3.21" ninja >&2
  echo "llama-venv: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (llama.cpp from source, native CPU);" \
       "log: .cache/llama-venv-build.log ..." >&2
  t0=$(date +%s)
  PATH="$venv/bin:$PATH" \
  CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release" \
  CMAKE_BUILD_PARALLEL_LEVEL=${BUILD_JOBS:-2} \
    nice -n 10 "$py" -m pip install -v --no-cache-dir --no-binary llama-cpp-python \
      "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" > "$root/.cache/llama-venv-build.log" 2>&1 \
    || { tail -40 "$root/.cache/llama-venv-build.log" >&2; echo "llama-venv: the llama-cpp-python build failed" >&2; exit 1; }
  echo "llama-venv: built in $(( $(date +%s) - t0 )) s" >&2
  ready || { echo "llama-venv: llama_cpp (or its server) does not import after the build" >&2; exit 1; }
fi
echo "$py"
