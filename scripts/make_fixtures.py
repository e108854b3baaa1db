#!/usr/bin/env python3
"""One-off generator of reference fixtures (NOT run in CI).

Uses HuggingFace transformers (GGUF -> dequantized f32 torch model) and gguf-py as
implementations independent of ours, and writes into tests/fixtures/:

  <model-id>.json                 prompts, token ids, top-20 last-position logits, 32 greedy ids
  <model-id>-p<i>.npy             last-position full-vocabulary logits (float32)
  tokenizer-<model-id>.json       tokenizer test strings -> ids
  chat-<model-id>.json            chat-template renderings
  dequant-<model-id>.json         gguf-py dequantization of one tensor per quant type

Environment (CPU machine, no HF hub access). Commands that were used:

  python3 -m venv .cache/fixture-venv
  .cache/fixture-venv/bin/pip install --upgrade pip
  # A CPU-only torch via `pip install --no-deps torch` does NOT work: the PyPI torch 2.15.0
  # wheel is the CUDA build (+cu132) and `import torch` fails with
  # "libcudart.so.13: cannot open shared object file" without the nvidia-* wheels, and
  # download.pytorch.org (CPU wheels) is not reachable here. So the full default install:
  .cache/fixture-venv/bin/pip install torch==2.15.0
  .cache/fixture-venv/bin/pip install transformers gguf accelerate numpy tokenizers sentencepiece jinja2
  # versions used: torch 2.15.0+cu132, transformers 5.24.0, gguf 0.19.0, tokenizers 0.23.3,
  # accelerate 1.15.0, numpy 2.4.6 (Python 3.11.7)

Run (from the repository root):

  HF_HUB_OFFLINE=1 .cache/fixture-venv/bin/python scripts/make_fixtures.py [model-id ...]
"""

import hashlib
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import gguf  # noqa: E402
from gguf.quants import dequantize  # noqa: E402
from tokenizers import Tokenizer, pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, ".cache", "models")
FIX_DIR = os.path.join(ROOT, "tests", "fixtures")
QWEN_TOKENIZER_JSON = os.path.join(MODELS_DIR, "qwen2.5-tokenizer.json")

MODELS = {
    "smollm2-135m-q4_1": {
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        # one tensor per quant type present in the file
        "dequant": ["blk.0.attn_q.weight", "token_embd.weight", "blk.0.attn_norm.weight"],
    },
    "qwen2.5-coder-0.5b-q4_k_m": {
        "file": "qwen2.5-coder-0.5b-instruct.gguf",
        "dequant": [
            "blk.0.ffn_gate.weight",  # Q5_0
            "blk.0.attn_v.weight",  # Q8_0
            "blk.11.ffn_down.weight",  # Q4_K
            "blk.0.ffn_down.weight",  # Q6_K
            "blk.0.attn_norm.weight",  # F32
            "blk.0.attn_q.bias",  # F32 (bias)
        ],
    },
}

N_TOP = 20
N_GREEDY = 32
N_FIRST = 512

WEBSHOP_PAGE = (
    "Instruction: [SEP] i need a gluten free snack under 30 dollars [SEP] Back to Search [SEP] "
    "Page 1 (Total results: 50) [SEP] Next > [SEP] B07HRFSNL4 [SEP] Nature's Bakery Gluten Free "
    "Fig Bars, Raspberry, Pack of 6 [SEP] $24.99 [SEP] B00LLJCAIO [SEP] KIND Bars, Dark Chocolate "
    "Nuts & Sea Salt, 12 Count [SEP] $31.50\n"
    "Which action should I take? Answer with one action."
)

PROMPTS = [
    [
        {
            "role": "user",
            "content": "I need a pair of long-lasting men's running shoes in size 10, black, "
            "under 60 dollars. What should I search for?",
        }
    ],
    [
        {"role": "system", "content": "You are a shopping agent."},
        {"role": "user", "content": "Trouve-moi un café crème bon marché ☕ — 你好，世界 🛒👍🏽"},
    ],
    [{"role": "user", "content": WEBSHOP_PAGE}],
]

TOKENIZER_STRINGS = [
    "Hello world! This is a plain English sentence.",
    "  leading spaces, trailing spaces   \n\nmultiple   spaces\n\n\n and newlines \n",
    "café naïve résumé Zürich",
    # decomposed (NFD) accents: Qwen's tokenizer.json NFC-normalizes, the GGUF-built tokenizer
    # (like llama.cpp) does not, so ids and ids_tokenizer_json differ here on purpose
    "cafe\u0301 Zu\u0308rich",
    "你好，世界",
    "日本語のテキスト",
    "🛒👍🏽🇫🇷",
    "12345 3.14 1,000,000",
    'fn main() { println!("hi"); }',
    "<|im_start|>user\nhi<|im_end|>",
    "click[B07XYZ1234] [SEP] $29.99",
    "I'm sure they'll've",
    "\t",
    "",
    "search[gluten free snack] \r\n   indented\tcode  ",
]

CHAT_CASES = {
    "user_only": [{"role": "user", "content": "hi"}],
    "system_user": [
        {"role": "system", "content": "You are a shopping agent."},
        {"role": "user", "content": "Find me red socks."},
    ],
    "system_user_assistant_user": [
        {"role": "system", "content": "You are a shopping agent."},
        {"role": "user", "content": "Find me red socks."},
        {"role": "assistant", "content": "search[red socks]"},
        {"role": "user", "content": "Cheaper, please. Under $10."},
    ],
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)", flush=True)


def smollm_reference_pretokenizer():
    # What llama.cpp does for tokenizer.ggml.pre = "smollm" and what SmolLM2's own
    # tokenizer.json does: split every digit off, then GPT-2 byte-level regex.
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )


def do_chat(mid, tok):
    out = {"chat_template": tok.chat_template, "cases": []}
    for name, msgs in CHAT_CASES.items():
        out["cases"].append(
            {
                "name": name,
                "messages": msgs,
                "text_add_generation_prompt": tok.apply_chat_template(
                    msgs, add_generation_prompt=True, tokenize=False
                ),
                "text_no_generation_prompt": tok.apply_chat_template(
                    msgs, add_generation_prompt=False, tokenize=False
                ),
            }
        )
    write_json(os.path.join(FIX_DIR, f"chat-{mid}.json"), out)


def do_tokenizer(mid, tok):
    backend = tok.backend_tokenizer
    ref = None
    ref_name = None
    if mid.startswith("qwen"):
        ref = Tokenizer.from_file(QWEN_TOKENIZER_JSON)
        ref_name = "ids_tokenizer_json"
    elif mid.startswith("smollm"):
        ref = Tokenizer.from_str(backend.to_str())
        ref.pre_tokenizer = smollm_reference_pretokenizer()
        ref_name = "ids_smollm_digits_pretok"
    entries = []
    mismatches = []
    for s in TOKENIZER_STRINGS:
        ids = tok(s, add_special_tokens=False).input_ids
        e = {"text": s, "ids": ids}
        if ref is not None:
            rids = ref.encode(s, add_special_tokens=False).ids
            e[ref_name] = rids
            if rids != ids:
                mismatches.append(s)
        if "<|" in s:
            # same string with special-token text NOT matched as special tokens
            e["ids_split_special"] = tok(s, add_special_tokens=False, split_special_tokens=True).input_ids
        e["pieces"] = tok.convert_ids_to_tokens(ids)
        e["decoded"] = tok.decode(ids)
        entries.append(e)
    write_json(os.path.join(FIX_DIR, f"tokenizer-{mid}.json"), entries)
    if ref is not None:
        print(f"[{mid}] {ref_name}: {len(mismatches)} mismatching strings: {mismatches!r}", flush=True)
    return mismatches


def do_dequant(mid, path, names):
    reader = gguf.GGUFReader(path)
    by_name = {t.name: t for t in reader.tensors}
    out = []
    for name in names:
        t = by_name[name]
        deq = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        shape = [int(x) for x in t.shape]  # GGUF order: ne0 first
        assert deq.size == int(np.prod(shape)), (name, deq.size, shape)
        d64 = deq.astype(np.float64)
        out.append(
            {
                "name": name,
                "type": t.tensor_type.name,
                "shape": shape,
                "n_elements": int(deq.size),
                "first": [float(x) for x in deq[:N_FIRST]],
                "sum": float(d64.sum()),
                "sumsq": float((d64 * d64).sum()),
            }
        )
        print(f"[{mid}] dequant {name} {t.tensor_type.name} {shape} sum={out[-1]['sum']}", flush=True)
    write_json(os.path.join(FIX_DIR, f"dequant-{mid}.json"), out)
    return reader


@torch.no_grad()
def greedy(model, ids, n, eos_ids):
    inp = torch.tensor([ids], dtype=torch.long)
    out = model(input_ids=inp, use_cache=True)
    past = out.past_key_values
    logits = out.logits[0, -1].float()
    gen = []
    margins = []  # top1 - top2 logit at each step: how fragile each greedy choice is
    stopped = False
    for _ in range(n):
        nxt = int(torch.argmax(logits).item())
        top2 = torch.topk(logits, 2).values
        margins.append(float(top2[0] - top2[1]))
        gen.append(nxt)
        if nxt in eos_ids:
            stopped = True
            break
        out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1].float()
    return gen, stopped, margins


@torch.no_grad()
def do_model(mid, fname, path, tok, reader, smollm_fix):
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(MODELS_DIR, gguf_file=fname, dtype=torch.float32)
    model.eval()
    print(f"[{mid}] model loaded in {time.time() - t0:.1f}s; tie_word_embeddings="
          f"{model.config.tie_word_embeddings}", flush=True)
    # How was the LM head built?
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    head_info = {
        "tie_word_embeddings": bool(model.config.tie_word_embeddings),
        "lm_head_is_token_embd": bool(head.data_ptr() == emb.data_ptr() or torch.equal(head, emb)),
    }
    names = {t.name for t in reader.tensors}
    if "output.weight" in names:
        ow = [t for t in reader.tensors if t.name == "output.weight"][0]
        ref = torch.from_numpy(dequantize(ow.data, ow.tensor_type).astype(np.float32))
        head_info["gguf_has_output_weight"] = True
        head_info["lm_head_equals_dequant_output_weight"] = bool(torch.equal(head, ref))
    else:
        head_info["gguf_has_output_weight"] = False
    print(f"[{mid}] head: {head_info}", flush=True)

    eos_ids = {tok.eos_token_id}
    gen_cfg = getattr(model, "generation_config", None)
    if gen_cfg is not None and gen_cfg.eos_token_id is not None:
        e = gen_cfg.eos_token_id
        eos_ids |= set(e if isinstance(e, list) else [e])
    eos_ids.discard(None)

    prompts = []
    for i, msgs in enumerate(PROMPTS):
        text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        ids = tok(text, add_special_tokens=False).input_ids
        rec = {"messages": msgs, "text": text, "tokens": ids, "n_tokens": len(ids)}
        if smollm_fix is not None:
            alt = smollm_fix.encode(text, add_special_tokens=False).ids
            rec["tokens_same_with_digits_pretok"] = alt == ids
        assert len(ids) >= 20
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy().astype(np.float32)
        npy_rel = f"tests/fixtures/{mid}-p{i}.npy"
        np.save(os.path.join(ROOT, npy_rel), logits)
        order = np.argsort(-logits, kind="stable")[:N_TOP]
        rec["top"] = [[int(j), float(logits[j])] for j in order]
        rec["top_pieces"] = tok.convert_ids_to_tokens([int(j) for j in order[:5]])
        rec["max_abs_logit"] = float(np.abs(logits).max())
        rec["logits_file"] = npy_rel
        rec["vocab_size_logits"] = int(logits.shape[0])
        g, stopped, margins = greedy(model, ids, N_GREEDY, eos_ids)
        rec["greedy"] = g
        rec["greedy_margins"] = margins
        rec["greedy_stopped_at_eos"] = stopped
        rec["greedy_text"] = tok.decode(g)
        prompts.append(rec)
        print(f"[{mid}] p{i}: {len(ids)} tokens, top5={rec['top'][:5]} {rec['top_pieces']}\n"
              f"   greedy={rec['greedy_text']!r} (eos={stopped})", flush=True)
    return prompts, head_info, sorted(eos_ids)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(FIX_DIR, exist_ok=True)
    wanted = sys.argv[1:] or list(MODELS)
    for mid in wanted:
        spec = MODELS[mid]
        fname = spec["file"]
        path = os.path.join(MODELS_DIR, fname)
        tok = AutoTokenizer.from_pretrained(MODELS_DIR, gguf_file=fname)
        do_chat(mid, tok)
        do_tokenizer(mid, tok)
        reader = do_dequant(mid, path, spec["dequant"])
        arch = reader.fields["general.architecture"].contents()
        smollm_fix = None
        if mid.startswith("smollm"):
            smollm_fix = Tokenizer.from_str(tok.backend_tokenizer.to_str())
            smollm_fix.pre_tokenizer = smollm_reference_pretokenizer()
        prompts, head_info, eos_ids = do_model(mid, fname, path, tok, reader, smollm_fix)
        write_json(
            os.path.join(FIX_DIR, f"{mid}.json"),
            {
                "model_file": fname,
                "sha256": sha256(path),
                "arch": arch,
                "transformers_version": transformers.__version__,
                "torch_version": torch.__version__,
                "gguf_py_version": getattr(gguf, "__version__", None) or _pkg_version("gguf"),
                "dtype": "float32",
                "lm_head": head_info,
                "eos_token_ids": eos_ids,
                "bos_added": False,
                "prompts": prompts,
            },
        )


def _pkg_version(name):
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
