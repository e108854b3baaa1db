//! The model: architecture hyper-parameters read from GGUF metadata and checked against the tensor
//! table, and the transformer written once over the [`Ops`] trait that both backends implement
//! (the CPU reference executes each op; the GPU backend records it once into a replayable plan).
use crate::gguf::{Gguf, TensorInfo};
use crate::quant::GgmlType;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
}

/// How rotary embeddings pair up dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// (x[2i], x[2i+1]): llama.cpp stores llama's q/k rows permuted so that this equals HF's rotation.
    Adjacent,
    /// (x[i], x[i + d/2]): GPT-NeoX / qwen2 layout.
    HalfSplit,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub n_layers: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub vocab: usize,
    pub ctx_len: usize,
    pub rope_base: f32,
    pub rope_style: RopeStyle,
    pub rms_eps: f32,
    pub qkv_bias: bool,
    /// Output projection tensor name (`output.weight`, or `token_embd.weight` when tied).
    pub output: String,
}

pub fn blk(layer: usize, name: &str) -> String {
    format!("blk.{layer}.{name}")
}

impl Config {
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Reads the hyper-parameters and checks every tensor the forward pass uses.
    pub fn from_gguf(g: &Gguf) -> Result<Config> {
        let arch_name = g.architecture()?;
        let arch = match arch_name {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            other => return Err(Error::Unsupported(format!("architecture '{other}' (supported: llama, qwen2)"))),
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let int = |k: &str| -> Result<usize> {
            g.get(&key(k))
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| Error::model(format!("missing or non-integer metadata {}", key(k))))
        };
        let float = |k: &str| g.get(&key(k)).and_then(|v| v.as_f64());
        let d_model = int("embedding_length")?;
        let n_heads = int("attention.head_count")?;
        let n_kv_heads = int("attention.head_count_kv").unwrap_or(n_heads);
        if n_heads == 0 || n_kv_heads == 0 || d_model % n_heads != 0 || n_heads % n_kv_heads != 0 {
            return Err(Error::model(format!(
                "inconsistent heads: embedding {d_model}, heads {n_heads}, kv heads {n_kv_heads}"
            )));
        }
        let head_dim = int("attention.key_length").unwrap_or(d_model / n_heads);
        if head_dim % 2 != 0 || head_dim > 256 {
            return Err(Error::Unsupported(format!("head dimension {head_dim} (even, at most 256)")));
        }
        let emb = g.tensor("token_embd.weight").ok_or_else(|| Error::model("missing tensor token_embd.weight"))?;
        let vocab = emb.dims.get(1).copied().unwrap_or(0) as usize;
        let output = if g.tensor("output.weight").is_some() { "output.weight" } else { "token_embd.weight" };
        let cfg = Config {
            arch,
            n_layers: int("block_count")?,
            d_model,
            n_heads,
            n_kv_heads,
            head_dim,
            d_ff: int("feed_forward_length")?,
            vocab,
            ctx_len: int("context_length").unwrap_or(4096),
            rope_base: float("rope.freq_base").unwrap_or(10000.0) as f32,
            rope_style: match arch {
                Arch::Llama => RopeStyle::Adjacent,
                Arch::Qwen2 => RopeStyle::HalfSplit,
            },
            rms_eps: float("attention.layer_norm_rms_epsilon").unwrap_or(1e-6) as f32,
            qkv_bias: g.tensor("blk.0.attn_q.bias").is_some(),
            output: output.to_string(),
        };
        if let Some(rd) = g.get(&key("rope.dimension_count")).and_then(|v| v.as_u64()) {
            if rd as usize != head_dim {
                return Err(Error::Unsupported(format!("partial rotary embedding ({rd} of {head_dim} dims)")));
            }
        }
        cfg.check_tensors(g)?;
        Ok(cfg)
    }

    fn check_tensors(&self, g: &Gguf) -> Result<()> {
        let need = |name: &str, dims: &[usize]| -> Result<&TensorInfo> {
            let t = g.tensor(name).ok_or_else(|| Error::model(format!("missing tensor {name}")))?;
            let want: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
            if t.dims != want {
                return Err(Error::model(format!("tensor {name} has shape {:?}, metadata implies {want:?}", t.dims)));
            }
            Ok(t)
        };
        let (d, q, kv, ff, v) = (self.d_model, self.q_dim(), self.kv_dim(), self.d_ff, self.vocab);
        if v == 0 {
            return Err(Error::model("token_embd.weight has no vocabulary dimension"));
        }
        need("token_embd.weight", &[d, v])?;
        need("output_norm.weight", &[d])?;
        need(&self.output, &[d, v])?;
        for l in 0..self.n_layers {
            for (n, dims) in [
                ("attn_norm.weight", vec![d]),
                ("ffn_norm.weight", vec![d]),
                ("attn_q.weight", vec![d, q]),
                ("attn_k.weight", vec![d, kv]),
                ("attn_v.weight", vec![d, kv]),
                ("attn_output.weight", vec![q, d]),
                ("ffn_gate.weight", vec![d, ff]),
                ("ffn_up.weight", vec![d, ff]),
                ("ffn_down.weight", vec![ff, d]),
            ] {
                let t = need(&blk(l, n), &dims)?;
                if dims.len() == 1 && t.ty != GgmlType::F32 {
                    return Err(Error::Unsupported(format!("norm tensor {} of type {:?} (F32 expected)", t.name, t.ty)));
                }
            }
            if self.qkv_bias {
                need(&blk(l, "attn_q.bias"), &[q])?;
                need(&blk(l, "attn_k.bias"), &[kv])?;
                need(&blk(l, "attn_v.bias"), &[kv])?;
            }
        }
        Ok(())
    }

    /// Rotary inverse frequencies, computed in f32 as HF transformers does.
    pub fn rope_inv_freq(&self) -> Vec<f32> {
        let d = self.head_dim;
        (0..d / 2)
            .map(|i| 1.0 / self.rope_base.powf((2 * i) as f32 / d as f32))
            .collect()
    }

    /// cos/sin table `[pos][i]` (interleaved cos, sin), angle = pos·inv_freq in f32, trig in f64.
    pub fn rope_table(&self, n_pos: usize) -> Vec<f32> {
        let inv = self.rope_inv_freq();
        let mut t = Vec::with_capacity(n_pos * inv.len() * 2);
        for p in 0..n_pos {
            for &f in &inv {
                let a = (p as f32 * f) as f64;
                t.push(a.cos() as f32);
                t.push(a.sin() as f32);
            }
        }
        t
    }
}

/// The operations the transformer is made of. Activations are `[T, n]` row-major, T = tokens in
/// the step; the step's tokens and start position are the backend's state.
pub trait Ops {
    type Act: Clone;
    /// Embedding rows of the step's tokens.
    fn embed(&mut self) -> Self::Act;
    fn rmsnorm(&mut self, x: &Self::Act, weight: &str) -> Self::Act;
    /// `x · Wᵀ (+ bias)`: W is `[n_out][n_in]` (GGUF dims `[n_in, n_out]`).
    fn linear(&mut self, x: &Self::Act, weight: &str, bias: Option<&str>) -> Self::Act;
    /// Several products of one input (q, k, v; gate, up): a backend may run them as one batch.
    fn linears<const N: usize>(&mut self, x: &Self::Act, ws: [(&str, Option<&str>); N]) -> [Self::Act; N] {
        ws.map(|(w, b)| self.linear(x, w, b))
    }
    /// Rotates q in place and k, then appends k and v to the layer's KV cache.
    fn rope_and_cache(&mut self, layer: usize, q: &Self::Act, k: &Self::Act, v: &Self::Act);
    /// Causal multi-head attention of q over the layer's cache (GQA).
    fn attention(&mut self, layer: usize, q: &Self::Act) -> Self::Act;
    fn silu_mul(&mut self, gate: &Self::Act, up: &Self::Act) -> Self::Act;
    /// x += y
    fn add_into(&mut self, x: &Self::Act, y: &Self::Act);
    /// The last row of x, as a one-row activation.
    fn last_row(&mut self, x: &Self::Act) -> Self::Act;
}

/// The forward pass of llama/qwen2 decoders; returns the last position's logits.
pub fn transformer<O: Ops>(o: &mut O, cfg: &Config) -> O::Act {
    let x = body(o, cfg);
    let last = o.last_row(&x);
    head(o, cfg, &last)
}

/// The decoder layers over the step's tokens: the final hidden state of every position.
pub fn body<O: Ops>(o: &mut O, cfg: &Config) -> O::Act {
    let bias = |l: usize, n: &str| cfg.qkv_bias.then(|| blk(l, n));
    let x = o.embed();
    for l in 0..cfg.n_layers {
        let h = o.rmsnorm(&x, &blk(l, "attn_norm.weight"));
        let (wq, wk, wv) = (blk(l, "attn_q.weight"), blk(l, "attn_k.weight"), blk(l, "attn_v.weight"));
        let (bq, bk, bv) = (bias(l, "attn_q.bias"), bias(l, "attn_k.bias"), bias(l, "attn_v.bias"));
        let [q, k, v] = o.linears(&h, [(&wq, bq.as_deref()), (&wk, bk.as_deref()), (&wv, bv.as_deref())]);
        o.rope_and_cache(l, &q, &k, &v);
        let a = o.attention(l, &q);
        let a = o.linear(&a, &blk(l, "attn_output.weight"), None);
        o.add_into(&x, &a);
        let h = o.rmsnorm(&x, &blk(l, "ffn_norm.weight"));
        let (wg, wu) = (blk(l, "ffn_gate.weight"), blk(l, "ffn_up.weight"));
        let [g, u] = o.linears(&h, [(&wg, None), (&wu, None)]);
        let m = o.silu_mul(&g, &u);
        let d = o.linear(&m, &blk(l, "ffn_down.weight"), None);
        o.add_into(&x, &d);
    }
    x
}

/// Logits of hidden states `x` (each of its rows).
pub fn head<O: Ops>(o: &mut O, cfg: &Config, x: &O::Act) -> O::Act {
    let h = o.rmsnorm(x, "output_norm.weight");
    o.linear(&h, &cfg.output, None)
}
