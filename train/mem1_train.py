#!/usr/bin/env python3
"""Training of small MEM1 policies for the store (issue 9), in JAX, on the GGUF files our engine runs.

The model here is the same decoder our engine runs (crate/src/model.rs `transformer`): llama or
qwen2, RMSNorm, rotary embeddings in the GGUF's layout (adjacent pairs for llama, half split for
qwen2), grouped-query attention, SwiGLU, tied or separate output. Weights are read from a GGUF
(dequantized to f32). What is trained is a LoRA adapter over them (--lora-rank R, the default;
written as a LoRA GGUF in llama.cpp's layout, which `mem1 run --model BASE --lora OUT` merges at
load time), or the whole model (--lora-rank 0; written as a GGUF with Q8_0 matrices, f32 norms and
biases, the base file's metadata and tokenizer, which `mem1 run --model OUT` loads as it is).
A turn's gradient is taken from a prefix cache: the prompt's keys and values computed without
gradient, the output's positions trained reading them (--prefix-grad: through the prompt too).

  sft     supervised fine-tuning on expert episodes (`mem1 run --policy expert --trace-ids`):
          every turn is one example, trained on exactly the context the model sees at inference
          (task + last summary + last action + state), loss only on the model's own tokens.
  grpo    one GRPO update from rollouts of the current model (`mem1 run --temperature T --repeat G
          --trace-ids`): each goal's G episodes form a group, an episode's advantage is its reward
          minus the group's mean over the group's standard deviation, and every turn's output
          tokens are pushed up or down by it. The rollouts are on-policy, so the PPO ratio is 1 and
          its clipping never acts: one policy-gradient step with the group baseline, no KL term.
          The f32 weights (or the adapter, --adapter) and optimizer state persist in --state
          between iterations (the GGUF the rollouts use is Q8_0, too coarse to carry small updates).
  bench   seconds per training turn, gradient through the whole sequence against from a prefix
          cache, on the same turns in one run.
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


LORA_TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def lin(h, p, l, name, scale):
    """h @ W.T, plus the low-rank update scale·B·A where a LoRA adapter holds one for this matrix."""
    y = h @ p[f"{name}.weight"].T
    if l is not None and name in l:
        y = y + scale * ((h @ l[name]["a"].T) @ l[name]["b"].T)
    return y


def block(x, p, l, cfg, cos, sin, scale, past=None):
    """One decoder layer over x [L, d] at the positions of cos/sin [L, hd/2]. past = (k, v, valid):
    rotated keys and values [P, KV, hd] of earlier positions, valid [P] marking the real ones.
    Returns the new x and this call's rotated keys and values (a prefix's cache)."""
    L = x.shape[0]
    H, KV, hd = cfg.heads, cfg.kv_heads, cfg.head_dim
    h = rmsnorm(x, p["attn_norm.weight"], cfg.eps)
    q, k, v = (lin(h, p, l, n, scale) for n in ("attn_q", "attn_k", "attn_v"))
    if cfg.bias:
        q, k, v = q + p["attn_q.bias"], k + p["attn_k.bias"], v + p["attn_v.bias"]
    q = rope(q.reshape(L, H, hd), cos, sin, cfg.adjacent)
    k = rope(k.reshape(L, KV, hd), cos, sin, cfg.adjacent)
    v = v.reshape(L, KV, hd)
    mask = jnp.tril(jnp.ones((L, L), dtype=bool))
    keys, vals = k, v
    if past is not None:
        kp, vp, valid = past
        keys, vals = jnp.concatenate([kp, k]), jnp.concatenate([vp, v])
        mask = jnp.concatenate([jnp.broadcast_to(valid[None, :], (L, kp.shape[0])), mask], axis=1)
    keys = jnp.repeat(keys, H // KV, axis=1)
    vals = jnp.repeat(vals, H // KV, axis=1)
    s = jnp.einsum("qhd,khd->hqk", q, keys) / math.sqrt(hd)
    s = jnp.where(mask[None], s, -1e30)
    a = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(s, axis=-1), vals).reshape(L, H * hd)
    x = x + lin(a, p, l, "attn_output", scale)
    h = rmsnorm(x, p["ffn_norm.weight"], cfg.eps)
    m = jax.nn.silu(lin(h, p, l, "ffn_gate", scale)) * lin(h, p, l, "ffn_up", scale)
    return x + lin(m, p, l, "ffn_down", scale), k, v


def hidden(params, ids, cfg, remat=True, lora=None, scale=0.0):
    """Final-norm hidden states [L, d] of one sequence."""
    L = ids.shape[0]
    cos, sin = rope_tables(cfg, L)

    def layer(x, pl):
        x, _, _ = block(x, pl[0], pl[1], cfg, cos, sin, scale)
        return x, None

    body = jax.checkpoint(layer) if remat else layer
    x, _ = jax.lax.scan(body, params["embd"][ids], (params["layers"], lora))
    return rmsnorm(x, params["norm"], cfg.eps)


MAX_POS = 8192


def prefix_cache(params, ids, cfg, lora=None, scale=0.0):
    """Every layer's rotated keys and values [n_layers, L, KV, hd] for the tokens ids at positions 0..L-1."""
    cos, sin = rope_tables(cfg, ids.shape[0])

    def layer(x, pl):
        x, k, v = block(x, pl[0], pl[1], cfg, cos, sin, scale)
        return x, (k, v)

    _, (k, v) = jax.lax.scan(layer, params["embd"][ids], (params["layers"], lora))
    return k, v


def suffix_hidden(params, ids, start, kpre, vpre, n_pre, cfg, remat, lora=None, scale=0.0):
    """Final-norm hidden states of ids at positions start.. after a prefix whose cache is kpre/vpre
    (its first n_pre rows real, the rest padding): the same states as hidden() on the whole sequence."""
    cos_t, sin_t = rope_tables(cfg, MAX_POS)
    pos = start + jnp.arange(ids.shape[0])
    cos, sin = cos_t[pos], sin_t[pos]
    valid = jnp.arange(kpre.shape[1]) < n_pre

    def layer(x, pl):
        x, _, _ = block(x, pl[0], pl[1], cfg, cos, sin, scale, past=(pl[2], pl[3], valid))
        return x, None

    body = jax.checkpoint(layer) if remat else layer
    x, _ = jax.lax.scan(body, params["embd"][ids], (params["layers"], lora, kpre, vpre))
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


def split_of(p, o, out_max):
    """The same turn as a prefix (the prompt but its last token, whose cache is computed without
    gradient) and a suffix (the prompt's last token and the output, trained): prefix ids [bucket
    512], its length, suffix ids [bucket 128], the suffix's first position, targets, weights."""
    n_pre = len(p) - 1
    pre = np.zeros(bucket(max(n_pre, 1), 512), np.int32)
    pre[:n_pre] = p[:-1]
    n = min(len(o), out_max)
    suf = np.zeros(bucket(n, 128), np.int32)
    suf[0] = p[-1]
    suf[1:n] = o[: n - 1]
    tgt = np.zeros_like(suf)
    tgt[:n] = o[:n]
    w = np.zeros(suf.shape, np.float32)
    w[:n] = 1.0
    return pre, np.int32(n_pre), suf, np.int32(n_pre), tgt, w


def parts(train, frozen):
    """(params, lora) from what is trained and what is frozen: a LoRA adapter over frozen base
    weights (frozen holds the base), or the whole model (frozen is None)."""
    return (frozen, train) if frozen is not None else (train, None)


def nll_sum(params, h, tgt, w, cfg, temp=1.0):
    """Summed NLL of the targets under softmax(logits / temp): the distribution the engine samples
    at that temperature (before its top-k cut)."""
    logits = head(params, h, cfg).astype(jnp.float32) / temp
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), tgt[:, None], axis=-1)[:, 0]
    return jnp.sum(nll * w), jnp.sum(w)


def make_loss(cfg, remat, scale=0.0, temp=1.0):
    """Summed NLL of a turn's output tokens over the whole sequence (gradient through the prompt too)."""
    def loss(train, frozen, ids, pos, tgt, w):
        params, lora = parts(train, frozen)
        return nll_sum(params, hidden(params, ids, cfg, remat, lora, scale)[pos], tgt, w, cfg, temp)
    return loss


def make_split_loss(cfg, remat, scale=0.0, temp=1.0):
    """The same summed NLL from a prefix cache: the gradient reaches the output's own positions and
    how they read the prompt, not the prompt's keys and values (about 2.5x less work per turn)."""
    def loss(train, frozen, kpre, vpre, n_pre, ids, start, tgt, w):
        params, lora = parts(train, frozen)
        return nll_sum(params, suffix_hidden(params, ids, start, kpre, vpre, n_pre, cfg, remat, lora, scale), tgt, w, cfg, temp)
    return loss


class TurnLoss:
    """Per-turn loss and gradient, jitted once per shape bucket: through the whole sequence
    (prefix_grad) or from a prefix cache computed without gradient."""

    def __init__(self, cfg, remat, scale, out_max, prefix_grad, temp=1.0):
        self.out_max, self.prefix_grad = out_max, prefix_grad
        whole, split = make_loss(cfg, remat, scale, temp), make_split_loss(cfg, remat, scale, temp)
        self.whole = jax.jit(whole)

        def prefix(train, frozen, ids):
            params, lora = parts(train, frozen)
            return prefix_cache(params, ids, cfg, lora, scale)

        self.prefix = jax.jit(prefix)
        self.split = jax.jit(split)
        self.grad_whole = jax.jit(jax.value_and_grad(whole, has_aux=True))
        self.grad_split = jax.jit(jax.value_and_grad(split, has_aux=True))

    def value(self, train, frozen, p, o):
        """(summed NLL, tokens) through the whole sequence, no gradient."""
        s, n = self.whole(train, frozen, *map(jnp.asarray, batch_of(p, o, self.out_max)))
        return float(s), float(n)

    def value_split(self, train, frozen, p, o):
        pre, n_pre, suf, start, tgt, w = split_of(p, o, self.out_max)
        k, v = self.prefix(train, frozen, jnp.asarray(pre))
        s, n = self.split(train, frozen, k, v, n_pre, jnp.asarray(suf), start, jnp.asarray(tgt), jnp.asarray(w))
        return float(s), float(n)

    def grad(self, train, frozen, p, o):
        """((summed NLL, tokens), gradient with respect to train)."""
        if self.prefix_grad:
            return self.grad_whole(train, frozen, *map(jnp.asarray, batch_of(p, o, self.out_max)))
        pre, n_pre, suf, start, tgt, w = split_of(p, o, self.out_max)
        k, v = self.prefix(train, frozen, jnp.asarray(pre))
        return self.grad_split(train, frozen, k, v, n_pre, jnp.asarray(suf), start, jnp.asarray(tgt), jnp.asarray(w))


def check_split(losses, train, frozen, p, o):
    """The prefix-cache path must give the whole-sequence loss (same model, two orders of work)."""
    a, _ = losses.value(train, frozen, p, o)
    b, _ = losses.value_split(train, frozen, p, o)
    log(f"loss through the whole sequence {a:.4f}, from a prefix cache {b:.4f}")
    if abs(a - b) > 1e-3 * max(1.0, abs(a)):
        raise SystemExit(f"the prefix-cache loss {b} differs from the whole-sequence loss {a}")


# ---------------------------------------------------------------- LoRA adapters

def lora_init(params, rank, seed):
    """A fresh adapter: A small and random, B zero (so the adapted model starts as the base)."""
    key = jax.random.PRNGKey(seed)
    out = {}
    for i, t in enumerate(LORA_TARGETS):
        n, o, inp = params["layers"][f"{t}.weight"].shape
        a = jax.random.normal(jax.random.fold_in(key, i), (n, rank, inp), jnp.float32) / math.sqrt(inp)
        out[t] = {"a": a, "b": jnp.zeros((n, o, rank), jnp.float32)}
    return out


def read_adapter(path, cfg):
    """(lora, alpha) from a LoRA GGUF in llama.cpp's layout (blk.N.NAME.weight.lora_a [in, r] and
    .lora_b [r, out] in GGUF order, adapter.lora.alpha)."""
    r = GGUFReader(path)
    f = r.fields
    if "adapter.type" not in f or f["adapter.type"].contents() != "lora":
        raise SystemExit(f"{path}: not a LoRA adapter (adapter.type is not 'lora')")
    alpha = float(f["adapter.lora.alpha"].contents())
    flat = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(tuple(int(x) for x in reversed(t.shape.tolist()))) for t in r.tensors}
    lora = {}
    for t in LORA_TARGETS:
        if f"blk.0.{t}.weight.lora_a" in flat:
            lora[t] = {ab: jnp.asarray(np.stack([flat[f"blk.{l}.{t}.weight.lora_{ab}"] for l in range(cfg.n_layers)])) for ab in ("a", "b")}
    if not lora:
        raise SystemExit(f"{path}: the adapter holds no tensors for this model")
    return lora, alpha


def write_adapter(path, cfg, lora, alpha, base: GGUFReader, name):
    """A LoRA GGUF in llama.cpp's layout, F16: the engine merges it into the base at load time
    (`mem1 ... --lora PATH`)."""
    w = GGUFWriter(path + ".part", cfg.arch)
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", float(alpha))
    w.add_name(name)
    if "general.name" in base.fields:
        w.add_string("mem1.adapter.base", base.fields["general.name"].contents())
    p = jax.device_get(lora)
    for l in range(cfg.n_layers):
        for t, ab in p.items():
            w.add_tensor(f"blk.{l}.{t}.weight.lora_a", np.asarray(ab["a"][l], np.float16))
            w.add_tensor(f"blk.{l}.{t}.weight.lora_b", np.asarray(ab["b"][l], np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".part", path)


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

def trainable(a, params, cfg):
    """(train, frozen, scale, alpha): a LoRA adapter (--adapter to start from one, or a fresh one of
    --lora-rank) over the frozen base, or the whole model (--lora-rank 0)."""
    if getattr(a, "adapter", None):
        lora, alpha = read_adapter(a.adapter, cfg)
        rank = next(iter(lora.values()))["a"].shape[1]
        return lora, params, alpha / rank, alpha
    if a.lora_rank > 0:
        alpha = a.lora_alpha if a.lora_alpha is not None else 2.0 * a.lora_rank
        return lora_init(params, a.lora_rank, a.seed), params, alpha / a.lora_rank, alpha
    return params, None, 0.0, None


def save(a, cfg, train, frozen, alpha, base, name):
    if frozen is not None:
        write_adapter(a.out, cfg, train, alpha, base, name)
    else:
        write_model(a.out, cfg, train, base, name)


def n_of(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def cmd_sft(a):
    t0 = time.time()
    cfg, params, base = read_model(a.base)
    n_params = n_of(params)
    log(f"base {a.base}: {cfg.arch}, {cfg.n_layers} layers, d {cfg.d}, {n_params / 1e6:.1f}M parameters ({time.time() - t0:.1f}s)")
    train_w, frozen, scale, alpha = trainable(a, params, cfg)
    log(f"training {'a LoRA adapter of ' + str(a.lora_rank) + ' ranks, ' if frozen is not None else 'the whole model, '}"
        f"{n_of(train_w) / 1e6:.2f}M parameters; gradient {'through the prompt' if a.prefix_grad else 'from a prefix cache'}")
    turns, skipped = load_turns(a.data, a.max_len)
    rng = random.Random(a.seed)
    rng.shuffle(turns)
    n_eval = min(a.eval_turns, len(turns) // 5)
    evals, train = turns[:n_eval], turns[n_eval:]
    log(f"data {a.data}: {len(train)} training turns, {len(evals)} held out, {skipped} longer than {a.max_len} left out")
    sched = optax.warmup_cosine_decay_schedule(0.0, a.lr, max(1, a.steps // 10), max(2, a.steps), a.lr * 0.1)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=0.0))
    state = opt.init(train_w)
    # Recompute each layer in the backward pass only where activations would not fit.
    remat = a.remat if a.remat is not None else n_params > 300e6
    losses = TurnLoss(cfg, remat, scale, a.out_max, a.prefix_grad)

    @jax.jit
    def apply(train_w, state, g, n):
        g = jax.tree_util.tree_map(lambda x: x / jnp.maximum(n, 1.0), g)
        upd, state = opt.update(g, state, train_w)
        return optax.apply_updates(train_w, upd), state

    def evaluate(train_w):
        tot, cnt = 0.0, 0.0
        for p, o in evals:
            s, n = losses.value(train_w, frozen, p, o)
            tot, cnt = tot + s, cnt + n
        return tot / max(cnt, 1.0)

    if not a.prefix_grad:
        check_split(losses, train_w, frozen, *train[0])
    curve = []
    if evals:
        e = evaluate(train_w)
        curve.append({"step": 0, "eval_loss": e})
        log(f"step 0: held-out loss {e:.4f}")
    i = 0
    for s in range(1, a.steps + 1):
        ts = time.time()
        tot, cnt, toks = 0.0, 0.0, 0
        g_sum = None
        for _ in range(a.batch):
            p, o = train[i % len(train)]
            i += 1
            if i % len(train) == 0:
                rng.shuffle(train)
            (ls, n), g = losses.grad(train_w, frozen, p, o)
            g_sum = g if g_sum is None else jax.tree_util.tree_map(jnp.add, g_sum, g)
            tot, cnt, toks = tot + float(ls), cnt + float(n), toks + len(p) + len(o)
        train_w, state = apply(train_w, state, g_sum, jnp.float32(cnt))
        l = tot / max(cnt, 1.0)
        row = {"step": s, "loss": l, "tokens": toks, "seconds": time.time() - ts}
        if evals and (s % a.eval_every == 0 or s == a.steps):
            row["eval_loss"] = evaluate(train_w)
        curve.append(row)
        log(f"step {s}/{a.steps}: loss {l:.4f} ({row['tokens']} tokens, {row['seconds']:.1f}s)"
            + (f", held-out loss {row['eval_loss']:.4f}" if "eval_loss" in row else ""))
        if a.curve:
            with open(a.curve, "a" if s > 1 else "w") as f:
                for r in (curve if s == 1 else curve[-1:]):
                    f.write(json.dumps(r) + "\n")
        if a.save_every and s % a.save_every == 0 and s < a.steps:
            save(a, cfg, train_w, frozen, alpha, base, f"mem1-sft {os.path.basename(a.base)} step {s}")
            log(f"saved {a.out} (step {s})")
    save(a, cfg, train_w, frozen, alpha, base, f"mem1-sft {os.path.basename(a.base)}")
    summary = {"sft": True, "base": a.base, "out": a.out, "adapter": frozen is not None, "steps": a.steps, "batch": a.batch,
               "train_turns": len(train), "eval_turns": len(evals),
               "first_eval_loss": curve[0].get("eval_loss") if evals else None,
               "last_eval_loss": curve[-1].get("eval_loss") if evals else None, "seconds": time.time() - t0}
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
    if not a.temperature > 0:
        raise SystemExit(f"--temperature {a.temperature}: rollouts for GRPO are sampled (greedy ones have no spread)")
    t0 = time.time()
    cfg, params, base = read_model(a.base)
    train_w, frozen, scale, alpha = trainable(a, params, cfg)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(a.lr, weight_decay=0.0))
    it = 0
    if a.state and os.path.exists(a.state):
        with open(a.state, "rb") as f:
            saved = pickle.load(f)
        train_w, state, it = jax.tree_util.tree_map(jnp.asarray, saved["params"]), jax.tree_util.tree_map(jnp.asarray, saved["opt"]), saved["iteration"]
        scale, alpha = saved.get("scale", scale), saved.get("alpha", alpha)
    else:
        state = opt.init(train_w)
    groups = load_groups(a.rollouts)
    rewards = [r for _, eps in groups for r, _ in eps]
    work, spread = [], 0
    for _, eps in groups:
        r = np.array([x for x, _ in eps], np.float64)
        if len(r) < 2 or r.std() < 1e-6:
            continue  # no signal in a group whose episodes all scored the same
        spread += 1
        adv = (r - r.mean()) / (r.std() + 1e-6)
        for (_, turns), A in zip(eps, adv):
            work.extend((p, o, float(A)) for p, o in turns if len(p) + len(o) <= a.max_len)
    # The log-probabilities of the distribution the rollouts were sampled from (their temperature).
    losses = TurnLoss(cfg, n_of(params) > 300e6, scale, a.out_max, a.prefix_grad, a.temperature)

    @jax.jit
    def apply(train_w, state, g):
        upd, state = opt.update(g, state, train_w)
        return optax.apply_updates(train_w, upd), state

    total = jax.tree_util.tree_map(jnp.zeros_like, train_w)
    for i, (p, o, A) in enumerate(work):
        (s, n), g = losses.grad(train_w, frozen, p, o)
        # Minimising A·(mean NLL) raises the log-probability of turns that did better than their group.
        k = A / len(work) / max(float(n), 1.0)
        total = jax.tree_util.tree_map(lambda t, x: t + k * x, total, g)
        log(f"turn {i + 1}/{len(work)}: advantage {A:+.2f}, nll {float(s) / max(float(n), 1.0):.3f}")
    if work:
        train_w, state = apply(train_w, state, total)
    it += 1
    save(a, cfg, train_w, frozen, alpha, base, f"mem1-grpo {os.path.basename(a.base)} iteration {it}")
    if a.state:
        with open(a.state + ".part", "wb") as f:
            pickle.dump({"params": jax.device_get(train_w), "opt": jax.device_get(state), "iteration": it, "scale": scale, "alpha": alpha}, f)
        os.replace(a.state + ".part", a.state)
    print(json.dumps({"grpo": True, "iteration": it, "episodes": len(rewards), "groups": len(groups), "groups_with_spread": spread,
                      "mean_reward": float(np.mean(rewards)) if rewards else 0.0, "turns_trained": len(work),
                      "updated": bool(work),
                      "seconds": time.time() - t0}))


def cmd_bench(a):
    """Seconds per training turn through the whole sequence and from a prefix cache, measured in
    one run on the same turns (each path compiled first, then timed)."""
    cfg, params, _ = read_model(a.base)
    train_w, frozen, scale, _ = trainable(a, params, cfg)
    turns, _ = load_turns(a.data, a.max_len)
    random.Random(a.seed).shuffle(turns)
    turns = turns[: a.turns]
    out = {"base": a.base, "turns": len(turns), "adapter": frozen is not None,
           "mean_tokens": float(np.mean([len(p) + len(o) for p, o in turns]))}
    for name, prefix_grad in (("whole", True), ("prefix_cache", False)):
        losses = TurnLoss(cfg, n_of(params) > 300e6, scale, a.out_max, prefix_grad)
        for p, o in turns:  # compile every shape first
            jax.block_until_ready(losses.grad(train_w, frozen, p, o))
        t0 = time.time()
        for p, o in turns:
            jax.block_until_ready(losses.grad(train_w, frozen, p, o))
        out[f"{name}_seconds_per_turn"] = (time.time() - t0) / len(turns)
    out["speedup"] = out["whole_seconds_per_turn"] / out["prefix_cache_seconds_per_turn"]
    print(json.dumps(out))


def cmd_logits(a):
    cfg, params, _ = read_model(a.model)
    lora, scale = None, 0.0
    if a.adapter:
        lora, alpha = read_adapter(a.adapter, cfg)
        scale = alpha / next(iter(lora.values()))["a"].shape[1]
    ids = jnp.asarray([int(x) for x in a.ids.split(",")], jnp.int32)
    h = hidden(params, ids, cfg, remat=False, lora=lora, scale=scale)
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
    s.add_argument("--batch", type=int, default=1, help="turns per optimizer step")
    s.add_argument("--lora-rank", type=int, default=16, help="train a LoRA adapter of this rank (written as a LoRA GGUF); 0 trains the whole model")
    s.add_argument("--adapter", help="continue training this LoRA adapter (its rank and alpha) instead of a fresh one")
    s.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default 2 x rank)")
    g = sub.add_parser("grpo", help="one GRPO update from grouped rollouts")
    g.add_argument("--base", required=True, help="the GGUF the rollouts ran (its metadata and, without --state, its weights)")
    g.add_argument("--rollouts", required=True, help="trace JSONL of `mem1 run --temperature T --repeat G --trace-ids`")
    g.add_argument("--out", required=True, help="the updated GGUF to write")
    g.add_argument("--state", help="f32 weights and optimizer state kept between iterations (pickle)")
    g.add_argument("--lr", type=float, default=1e-5)
    g.add_argument("--max-len", type=int, default=2048)
    g.add_argument("--out-max", type=int, default=256)
    g.add_argument("--adapter", help="a LoRA adapter the rollouts ran over --base: trained instead of the whole model, --out is an adapter")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--temperature", type=float, default=1.0,
                   help="the temperature the rollouts were sampled at (`mem1 run --temperature`): the update "
                        "raises and lowers log-probabilities of that distribution")
    g.add_argument("--lora-rank", type=int, default=0, help=argparse.SUPPRESS)
    g.add_argument("--lora-alpha", type=float, default=None, help=argparse.SUPPRESS)
    for p in (s, g):
        p.add_argument("--prefix-grad", action="store_true",
                       help="take the gradient through the prompt's keys and values too (exact, about 2.5x slower)")
    bn = sub.add_parser("bench", help="seconds per training turn: whole sequence against prefix cache")
    bn.add_argument("--base", required=True)
    bn.add_argument("--data", required=True)
    bn.add_argument("--turns", type=int, default=8)
    bn.add_argument("--max-len", type=int, default=2048)
    bn.add_argument("--out-max", type=int, default=256)
    bn.add_argument("--seed", type=int, default=0)
    bn.add_argument("--lora-rank", type=int, default=16)
    bn.add_argument("--lora-alpha", type=float, default=None)
    l = sub.add_parser("logits", help="last-position logits of token ids")
    l.add_argument("--model", required=True)
    l.add_argument("--ids", required=True, help="comma-separated token ids")
    l.add_argument("--out", required=True, help=".npy file for the logits")
    l.add_argument("--adapter", help="a LoRA adapter applied to --model")
    a = ap.parse_args()
    {"sft": cmd_sft, "grpo": cmd_grpo, "bench": cmd_bench, "logits": cmd_logits}[a.cmd](a)


if __name__ == "__main__":
    main()
