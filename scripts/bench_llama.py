#!/usr/bin/env python3
"""llama.cpp CPU baseline through llama-cpp-python, matching `mem1 bench`'s workload.

For each GGUF model: load it on the CPU (n_threads = n_threads_batch = --threads, no GPU layers),
evaluate a prompt of exactly --prompt-tokens fixed token ids (100 + i % 1000, clipped to the
vocabulary, as `mem1 bench` uses) as one batch (prefill), then decode --decode-tokens greedy tokens
one at a time (llm.eval([tok]) + argmax of the last logits). The KV cache is cleared before every
repeat. The BEST (fastest) of --repeats runs is reported separately for prefill and for decode.
One JSON line per model on stdout:

  {"engine": "llama.cpp (llama-cpp-python X)", "model": ..., "threads": N, "prefill_tokens": ...,
   "prefill_tok_s": ..., "decode_tokens": ..., "decode_tok_s": ...}

Run with the venv built by scripts/bench-cpu.sh:
  .cache/llama-venv/bin/python scripts/bench_llama.py --model A.gguf --model B.gguf --threads 2
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama


def clear_kv(llm):
    """Empty the KV cache and the Python-side token history, whatever the installed version offers."""
    llm.reset()  # n_tokens = 0 (python side)
    ctx = llm._ctx
    for name in ("kv_cache_clear", "memory_clear"):
        fn = getattr(ctx, name, None)
        if fn is not None:
            try:
                fn()
                return
            except TypeError:
                pass
    # Fall back to the raw C API (names differ between llama.cpp versions).
    if hasattr(llama_cpp, "llama_memory_clear") and hasattr(llama_cpp, "llama_get_memory"):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx.ctx), True)
    elif hasattr(llama_cpp, "llama_kv_self_clear"):
        llama_cpp.llama_kv_self_clear(ctx.ctx)
    else:
        llama_cpp.llama_kv_cache_clear(ctx.ctx)


def cpu_times():
    """(machine busy jiffies, machine total jiffies, this process's jiffies), or None off Linux."""
    try:
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        own = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return sum(f[:8]) - idle, sum(f[:8]), int(own[11]) + int(own[12])  # utime + stime


def other_cpu_pct(t0, t1):
    """Share of the machine's CPU time used by OTHER processes between two cpu_times() samples."""
    if t0 is None or t1 is None or t1[1] == t0[1]:
        return None
    return round(100.0 * max(0, (t1[0] - t0[0]) - (t1[2] - t0[2])) / (t1[1] - t0[1]), 1)


def wait_idle(max_s, busy_pct=10.0, window_s=10.0):
    """Wait (at most max_s seconds) until the machine was < busy_pct % busy over window_s seconds."""
    deadline = time.time() + max_s
    while time.time() < deadline:
        t0 = cpu_times()
        if t0 is None:
            return True
        time.sleep(window_s)
        t1 = cpu_times()
        busy = 100.0 * (t1[0] - t0[0]) / max(1, t1[1] - t0[1])
        if busy < busy_pct:
            return True
        print(f"waiting for an idle machine ({busy:.0f}% busy) ...", file=sys.stderr)
    print("the machine is still busy; measuring anyway", file=sys.stderr)
    return False


def greedy(llm, n_vocab):
    """Argmax of the logits of the last evaluated position."""
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
    return int(np.argmax(logits))


def bench_model(path, threads, n_prompt, n_decode, repeats, flash_attn=False):
    llm = Llama(
        model_path=path,
        n_gpu_layers=0,
        n_threads=threads,
        n_threads_batch=threads,
        n_ctx=n_prompt + n_decode + 16,
        n_batch=max(512, n_prompt),
        n_ubatch=max(512, n_prompt),
        logits_all=False,
        flash_attn=flash_attn,
        verbose=False,
    )
    n_vocab = llm.n_vocab()
    prompt = [min(100 + i % 1000, n_vocab - 1) for i in range(n_prompt)]

    best_prefill = float("inf")
    best_decode = float("inf")
    first_tokens = None
    c0 = cpu_times()
    # One untimed warm-up (page faults, thread pool start-up), then `repeats` timed runs.
    for rep in range(repeats + 1):
        clear_kv(llm)
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        # With logits_all=False, Llama.eval() does not copy logits into llm.scores (0.3.x), so read
        # the last output row straight from llama.cpp (counted in the decode time, like sampling).
        tok = greedy(llm, n_vocab)
        out = [tok]
        t2 = time.perf_counter()
        for _ in range(n_decode):
            llm.eval([tok])
            tok = greedy(llm, n_vocab)
            out.append(tok)
        t3 = time.perf_counter()
        if first_tokens is None:
            first_tokens = out[:8]
        elif out[:8] != first_tokens:
            print(f"warning: greedy output differs between repeats for {path}", file=sys.stderr)
        if rep == 0:
            continue
        best_prefill = min(best_prefill, t1 - t0)
        best_decode = min(best_decode, t3 - t2)

    other = other_cpu_pct(c0, cpu_times())
    del llm
    return {
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "model": os.path.basename(path),
        "threads": threads,
        "prefill_tokens": n_prompt,
        "prefill_tok_s": round(n_prompt / best_prefill, 2),
        "decode_tokens": n_decode,
        "decode_tok_s": round(n_decode / best_decode, 2),
        "flash_attn": flash_attn,
        "first_tokens": first_tokens,
        "repeats": repeats,
        "stat": "best",
        # CPU share (% of all cores) taken by other processes during the runs: well above 0 means
        # they competed for the cores and the figures are low (llama.cpp's spinning thread barriers
        # degrade badly when one of its threads is descheduled).
        "other_cpu_pct": other,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", nargs="+", required=True, help="GGUF path(s); repeatable")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=300)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up; the best is reported")
    ap.add_argument("--flash-attn", action="store_true",
                    help="use llama.cpp's flash-attention kernel (llama-cpp-python's default is off)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each model, wait up to this long for the machine to be idle")
    ap.add_argument("--system-info", action="store_true", help="print llama.cpp's CPU feature line to stderr")
    a = ap.parse_args()
    models = [m for group in a.model for m in group]
    if a.system_info:
        print(llama_cpp.llama_print_system_info().decode(), file=sys.stderr)
    for m in models:
        if a.wait_idle > 0:
            wait_idle(a.wait_idle)
        r = bench_model(m, a.threads, a.prompt_tokens, a.decode_tokens, a.repeats, a.flash_attn)
        print(json.dumps(r), flush=True)
        if (r["other_cpu_pct"] or 0) > 5:
            print(f"warning: other processes used {r['other_cpu_pct']}% of the CPU during the {r['model']} "
                  "runs; its figures are low", file=sys.stderr)


if __name__ == "__main__":
    main()
