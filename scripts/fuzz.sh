#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer) over the targets in crate/fuzz: gguf, tokenizer, action,
# observe (their bodies are mem1::fuzzing; crashes found become files under crate/tests/fuzz/).
#
#   scripts/fuzz.sh smoke [SECONDS]      every target for SECONDS (default 20) from the seeds; the
#                                        test suite runs this
#   scripts/fuzz.sh run TARGET [RUNS]    one target for RUNS executions (default 10,000,000), the
#                                        corpus kept in .cache/fuzz/corpus/TARGET; MAX_TIME=S stops
#                                        it after S seconds whatever the count; JOBS=N runs N
#                                        libFuzzer processes on the one corpus (RUNS/N each, one
#                                        core each) and reports their sum
#
# Installs cargo-fuzz (crates.io) when missing. Builds with the nightly toolchain when one is
# installed, else with the stable one and RUSTC_BOOTSTRAP=1 (libFuzzer's instrumentation flags).
# No sanitizer (-s none): the code is safe Rust, so the bugs to find are panics, hangs (-timeout)
# and runaway memory (-malloc_limit_mb, -rss_limit_mb), which libFuzzer catches itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
mode=${1:-smoke}

command -v cargo-fuzz >/dev/null || { echo "fuzz: installing cargo-fuzz (once)" >&2; cargo install -q --locked cargo-fuzz; }
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi
targets=(gguf tokenizer action observe)
limits=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)
# Largest input per target: a tiny model with its tokenizer; an HTML page.
max_len() { case $1 in gguf) echo 65536 ;; observe) echo 16384 ;; *) echo 8192 ;; esac; }

seeds=.cache/fuzz/seeds
if [ ! -d "$seeds/observe" ]; then
  cargo run -q --release --example fuzz_seeds -- "$seeds"
fi
(cd crate && "${fuzz[@]}" build -O -s none >&2)
bin=crate/fuzz/target/x86_64-unknown-linux-gnu/release

# libFuzzer's last status line: "#RUNS DONE cov: ... corp: N/SIZE ... exec/s: R ..."
report() { grep -E '^#[0-9]+[[:space:]]+DONE' "$2" | tail -1 | sed "s/^/$1: /"; }
fail() { echo "fuzz: $1 failed; the input is under crate/fuzz/artifacts/$1/:" >&2; grep -E 'panicked|ERROR|SUMMARY' "$2" >&2 || tail -20 "$2" >&2; exit 1; }

case $mode in
  smoke)
    secs=${2:-20}
    for t in "${targets[@]}"; do
      work=$(mktemp -d)
      mkdir -p crate/fuzz/artifacts/$t
      "$bin/$t" "$work" "$seeds/$t" -max_total_time="$secs" -max_len="$(max_len $t)" "${limits[@]}" \
        -artifact_prefix=crate/fuzz/artifacts/$t/ >"$work.log" 2>&1 || fail "$t" "$work.log"
      report "$t" "$work.log"
      rm -rf "$work" "$work.log"
    done
    ;;
  run)
    t=${2:?usage: fuzz.sh run TARGET [RUNS]}
    runs=${3:-10000000}
    jobs=${JOBS:-1}
    corpus=.cache/fuzz/corpus/$t
    mkdir -p "$corpus" crate/fuzz/artifacts/$t
    start=$(date +%s)
    pids=()
    for j in $(seq 1 "$jobs"); do
      # Each process writes what it finds into the corpus and picks up the others' finds (-reload).
      "$bin/$t" "$corpus" "$seeds/$t" -runs="$(( (runs + jobs - 1) / jobs ))" -max_len="$(max_len $t)" "${limits[@]}" \
        ${MAX_TIME:+-max_total_time=$MAX_TIME} -print_final_stats=1 -artifact_prefix=crate/fuzz/artifacts/$t/ \
        >".cache/fuzz/$t.$j.log" 2>&1 &
      pids+=($!)
    done
    total=0
    for j in $(seq 1 "$jobs"); do
      log=.cache/fuzz/$t.$j.log
      # One process failing stops the others: the campaign has a crash to look at.
      wait "${pids[$((j - 1))]}" || { kill "${pids[@]}" 2>/dev/null || true; fail "$t" "$log"; }
      report "$t[$j]" "$log"
      total=$(( total + $(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}') ))
    done
    echo "$t: $total executions in $(( $(date +%s) - start )) s by $jobs process(es); corpus $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
    ;;
  *) echo "usage: fuzz.sh smoke [SECONDS] | run TARGET [RUNS]" >&2; exit 2 ;;
esac
