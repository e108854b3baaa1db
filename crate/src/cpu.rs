//! The CPU reference backend: plain f32, every weight dequantized once at load with
//! [`crate::quant::dequantize`]. Slow and obviously correct: it is the oracle the GPU kernels are
//! tested against, and it is checked itself against HF transformers' logits (tests/fixtures).
use crate::engine::{self, Engine};
use crate::gguf::{self, ByteSource};
use crate::model::{self, Config, Ops, RopeStyle};
use crate::quant;
use crate::sample::{self, SamplerParams};
use crate::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A `[rows, cols]` activation.
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

type Act = Rc<RefCell<Mat>>;

fn act(rows: usize, cols: usize, data: Vec<f32>) -> Act {
    debug_assert_eq!(data.len(), rows * cols);
    Rc::new(RefCell::new(Mat { rows, cols, data }))
}

pub struct Cpu {
    cfg: Config,
    weights: HashMap<String, Vec<f32>>,
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    rope: Vec<f32>,
    ctx: usize,
    pos: usize,
    step: Vec<u32>,
    logits: Vec<f32>,
}

impl Cpu {
    /// Loads and dequantizes every tensor; `ctx` bounds the KV cache (tokens).
    pub async fn load<S: ByteSource>(src: &mut S, ctx: usize, mut progress: impl FnMut(u64, u64)) -> Result<Cpu> {
        let g = gguf::read_header(src).await?;
        let cfg = Config::from_gguf(&g)?;
        let total: u64 = g.tensors.iter().map(|t| t.n_bytes).sum();
        let mut done = 0;
        let mut weights = HashMap::new();
        for t in &g.tensors {
            let bytes = src.read_at(t.offset, t.n_bytes as usize).await?;
            let mut v = vec![0f32; t.n_elements() as usize];
            quant::dequantize(t.ty, &bytes, &mut v).map_err(|e| Error::model(format!("tensor {}: {e}", t.name)))?;
            weights.insert(t.name.clone(), v);
            done += t.n_bytes;
            progress(done, total);
        }
        Ok(Cpu::new(cfg, weights, ctx))
    }

    pub fn new(cfg: Config, weights: HashMap<String, Vec<f32>>, ctx: usize) -> Cpu {
        let ctx = ctx.min(cfg.ctx_len).max(1);
        let kv = ctx * cfg.kv_dim();
        Cpu {
            k_cache: vec![vec![0.0; kv]; cfg.n_layers],
            v_cache: vec![vec![0.0; kv]; cfg.n_layers],
            rope: cfg.rope_table(ctx),
            weights,
            cfg,
            ctx,
            pos: 0,
            step: Vec::new(),
            logits: Vec::new(),
        }
    }

    fn w(&self, name: &str) -> &[f32] {
        // Config::from_gguf checked every tensor the forward pass names.
        &self.weights[name]
    }
}

/// y[t][n] = Σ_k x[t][k]·w[n][k], rows of w split across threads.
pub fn matmul(x: &[f32], t: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; t * n];
    let threads = threads().min(n.max(1));
    let rows_per = n.div_ceil(threads);
    let mut parts: Vec<Vec<f32>> = Vec::new();
    let run = |r0: usize, r1: usize| -> Vec<f32> {
        let mut out = vec![0f32; t * (r1 - r0)];
        for r in r0..r1 {
            let wr = &w[r * k..(r + 1) * k];
            for ti in 0..t {
                out[ti * (r1 - r0) + (r - r0)] = dot(&x[ti * k..(ti + 1) * k], wr);
            }
        }
        out
    };
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let (r0, r1) = ((i * rows_per).min(n), ((i + 1) * rows_per).min(n));
                s.spawn(move || run(r0, r1))
            })
            .collect();
        parts = hs.into_iter().map(|h| h.join().expect("matmul worker")).collect();
    });
    #[cfg(target_arch = "wasm32")]
    {
        parts.push(run(0, n));
    }
    for (i, p) in parts.iter().enumerate() {
        let (r0, r1) = ((i * rows_per).min(n), ((i + 1) * rows_per).min(n));
        for ti in 0..t {
            y[ti * n + r0..ti * n + r1].copy_from_slice(&p[ti * (r1 - r0)..(ti + 1) * (r1 - r0)]);
        }
    }
    y
}

fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Dot product with 8 independent accumulators (vectorizes; order fixed for reproducibility).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for i in n8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Rotates one head vector by the table row `cs` (interleaved cos, sin).
pub fn rope_head(x: &mut [f32], cs: &[f32], style: RopeStyle) {
    let half = x.len() / 2;
    for i in 0..half {
        let (c, s) = (cs[2 * i], cs[2 * i + 1]);
        let (a, b) = match style {
            RopeStyle::Adjacent => (2 * i, 2 * i + 1),
            RopeStyle::HalfSplit => (i, i + half),
        };
        let (x0, x1) = (x[a], x[b]);
        x[a] = x0 * c - x1 * s;
        x[b] = x1 * c + x0 * s;
    }
}

impl Ops for Cpu {
    type Act = Act;

    fn embed(&mut self) -> Act {
        let d = self.cfg.d_model;
        let e = self.w("token_embd.weight");
        let mut data = Vec::with_capacity(self.step.len() * d);
        for &t in &self.step {
            data.extend_from_slice(&e[t as usize * d..(t as usize + 1) * d]);
        }
        act(self.step.len(), d, data)
    }

    fn rmsnorm(&mut self, x: &Act, weight: &str) -> Act {
        let x = x.borrow();
        let w = self.w(weight);
        let mut out = Vec::with_capacity(x.data.len());
        for row in x.data.chunks_exact(x.cols) {
            let ms = row.iter().map(|v| v * v).sum::<f32>() / x.cols as f32;
            let r = 1.0 / (ms + self.cfg.rms_eps).sqrt();
            out.extend(row.iter().zip(w).map(|(v, g)| g * (v * r)));
        }
        act(x.rows, x.cols, out)
    }

    fn linear(&mut self, x: &Act, weight: &str, bias: Option<&str>) -> Act {
        let x = x.borrow();
        let w = self.w(weight);
        let n = w.len() / x.cols;
        let mut y = matmul(&x.data, x.rows, x.cols, w, n);
        if let Some(b) = bias {
            let b = self.w(b);
            for row in y.chunks_exact_mut(n) {
                for (v, bb) in row.iter_mut().zip(b) {
                    *v += bb;
                }
            }
        }
        act(x.rows, n, y)
    }

    fn rope_and_cache(&mut self, layer: usize, q: &Act, k: &Act, v: &Act) {
        let (hd, kvd, half) = (self.cfg.head_dim, self.cfg.kv_dim(), self.cfg.head_dim / 2);
        let style = self.cfg.rope_style;
        let (mut q, mut k, v) = (q.borrow_mut(), k.borrow_mut(), v.borrow());
        for t in 0..q.rows {
            let p = self.pos + t;
            let cs = &self.rope[p * half * 2..(p + 1) * half * 2];
            let qc = q.cols;
            for h in q.data[t * qc..(t + 1) * qc].chunks_exact_mut(hd) {
                rope_head(h, cs, style);
            }
            for h in k.data[t * kvd..(t + 1) * kvd].chunks_exact_mut(hd) {
                rope_head(h, cs, style);
            }
            self.k_cache[layer][p * kvd..(p + 1) * kvd].copy_from_slice(&k.data[t * kvd..(t + 1) * kvd]);
            self.v_cache[layer][p * kvd..(p + 1) * kvd].copy_from_slice(&v.data[t * kvd..(t + 1) * kvd]);
        }
    }

    fn attention(&mut self, layer: usize, q: &Act) -> Act {
        let c = &self.cfg;
        let (hd, kvd, group) = (c.head_dim, c.kv_dim(), c.n_heads / c.n_kv_heads);
        let q = q.borrow();
        let scale = 1.0 / (hd as f32).sqrt();
        let (kc, vc) = (&self.k_cache[layer], &self.v_cache[layer]);
        let mut out = vec![0f32; q.rows * q.cols];
        for t in 0..q.rows {
            let n_keys = self.pos + t + 1;
            for h in 0..c.n_heads {
                let kvh = h / group;
                let qh = &q.data[t * q.cols + h * hd..t * q.cols + (h + 1) * hd];
                let mut s: Vec<f32> =
                    (0..n_keys).map(|j| dot(qh, &kc[j * kvd + kvh * hd..j * kvd + (kvh + 1) * hd]) * scale).collect();
                let m = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for v in s.iter_mut() {
                    *v = (*v - m).exp();
                    sum += *v;
                }
                let o = &mut out[t * q.cols + h * hd..t * q.cols + (h + 1) * hd];
                for (j, p) in s.iter().enumerate() {
                    let vj = &vc[j * kvd + kvh * hd..j * kvd + (kvh + 1) * hd];
                    for (oo, vv) in o.iter_mut().zip(vj) {
                        *oo += p / sum * vv;
                    }
                }
            }
        }
        act(q.rows, q.cols, out)
    }

    fn silu_mul(&mut self, gate: &Act, up: &Act) -> Act {
        let (g, u) = (gate.borrow(), up.borrow());
        let data = g.data.iter().zip(&u.data).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u).collect();
        act(g.rows, g.cols, data)
    }

    fn add_into(&mut self, x: &Act, y: &Act) {
        let y = y.borrow();
        for (a, b) in x.borrow_mut().data.iter_mut().zip(&y.data) {
            *a += b;
        }
    }

    fn last_row(&mut self, x: &Act) -> Act {
        let x = x.borrow();
        act(1, x.cols, x.data[(x.rows - 1) * x.cols..].to_vec())
    }
}

impl Engine for Cpu {
    fn config(&self) -> &Config {
        &self.cfg
    }
    fn pos(&self) -> usize {
        self.pos
    }
    fn truncate(&mut self, pos: usize) -> Result<()> {
        engine::check_truncate(pos, self.pos)?;
        self.pos = pos;
        Ok(())
    }
    async fn prefill(&mut self, tokens: &[u32]) -> Result<()> {
        engine::check_prefill(tokens, self.pos, self.ctx, self.cfg.vocab)?;
        self.step = tokens.to_vec();
        let cfg = self.cfg.clone();
        let logits = model::transformer(self, &cfg);
        self.logits = std::mem::take(&mut logits.borrow_mut().data);
        self.pos += tokens.len();
        Ok(())
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        Ok(self.logits.clone())
    }
    async fn sample(&mut self, p: &SamplerParams, u: f32) -> Result<u32> {
        if self.logits.is_empty() {
            return Err(Error::usage("sample before any prefill"));
        }
        Ok(sample::sample(&self.logits, p, u))
    }
}
