//! `mem1 logits | generate | bench`.
use super::{load_model, sampler_params, Args};
use crate::gguf;
use crate::loader::{AnyEngine, Backend};
use crate::quant::GgmlType;
use crate::synthetic::synthetic;
use crate::engine::{self, Engine};
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
/// a real model's shapes (`--synthetic`, no download needed); the best of `--repeats` runs.
pub fn bench(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["model", "synthetic", "quant", "prompt-tokens", "decode-tokens", "ctx", "backend", "repeats"], &[])?;
    let n_prompt = a.parsed("prompt-tokens", 128usize)?;
    let n_decode = a.parsed("decode-tokens", 32usize)?;
    let ctx = a.parsed("ctx", (n_prompt + n_decode + 1).max(1024))?;
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
    if let AnyEngine::Gpu(g) = &mut e {
        if let (Some(o), serde_json::Value::Object(prof)) = (out.as_object_mut(), crate::gpu::bench::profile(g)?) {
            o.extend(prof);
        }
    }
    println!("{out}");
    Ok(())
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
