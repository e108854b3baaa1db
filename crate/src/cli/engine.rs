//! `mem1 logits | generate | bench`.
use super::{load_model, sampler_params, Args};
use crate::gguf;
use crate::loader::{AnyEngine, Backend};
use crate::quant::GgmlType;
use crate::synthetic::synthetic;
use crate::engine::{self, Engine, Transfers};
use crate::sample::{Rng, SamplerParams};
use crate::tokenizer::{Message, Tokenizer};
use crate::{Error, Result};
use std::io::Write;

fn prompt_ids(a: &Args, tok: &Tokenizer) -> Result<Vec<u32>> {
    let text = a.required("prompt")?;
    let ids = if a.has("chat") {
        tok.encode(&tok.apply_chat(&[Message::new("user", text)])?)?
    } else {
        tok.encode_prompt(text)?
    };
    if ids.is_empty() {
        return Err(Error::usage("the prompt encodes to zero tokens"));
    }
    Ok(ids)
}

pub fn logits(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["model", "lora", "prompt", "backend", "top", "out", "tokenizer", "ctx"], &["chat"])?;
    let mut m = load_model(&a, a.parsed("ctx", 2048)?)?;
    let ids = prompt_ids(&a, &m.tok)?;
    let logits = pollster::block_on(async {
        m.engine.prefill(&ids).await?;
        m.engine.logits().await
    })?;
    let top = crate::sample::top_k(&logits, a.parsed("top", 10)?);
    let out = serde_json::json!({"tokens": ids, "top": top.iter().map(|&(i, l)| serde_json::json!([i, l])).collect::<Vec<_>>()});
    println!("{out}");
    if let Some(path) = a.get("out") {
        std::fs::write(path, npy_f32(&logits))?;
    }
    Ok(())
}

pub fn generate(raw: &[String]) -> Result<()> {
    let a = Args::parse(
        raw,
        &["model", "lora", "prompt", "backend", "max-tokens", "tokenizer", "temperature", "top-k", "top-p", "seed", "ctx"],
        &["chat"],
    )?;
    let p = sampler_params(&a)?;
    let mut m = load_model(&a, a.parsed("ctx", 2048)?)?;
    let ids = prompt_ids(&a, &m.tok)?;
    let mut rng = Rng::new(a.parsed("seed", 0)?);
    let tok = &m.tok;
    // Stream text as it is generated: print the new suffix of the decoded text each token.
    let mut out_ids = Vec::new();
    let mut printed = 0;
    let (_, t) = pollster::block_on(engine::generate(
        &mut m.engine,
        &ids,
        a.parsed("max-tokens", 128)?,
        &tok.stop.clone(),
        &p,
        &mut rng,
        |id| {
            out_ids.push(id);
            if let Ok(s) = tok.decode(&out_ids) {
                if s.len() > printed && s.is_char_boundary(printed) && !s.ends_with('\u{FFFD}') {
                    print!("{}", &s[printed..]);
                    let _ = std::io::stdout().flush();
                    printed = s.len();
                }
            }
        },
    ))?;
    println!();
    println!(
        "{}",
        serde_json::json!({
            "prefill_tokens": t.prefill_tokens, "prefill_tok_s": t.prefill_tok_s(),
            "decode_tokens": t.decode_tokens, "decode_tok_s": t.decode_tok_s(),
            "generated_tokens": t.generated_tokens,
            "submissions_per_token": t.per_token().map(|r| r.0), "readback_bytes_per_token": t.per_token().map(|r| r.1),
            "backend": m.engine.name(),
        })
    );
    Ok(())
}

/// `mem1 bench`: prefill and decode throughput of one backend on a GGUF file or on random weights of
/// a real model's shapes (`--synthetic`, no download needed); the best of `--repeats` runs. On the
/// GPU, each kernel's time and bandwidth in one decode step and the copy kernel's bandwidth as
/// the roofline; with `--turn`, an agent turn (see [`agent_turn`]).
pub fn bench(raw: &[String]) -> Result<()> {
    let a = Args::parse(
        raw,
        &["model", "synthetic", "quant", "prompt-tokens", "decode-tokens", "ctx", "backend", "repeats", "summary-tokens", "action-tokens", "copy-mib"],
        &["turn"],
    )?;
    let turn = a.has("turn");
    let n_prompt = a.parsed("prompt-tokens", if turn { TURN_PROMPT } else { 128usize })?;
    let n_decode = a.parsed("decode-tokens", 32usize)?;
    let (n_summary, n_action) = (a.parsed("summary-tokens", 64usize)?, a.parsed("action-tokens", 24usize)?);
    if n_prompt == 0 {
        return Err(Error::usage("--prompt-tokens must be at least 1"));
    }
    let generated = if turn { n_summary + n_action } else { n_decode };
    let ctx = a.parsed("ctx", (n_prompt + generated.max(CHECKS[CHECKS.len() - 1]) + 1).max(1024))?;
    let repeats = a.parsed("repeats", 1usize)?.max(1);
    let backend = Backend::parse(a.get("backend").unwrap_or("auto"))?;
    let t_load = engine::now();
    let (label, mut e) = match (a.get("model"), a.get("synthetic")) {
        (Some(p), None) => {
            let mut src = gguf::FileSource::open(std::path::Path::new(p))?;
            (p.to_string(), pollster::block_on(AnyEngine::load(backend, &mut src, ctx, |_, _| {}))?)
        }
        (None, Some(name)) => {
            let q = a.get("quant").unwrap_or("q4_k");
            let ty = GgmlType::from_name(q).ok_or_else(|| Error::usage(format!("unknown --quant '{q}'")))?;
            let mut src = synthetic(name, ty)?;
            (format!("synthetic {name} {q}"), pollster::block_on(AnyEngine::load(backend, &mut src, ctx, |_, _| {}))?)
        }
        _ => return Err(Error::usage("give exactly one of --model PATH or --synthetic NAME")),
    };
    let load_s = engine::now() - t_load;
    let p = SamplerParams::greedy();
    let vocab = e.config().vocab as u32;
    let prompt: Vec<u32> = (0..n_prompt as u32).map(|i| (100 + i % 1000) % vocab).collect();
    let (mut best_prefill, mut best_decode) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..repeats {
        e.truncate(0)?;
        let t0 = engine::now();
        pollster::block_on(e.prefill(&prompt))?;
        let mut tok = pollster::block_on(e.sample(&p, 0.0))?;
        best_prefill = best_prefill.min(engine::now() - t0);
        let t1 = engine::now();
        for _ in 0..n_decode {
            tok = pollster::block_on(e.decode(tok, &p, 0.0))?;
        }
        best_decode = best_decode.min(engine::now() - t1);
    }
    let mut out = serde_json::json!({
        "model": label,
        "backend": e.name(),
        "load_seconds": load_s,
        "repeats": repeats,
        "prefill_tokens": n_prompt,
        "prefill_tok_s": n_prompt as f64 / best_prefill,
        "decode_tokens": n_decode,
        "decode_tok_s": n_decode as f64 / best_decode,
    });
    if let (Some(o), Some(checks)) = (out.as_object_mut(), draft_checks(&mut e, n_prompt, ctx, best_decode / n_decode.max(1) as f64, repeats)?) {
        o.extend(checks);
    }
    if turn {
        e.truncate(0)?;
        let t = agent_turn(&mut e, &prompt, n_summary, n_action)?;
        if let Some(o) = out.as_object_mut() {
            o.insert("agent_turn".into(), t);
        }
    }
    if let AnyEngine::Gpu(g) = &mut e {
        gpu_figures(g, &a, &mut out, n_decode as f64 / best_decode)?;
    }
    println!("{out}");
    Ok(())
}

/// Draft lengths whose check the benchmark times (the agent's drafts are 1 to 16 tokens).
const CHECKS: [usize; 4] = [2, 4, 8, 16];

/// What checking a draft costs on this engine (the agent drafts where a check pays): the best
/// seconds of a check of each of [`CHECKS`] tokens after the prompt, in decode steps of `step`
/// seconds; `None` for an engine that checks one token at a time.
fn draft_checks(e: &mut AnyEngine, n_prompt: usize, ctx: usize, step: f64, repeats: usize) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    if !e.batched_verify() {
        return Ok(None);
    }
    let vocab = e.config().vocab as u32;
    let mut rows = Vec::new();
    let mut o = serde_json::Map::new();
    for k in CHECKS.into_iter().filter(|&k| n_prompt + k <= ctx) {
        let draft: Vec<u32> = (0..k as u32).map(|i| (200 + 31 * i) % vocab).collect();
        let mut best = f64::INFINITY;
        for _ in 0..repeats {
            e.truncate(n_prompt)?;
            let t0 = engine::now();
            pollster::block_on(e.verify(&draft, &[]))?;
            best = best.min(engine::now() - t0);
        }
        let steps = best / step.max(1e-12);
        rows.push(serde_json::json!({ "tokens": k, "seconds": best, "decode_steps": steps }));
        // One flat figure for the shell's table.
        o.insert(format!("check{k}_decode_steps"), steps.into());
    }
    e.truncate(n_prompt)?;
    o.insert("draft_checks".into(), rows.into());
    Ok(Some(o))
}

/// Prompt tokens of the agent-turn benchmark: the shipped policy's turns hold 900 to 1,800.
const TURN_PROMPT: usize = 1400;

/// The GPU's figures: the profiled decode step, the copy kernel's bandwidth, and decode's share of
/// the roofline that bandwidth sets (every weight byte read once per token).
fn gpu_figures(g: &mut crate::gpu::Gpu, a: &Args, out: &mut serde_json::Value, decode_tok_s: f64) -> Result<()> {
    let prof = crate::gpu::bench::profile(g)?;
    let d = g.device();
    let mib = a.parsed("copy-mib", 256u64)?;
    let bytes = ((mib << 20).min(d.max_binding()) / 16 * 16).max(16);
    let copy = crate::gpu::bench::copy_bandwidth(d, bytes, 5)?;
    let weights = prof["weight_bytes_per_token"].as_f64().unwrap_or(0.0);
    let roofline = copy / weights.max(1.0);
    if let (Some(o), serde_json::Value::Object(p)) = (out.as_object_mut(), prof) {
        o.extend(p);
        o.insert("copy_bytes".into(), bytes.into());
        o.insert("copy_gb_s".into(), (copy / 1e9).into());
        o.insert("roofline_tok_s".into(), roofline.into());
        o.insert("decode_vs_roofline".into(), (decode_tok_s / roofline).into());
    }
    Ok(())
}

/// One agent turn's work without a tokenizer: the prompt prefilled, a summary of `n_summary` free
/// tokens, then a search query of `n_action` tokens decoded under the action automaton's mask
/// (over a made-up vocabulary of the model's size: the 256 bytes, then short printable strings),
/// as `LlmPolicy` does it; seconds for the turn and what crossed to and from the GPU.
pub fn agent_turn(e: &mut AnyEngine, prompt: &[u32], n_summary: usize, n_action: usize) -> Result<serde_json::Value> {
    use crate::agent::constrain::{ActionSet, Vocab};
    let n = e.config().vocab;
    let bytes = (0..n)
        .map(|i| match i {
            0..=255 => vec![i as u8],
            _ => (0..2 + i % 5).map(|j| b'a' + ((i * 7 + j * 13) % 26) as u8).collect(),
        })
        .collect();
    let vocab = Vocab { bytes };
    let set = ActionSet::new(&["search[...]".to_string(), "click[back to search]".to_string()], "</answer>");
    let p = SamplerParams::greedy();
    let x0 = e.transfers();
    let t0 = engine::now();
    pollster::block_on(e.prefill(prompt))?;
    let mut tok = pollster::block_on(e.sample(&p, 0.0))?;
    let t1 = engine::now();
    let x1 = e.transfers();
    for _ in 1..n_summary {
        tok = pollster::block_on(e.decode(tok, &p, 0.0))?;
    }
    // The action: its tag and `search[` forced (one prefill, as the policy's forced tags: the
    // sample that follows waits for it), then the query.
    let t2 = engine::now();
    let forced: Vec<u32> = b"<answer>search[".iter().map(|&b| b as u32).collect();
    pollster::block_on(e.prefill(&[&[tok], forced.as_slice()].concat()))?;
    let mut st = set.advance(set.start(), b"search[").expect("search is allowed");
    let mut mask_s = 0.0;
    let mut pending = None;
    let mut action_tokens = 0;
    for _ in 0..n_action {
        let tm = engine::now();
        let mask = set.mask(st, &vocab, n);
        mask_s += engine::now() - tm;
        let picked = match pending {
            Some(t) => pollster::block_on(e.decode_masked(t, Some(&mask), &p, 0.0))?,
            None => pollster::block_on(e.sample_masked(Some(&mask), &p, 0.0))?,
        };
        let Some(t) = picked else { break };
        action_tokens += 1;
        match set.advance(st, vocab.get(t)) {
            Some(next) if next != crate::agent::constrain::State::Done => st = next,
            _ => break,
        }
        pending = Some(t);
    }
    let t3 = engine::now();
    let generated = n_summary + action_tokens;
    let rates = Transfers::between(x1, e.transfers()).map(|x| x.per_token(generated));
    Ok(serde_json::json!({
        "prompt_tokens": prompt.len(),
        "summary_tokens": n_summary,
        "action_tokens": action_tokens,
        "turn_seconds": t3 - t0,
        "prefill_seconds": t1 - t0,
        "summary_tok_s": n_summary as f64 / (t2 - t1).max(1e-9),
        "action_seconds": t3 - t2,
        "mask_seconds": mask_s,
        "prompt_submissions": Transfers::between(x0, x1).map(|x| x.submissions),
        "submissions_per_token": rates.map(|r| r.0),
        "readback_bytes_per_token": rates.map(|r| r.1),
    }))
}

/// A float32 `.npy` (format 1.0) holding one vector.
pub fn npy_f32(v: &[f32]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", v.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for x in v {
        out.extend(x.to_le_bytes());
    }
    out
}
