#!/usr/bin/env python3
"""Training of small MEM1 policies for the store (issue 9), in JAX, on the GGUF files our engine runs.

The model here is the same decoder our engine runs (crate/src/model.rs `transformer`): llama or
qwen2, RMSNorm, rotary embeddings in the GGUF's layout (adjacent pairs for llama, half split for
qwen2), grouped-query attention, SwiGLU, tied or separate output. Weights are read from a GGUF
(dequantized to f32) and written back as a GGUF (Q8_0 matrices, f32 norms and biases) with the
base file's metadata and tokenizer, so `mem1 run --model OUT.gguf` loads the result as it is.

  sft     supervised fine-tuning on expert episodes (`mem1 run --policy expert --trace-ids`):
          every turn is one example, trained on exactly the context the model sees at inference
          (task + last summary + last action + state), loss only on the model's own tokens.
  grpo    one GRPO update from rollouts of the current model (`mem1 run --temperature T --repeat G
          --trace-ids`): each goal's G episodes form a group, an episode's advantage is its reward
          minus the group's mean over the group's standard deviation, and every turn's output
          tokens are pushed up or down by it. The rollouts are on-policy, so the PPO ratio is 1 and
          its clipping never acts: one policy-gradient step with the group baseline, no KL term.
          The f32 weights and optimizer state persist in --state between iterations (the GGUF the
          rollouts use is Q8_0, too coarse to carry small updates).
  logits  the last position's logits for token ids (to check this model against the engine).

CPU or GPU: whatever `jax` finds (the pip `jax` is CPU; `jax[cuda12]` on a GPU machine).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader, GGUFValueType, GGUFWriter

import jax
import jax.numpy as jnp
import optax

LAYER_KEYS = [
    "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
    "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
]
BIAS_KEYS = ["attn_q.bias", "attn_k.bias", "attn_v.bias"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- GGUF -> config and f32 weights

class Config:
    def __init__(self, r: GGUFReader):
        f = r.fields
        self.arch = f["general.architecture"].contents()
        if self.arch not in ("llama", "qwen2"):
            raise SystemExit(f"architecture {self.arch!r} is not supported (llama, qwen2)")
        k = lambda name, d=None: f[f"{self.arch}.{name}"].contents() if f"{self.arch}.{name}" in f else d
        self.n_layers = int(k("block_count"))
        self.d = int(k("embedding_length"))
        self.ffn = int(k("feed_forward_length"))
        self.heads = int(k("attention.head_count"))
        self.kv_heads = int(k("attention.head_count_kv", self.heads))
        self.head_dim = self.d // self.heads
        self.rope_base = float(k("rope.freq_base", 10000.0))
        self.eps = float(k("attention.layer_norm_rms_epsilon", 1e-6))
        self.adjacent = self.arch == "llama"  # RopeStyle::Adjacent; qwen2 is HalfSplit
        names = {t.name for t in r.tensors}
        self.tied = "output.weight" not in names
        self.bias = "blk.0.attn_q.bias" in names


def read_model(path):
    """(config, params, reader): params hold f32 arrays, the layers stacked on a leading axis."""
    r = GGUFReader(path)
    cfg = Config(r)
    flat = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        flat[t.name] = a.reshape(shape)
    params = {"embd": flat["token_embd.weight"], "norm": flat["output_norm.weight"]}
    if not cfg.tied:
        params["output"] = flat["output.weight"]
    keys = LAYER_KEYS + (BIAS_KEYS if cfg.bias else [])
    params["layers"] = {k: np.stack([flat[f"blk.{l}.{k}"] for l in range(cfg.n_layers)]) for k in keys}
    return cfg, jax.tree_util.tree_map(jnp.asarray, params), r


# ---------------------------------------------------------------- the forward pass

def rmsnorm(x, w, eps):
    x32 = x.astype(jnp.float32)
    return x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps) * w


def rope(x, cos, sin, adjacent):
    """x [L, H, hd]; cos/sin [L, hd/2]."""
    c, s = cos[:, None, :], sin[:, None, :]
    if adjacent:
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y0, y1 = x0 * c - x1 * s, x1 * c + x0 * s
        return jnp.stack([y0, y1], axis=-1).reshape(x.shape)
    half = x.shape[-1] // 2
    x0, x1 = x[..., :half], x[..., half:]
    return jnp.concatenate([x0 * c - x1 * s, x1 * c + x0 * s], axis=-1)


def rope_tables(cfg, n):
    inv = 1.0 / (cfg.rope_base ** (np.arange(0, cfg.head_dim // 2, dtype=np.float32) * 2 / cfg.head_dim))
    ang = (np.arange(n, dtype=np.float32)[:, None] * inv[None, :]).astype(np.float64)
    return jnp.asarray(np.cos(ang), jnp.float32), jnp.asarray(np.sin(ang), jnp.float32)


def hidden(params, ids, cfg, remat=True):
    """Final-norm hidden states [L, d] of one sequence."""
    L = ids.shape[0]
    cos, sin = rope_tables(cfg, L)
    x = params["embd"][ids]
    mask = jnp.tril(jnp.ones((L, L), dtype=bool))
    H, KV, hd = cfg.heads, cfg.kv_heads, cfg.head_dim

    def layer(x, p):
        h = rmsnorm(x, p["attn_norm.weight"], cfg.eps)
        q = h @ p["attn_q.weight"].T
        k = h @ p["attn_k.weight"].T
        v = h @ p["attn_v.weight"].T
        if cfg.bias:
            q, k, v = q + p["attn_q.bias"], k + p["attn_k.bias"], v + p["attn_v.bias"]
        q = rope(q.reshape(L, H, hd), cos, sin, cfg.adjacent)
        k = rope(k.reshape(L, KV, hd), cos, sin, cfg.adjacent)
        v = v.reshape(L, KV, hd)
        k = jnp.repeat(k, H // KV, axis=1)
        v = jnp.repeat(v, H // KV, axis=1)
        s = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
        s = jnp.where(mask[None], s, -1e30)
        a = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(s, axis=-1), v).reshape(L, H * hd)
        x = x + a @ p["attn_output.weight"].T
        h = rmsnorm(x, p["ffn_norm.weight"], cfg.eps)
        m = jax.nn.silu(h @ p["ffn_gate.weight"].T) * (h @ p["ffn_up.weight"].T)
        return x + m @ p["ffn_down.weight"].T, None

    body = jax.checkpoint(layer) if remat else layer
    x, _ = jax.lax.scan(body, x, params["layers"])
    return rmsnorm(x, params["norm"], cfg.eps)


def head(params, h, cfg):
    w = params["embd"] if cfg.tied else params["output"]
    return h @ w.T


# ---------------------------------------------------------------- data

def load_turns(path, max_len):
    """Every turn of every episode in a `--trace-ids` trace: (prompt ids, output ids)."""
    turns, skipped = [], 0
    with open(path) as f:
        for line in f:
            ep = json.loads(line)
            for t in ep.get("trace", []):
                p, o = t.get("prompt_ids"), t.get("output_ids")
                if p is None or o is None:
                    raise SystemExit(f"{path}: the trace has no token ids (run `mem1 run ... --trace-ids`)")
                if len(p) + len(o) > max_len:
                    skipped += 1
                    continue
                turns.append((p, o))
    if not turns:
        raise SystemExit(f"{path}: no turns of at most {max_len} tokens")
    return turns, skipped


def bucket(n, step=256):
    return ((n + step - 1) // step) * step


def batch_of(p, o, out_max):
    """Padded inputs: ids [bucket], the positions whose next token is an output token, targets, weights."""
    full = p + o
    L = bucket(len(full))
    ids = np.zeros(L, np.int32)
    ids[: len(full)] = full
    n = min(len(o), out_max)
    pos = np.zeros(out_max, np.int32)
    tgt = np.zeros(out_max, np.int32)
    w = np.zeros(out_max, np.float32)
    pos[:n] = np.arange(len(p) - 1, len(p) - 1 + n)
    tgt[:n] = o[:n]
    w[:n] = 1.0
    return ids, pos, tgt, w


def make_loss(cfg, remat):
    def loss(params, ids, pos, tgt, w):
        h = hidden(params, ids, cfg, remat)[pos]
        logits = head(params, h, cfg).astype(jnp.float32)
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), tgt[:, None], axis=-1)[:, 0]
        return jnp.sum(nll * w), jnp.sum(w)
    return loss


# ---------------------------------------------------------------- GGUF out

def write_model(path, cfg, params, base: GGUFReader, name):
    """The trained weights as a GGUF: the base's metadata and tokenizer, Q8_0 matrices, f32 vectors."""
    w = GGUFWriter(path + ".part", cfg.arch)
    for key, field in base.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.name", "general.file_type"):
            continue
        vt = field.types[0]
        sub = field.types[-1] if vt == GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vt, sub_type=sub)
    w.add_name(name)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)

    def put(name, a):
        a = np.asarray(a, np.float32)
        if a.ndim == 2 and a.shape[-1] % 32 == 0:
            w.add_tensor(name, gguf.quants.quantize(a, QT.Q8_0), raw_dtype=QT.Q8_0)
        else:
            w.add_tensor(name, a)

    p = jax.device_get(params)
    put("token_embd.weight", p["embd"])
    put("output_norm.weight", p["norm"])
    if not cfg.tied:
        put("output.weight", p["output"])
    for l in range(cfg.n_layers):
        for k, v in p["layers"].items():
            put(f"blk.{l}.{k}", v[l])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".part", path)


# ---------------------------------------------------------------- commands

def cmd_sft(a):
    t0 = time.time()
    cfg, params, base = read_model(a.base)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))
    log(f"base {a.base}: {cfg.arch}, {cfg.n_layers} layers, d {cfg.d}, {n_params / 1e6:.1f}M parameters ({time.time() - t0:.1f}s)")
    turns, skipped = load_turns(a.data, a.max_len)
    rng = random.Random(a.seed)
    rng.shuffle(turns)
    n_eval = min(a.eval_turns, len(turns) // 5)
    evals, train = turns[:n_eval], turns[n_eval:]
    log(f"data {a.data}: {len(train)} training turns, {len(evals)} held out, {skipped} longer than {a.max_len} left out")
    sched = optax.warmup_cosine_decay_schedule(0.0, a.lr, max(1, a.steps // 10), max(2, a.steps), a.lr * 0.1)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=0.0))
    state = opt.init(params)
    # Recompute each layer in the backward pass only where activations would not fit.
    remat = a.remat if a.remat is not None else n_params > 300e6
    loss_fn = make_loss(cfg, remat)

    @jax.jit
    def step(params, state, ids, pos, tgt, w):
        (s, n), g = jax.value_and_grad(loss_fn, has_aux=True)(params, ids, pos, tgt, w)
        g = jax.tree_util.tree_map(lambda x: x / jnp.maximum(n, 1.0), g)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, s / jnp.maximum(n, 1.0)

    eval_loss = jax.jit(loss_fn)

    def evaluate(params):
        tot, cnt = 0.0, 0.0
        for p, o in evals:
            s, n = eval_loss(params, *map(jnp.asarray, batch_of(p, o, a.out_max)))
            tot, cnt = tot + float(s), cnt + float(n)
        return tot / max(cnt, 1.0)

    curve = []
    if evals:
        e = evaluate(params)
        curve.append({"step": 0, "eval_loss": e})
        log(f"step 0: held-out loss {e:.4f}")
    i = 0
    for s in range(1, a.steps + 1):
        p, o = train[i % len(train)]
        i += 1
        if i % len(train) == 0:
            rng.shuffle(train)
        ts = time.time()
        params, state, l = step(params, state, *map(jnp.asarray, batch_of(p, o, a.out_max)))
        l = float(l)
        row = {"step": s, "loss": l, "tokens": len(p) + len(o), "seconds": time.time() - ts}
        if evals and (s % a.eval_every == 0 or s == a.steps):
            row["eval_loss"] = evaluate(params)
        curve.append(row)
        log(f"step {s}/{a.steps}: loss {l:.4f} ({row['tokens']} tokens, {row['seconds']:.1f}s)"
            + (f", held-out loss {row['eval_loss']:.4f}" if "eval_loss" in row else ""))
        if a.save_every and s % a.save_every == 0 and s < a.steps:
            write_model(a.out, cfg, params, base, f"mem1-sft {os.path.basename(a.base)} step {s}")
            log(f"saved {a.out} (step {s})")
    write_model(a.out, cfg, params, base, f"mem1-sft {os.path.basename(a.base)}")
    summary = {"sft": True, "base": a.base, "out": a.out, "steps": a.steps, "train_turns": len(train), "eval_turns": len(evals),
               "first_eval_loss": curve[0].get("eval_loss") if evals else None,
               "last_eval_loss": curve[-1].get("eval_loss") if evals else None, "seconds": time.time() - t0}
    if a.curve:
        with open(a.curve, "w") as f:
            for row in curve:
                f.write(json.dumps(row) + "\n")
    print(json.dumps(summary))


def load_groups(path):
    """Episodes of a rollout trace grouped by goal (consecutive episodes of one instruction)."""
    groups = []
    with open(path) as f:
        for line in f:
            ep = json.loads(line)
            turns = [(t["prompt_ids"], t["output_ids"]) for t in ep["trace"] if t.get("output_ids")]
            if len(turns) != len(ep["trace"]):
                raise SystemExit(f"{path}: the trace has no token ids (run `mem1 run ... --trace-ids`)")
            if groups and groups[-1][0] == ep["instruction"]:
                groups[-1][1].append((ep["reward"], turns))
            else:
                groups.append((ep["instruction"], [(ep["reward"], turns)]))
    return groups


def cmd_grpo(a):
    import pickle
    t0 = time.time()
    cfg, params, base = read_model(a.base)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(a.lr, weight_decay=0.0))
    it = 0
    if a.state and os.path.exists(a.state):
        with open(a.state, "rb") as f:
            saved = pickle.load(f)
        params, state, it = jax.tree_util.tree_map(jnp.asarray, saved["params"]), jax.tree_util.tree_map(jnp.asarray, saved["opt"]), saved["iteration"]
    else:
        state = opt.init(params)
    groups = load_groups(a.rollouts)
    rewards = [r for _, eps in groups for r, _ in eps]
    work = []
    for _, eps in groups:
        r = np.array([x for x, _ in eps], np.float64)
        if len(r) < 2 or r.std() < 1e-6:
            continue  # no signal in a group whose episodes all scored the same
        adv = (r - r.mean()) / (r.std() + 1e-6)
        for (_, turns), A in zip(eps, adv):
            work.extend((p, o, float(A)) for p, o in turns if len(p) + len(o) <= a.max_len)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))
    loss_fn = make_loss(cfg, n_params > 300e6)

    @jax.jit
    def turn_grad(params, ids, pos, tgt, w):
        def mean_nll(p):
            s, n = loss_fn(p, ids, pos, tgt, w)
            return s / jnp.maximum(n, 1.0)
        return jax.value_and_grad(mean_nll)(params)

    @jax.jit
    def apply(params, state, g):
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state

    total = jax.tree_util.tree_map(jnp.zeros_like, params)
    for i, (p, o, A) in enumerate(work):
        nll, g = turn_grad(params, *map(jnp.asarray, batch_of(p, o, a.out_max)))
        # Minimising A·NLL raises the log-probability of turns that did better than their group.
        total = jax.tree_util.tree_map(lambda t, x: t + (A / len(work)) * x, total, g)
        log(f"turn {i + 1}/{len(work)}: advantage {A:+.2f}, nll {float(nll):.3f}")
    if work:
        params, state = apply(params, state, total)
    it += 1
    write_model(a.out, cfg, params, base, f"mem1-grpo {os.path.basename(a.base)} iteration {it}")
    if a.state:
        with open(a.state + ".part", "wb") as f:
            pickle.dump({"params": jax.device_get(params), "opt": jax.device_get(state), "iteration": it}, f)
        os.replace(a.state + ".part", a.state)
    print(json.dumps({"grpo": True, "iteration": it, "episodes": len(rewards), "groups": len(groups),
                      "mean_reward": float(np.mean(rewards)) if rewards else 0.0, "turns_trained": len(work),
                      "seconds": time.time() - t0}))


def cmd_logits(a):
    cfg, params, _ = read_model(a.model)
    ids = jnp.asarray([int(x) for x in a.ids.split(",")], jnp.int32)
    h = hidden(params, ids, cfg, remat=False)
    logits = np.asarray(head(params, h[-1:], cfg)[0], np.float32)
    np.save(a.out, logits)
    top = np.argsort(-logits)[:5]
    print(json.dumps({"top": [[int(i), float(logits[i])] for i in top]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sft", help="supervised fine-tuning on expert turns")
    s.add_argument("--base", required=True, help="base model GGUF (llama or qwen2)")
    s.add_argument("--data", required=True, help="trace JSONL from `mem1 run --policy expert --trace-ids`")
    s.add_argument("--out", required=True, help="the fine-tuned GGUF to write")
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--lr", type=float, default=5e-5)
    s.add_argument("--max-len", type=int, default=2048, help="turns longer than this (prompt + output) are left out")
    s.add_argument("--out-max", type=int, default=256, help="output tokens trained per turn")
    s.add_argument("--eval-turns", type=int, default=32, help="turns held out for the held-out loss")
    s.add_argument("--eval-every", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--curve", help="write the loss curve (JSONL) here")
    s.add_argument("--save-every", type=int, default=0, help="also write the model every N steps")
    s.add_argument("--remat", type=int, choices=[0, 1], default=None,
                   help="recompute layers in the backward pass (default: for models over 300M parameters)")
    g = sub.add_parser("grpo", help="one GRPO update from grouped rollouts")
    g.add_argument("--base", required=True, help="the GGUF the rollouts ran (its metadata and, without --state, its weights)")
    g.add_argument("--rollouts", required=True, help="trace JSONL of `mem1 run --temperature T --repeat G --trace-ids`")
    g.add_argument("--out", required=True, help="the updated GGUF to write")
    g.add_argument("--state", help="f32 weights and optimizer state kept between iterations (pickle)")
    g.add_argument("--lr", type=float, default=1e-5)
    g.add_argument("--max-len", type=int, default=2048)
    g.add_argument("--out-max", type=int, default=256)
    l = sub.add_parser("logits", help="last-position logits of token ids")
    l.add_argument("--model", required=True)
    l.add_argument("--ids", required=True, help="comma-separated token ids")
    l.add_argument("--out", required=True, help=".npy file for the logits")
    a = ap.parse_args()
    {"sft": cmd_sft, "grpo": cmd_grpo, "logits": cmd_logits}[a.cmd](a)


if __name__ == "__main__":
    main()
