//! `mem1 bench`: prefill and decode throughput, and time and achieved bandwidth per kernel, for a
//! GGUF file or for random weights of a real model's shapes (`--synthetic`, no download needed).
use super::Gpu;
use crate::cli::Args;
use crate::engine::{now, Engine};
use crate::gguf;
use crate::synthetic::synthetic;
use crate::quant::GgmlType;
use crate::sample::SamplerParams;
use crate::{Error, Result};

pub fn cli(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["model", "synthetic", "quant", "prompt-tokens", "decode-tokens", "ctx", "backend"], &[])?;
    let ctx = a.parsed("ctx", 1024usize)?;
    let n_prompt = a.parsed("prompt-tokens", 128usize)?;
    let n_decode = a.parsed("decode-tokens", 32usize)?;
    let (label, mut src) = match (a.get("model"), a.get("synthetic")) {
        (Some(p), None) => (p.to_string(), Source::File(gguf::FileSource::open(std::path::Path::new(p))?)),
        (None, Some(name)) => {
            let q = a.get("quant").unwrap_or("q4_k");
            let ty = GgmlType::from_name(q).ok_or_else(|| Error::usage(format!("unknown --quant '{q}'")))?;
            (format!("synthetic {name} {q}"), Source::Mem(synthetic(name, ty)?))
        }
        _ => return Err(Error::usage("give exactly one of --model PATH or --synthetic NAME")),
    };
    let mut gpu = pollster::block_on(async {
        match &mut src {
            Source::File(f) => Gpu::load(f, ctx, |_, _| {}).await,
            Source::Mem(m) => Gpu::load(m, ctx, |_, _| {}).await,
        }
    })?;
    let p = SamplerParams::greedy();
    let prompt: Vec<u32> = (0..n_prompt as u32).map(|i| 100 + i % 1000).collect();
    let t0 = now();
    pollster::block_on(gpu.prefill(&prompt))?;
    let mut tok = pollster::block_on(gpu.sample(&p, 0.0))?;
    let prefill_s = now() - t0;
    let t1 = now();
    for _ in 0..n_decode {
        tok = pollster::block_on(gpu.decode(tok, &p, 0.0))?;
    }
    let decode_s = now() - t1;
    let kernels = gpu.profile(1)?;
    let total: f64 = kernels.iter().map(|k| k.1).sum();
    let rows: Vec<_> = kernels
        .iter()
        .map(|(name, s, bytes, n)| {
            let gbs = if *bytes > 0 { *bytes as f64 / s / 1e9 } else { 0.0 };
            serde_json::json!({"kernel": name, "dispatches": n, "ms": s * 1e3, "share": s / total, "weight_bytes": bytes, "gb_s": gbs})
        })
        .collect();
    let weight_bytes: u64 = kernels.iter().map(|k| k.2).sum();
    let mv_s: f64 = kernels.iter().filter(|k| k.0.starts_with("matvec")).map(|k| k.1).sum();
    let out = serde_json::json!({
        "model": label,
        "adapter": gpu.adapter_name(),
        "prefill_tokens": n_prompt,
        "prefill_tok_s": n_prompt as f64 / prefill_s,
        "decode_tokens": n_decode,
        "decode_tok_s": n_decode as f64 / decode_s,
        "profiled_decode_step_ms": total * 1e3,
        "matvec_gb_s": weight_bytes as f64 / mv_s.max(1e-12) / 1e9,
        // Decode must stream every weight once per token: this bounds tok/s at the achieved rate.
        "roofline_tok_s_at_matvec_rate": (weight_bytes as f64 / mv_s.max(1e-12)) / weight_bytes.max(1) as f64,
        "weight_bytes_per_token": weight_bytes,
        "kernels": rows,
    });
    println!("{out}");
    Ok(())
}

enum Source {
    File(gguf::FileSource),
    Mem(Vec<u8>),
}

