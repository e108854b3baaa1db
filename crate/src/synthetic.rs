//! Random but well-formed GGUF models of real models' shapes, built in memory: benchmarks on
//! machines with no model file, and tiny odd-shaped models for the backend-parity tests.
use crate::gguf::Value;
use crate::quant::GgmlType;
use crate::{Error, Result};

/// Hyper-parameters of real models (from their published configs).
#[derive(Debug, Clone)]
pub struct Shape {
    pub arch: &'static str,
    pub layers: usize,
    pub d: usize,
    pub heads: usize,
    pub kv: usize,
    pub ff: usize,
    pub vocab: usize,
    pub tied: bool,
}

pub fn shape(name: &str) -> Option<Shape> {
    let s = |arch, layers, d, heads, kv, ff, vocab, tied| Shape { arch, layers, d, heads, kv, ff, vocab, tied };
    Some(match name {
        "qwen2.5-0.5b" => s("qwen2", 24, 896, 14, 2, 4864, 151936, true),
        "qwen2.5-1.5b" => s("qwen2", 28, 1536, 12, 2, 8960, 151936, true),
        "qwen2.5-3b" => s("qwen2", 36, 2048, 16, 2, 11008, 151936, true),
        "qwen2.5-7b" => s("qwen2", 28, 3584, 28, 4, 18944, 152064, false),
        "smollm2-135m" => s("llama", 30, 576, 9, 3, 1536, 49152, true),
        "smollm2-360m" => s("llama", 32, 960, 15, 5, 2560, 49152, true),
        _ => return None,
    })
}

/// llama.cpp's type for a tensor whose rows do not hold whole K-quant blocks.
fn fallback(ty: GgmlType) -> GgmlType {
    match ty {
        GgmlType::Q4K => GgmlType::Q5_0,
        GgmlType::Q5K => GgmlType::Q5_1,
        _ => GgmlType::Q8_0,
    }
}

/// A GGUF file in memory with random weights of `name`'s shapes, matrices in `ty`.
pub fn synthetic(name: &str, ty: GgmlType) -> Result<Vec<u8>> {
    let s = shape(name).ok_or_else(|| {
        Error::usage(format!("unknown synthetic model '{name}' (qwen2.5-0.5b, -1.5b, -3b, -7b, smollm2-135m, -360m)"))
    })?;
    Ok(synthetic_gguf(&s, ty, 1 << 16))
}

/// Builds the GGUF for a shape; `ctx` is written as the context length.
pub fn synthetic_gguf(s: &Shape, ty: GgmlType, ctx: usize) -> Vec<u8> {
    synthetic_gguf_with(s, ty, ctx, &[])
}

/// [`synthetic_gguf`] with `extra` metadata (a tokenizer, a chat template) added.
pub fn synthetic_gguf_with(s: &Shape, ty: GgmlType, ctx: usize, extra: &[(&str, Value)]) -> Vec<u8> {
    use crate::gguf::write::{gguf, Tensor};
    use crate::quant::random_blocks;
    let hd = s.d / s.heads;
    let mut seed = 1;
    let mut t = |name: String, dims: Vec<u64>, ty: GgmlType| {
        seed += 1;
        let n: u64 = dims.iter().product();
        // As llama.cpp quantizes: a K-quant needs rows of whole 256-element blocks, and a tensor
        // whose rows are not (Qwen2.5-0.5B's 896 columns) gets the fallback type.
        let ty = match ty {
            GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K | GgmlType::Q8K if dims[0] % 256 != 0 => fallback(ty),
            _ => ty,
        };
        let data = if ty == GgmlType::F32 && dims.len() == 1 {
            // Norm weights near 1, biases near 0.
            let base = if name.ends_with("norm.weight") { 1.0f32 } else { 0.0 };
            (0..n).flat_map(|i| (base + ((i * 7919 + seed) % 200) as f32 * 1e-3 - 0.1).to_le_bytes()).collect()
        } else {
            random_blocks(ty, n as usize, seed)
        };
        Tensor { name, dims, ty, data }
    };
    let (d, q, kv, ff, v) = (s.d as u64, s.d as u64, (s.kv * hd) as u64, s.ff as u64, s.vocab as u64);
    let mut ts = vec![t("token_embd.weight".into(), vec![d, v], ty), t("output_norm.weight".into(), vec![d], GgmlType::F32)];
    if !s.tied {
        ts.push(t("output.weight".into(), vec![d, v], ty));
    }
    for l in 0..s.layers {
        let b = |n: &str| format!("blk.{l}.{n}");
        ts.push(t(b("attn_norm.weight"), vec![d], GgmlType::F32));
        ts.push(t(b("ffn_norm.weight"), vec![d], GgmlType::F32));
        ts.push(t(b("attn_q.weight"), vec![d, q], ty));
        ts.push(t(b("attn_k.weight"), vec![d, kv], ty));
        ts.push(t(b("attn_v.weight"), vec![d, kv], ty));
        ts.push(t(b("attn_output.weight"), vec![q, d], ty));
        ts.push(t(b("ffn_gate.weight"), vec![d, ff], ty));
        ts.push(t(b("ffn_up.weight"), vec![d, ff], ty));
        ts.push(t(b("ffn_down.weight"), vec![ff, d], ty));
        if s.arch == "qwen2" {
            ts.push(t(b("attn_q.bias"), vec![q], GgmlType::F32));
            ts.push(t(b("attn_k.bias"), vec![kv], GgmlType::F32));
            ts.push(t(b("attn_v.bias"), vec![kv], GgmlType::F32));
        }
    }
    let a = s.arch;
    let k = |n: &str| format!("{a}.{n}");
    let meta = vec![
        ("general.architecture".to_string(), Value::Str(a.into())),
        (k("block_count"), Value::U32(s.layers as u32)),
        (k("context_length"), Value::U32(ctx as u32)),
        (k("embedding_length"), Value::U32(s.d as u32)),
        (k("feed_forward_length"), Value::U32(s.ff as u32)),
        (k("attention.head_count"), Value::U32(s.heads as u32)),
        (k("attention.head_count_kv"), Value::U32(s.kv as u32)),
        (k("rope.freq_base"), Value::F32(1e6)),
        (k("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
    ];
    let mut meta: Vec<(&str, Value)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    meta.extend(extra.iter().cloned());
    gguf(&meta, &ts)
}

// Native: it reads the header through pollster, which the wasm build lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn k_quant_rows_that_are_not_whole_blocks_get_llama_cpps_fallback() {
        // Qwen2.5-0.5B's shape in small: 896 is not a multiple of 256, 512 is.
        let s = Shape { arch: "qwen2", layers: 1, d: 896, heads: 14, kv: 2, ff: 512, vocab: 64, tied: true };
        let mut file = synthetic_gguf(&s, GgmlType::Q4K, 64);
        let g = pollster::block_on(crate::gguf::read_header(&mut file)).unwrap();
        let ty = |n: &str| g.tensors.iter().find(|t| t.name == n).unwrap().ty;
        assert_eq!(ty("blk.0.attn_q.weight"), GgmlType::Q5_0, "rows of 896");
        assert_eq!(ty("blk.0.ffn_down.weight"), GgmlType::Q4K, "rows of 512");
        assert_eq!(ty("blk.0.attn_norm.weight"), GgmlType::F32);
    }
}
