//! The CPU backend, in two precisions over one forward pass:
//!
//! * **reference** ([`Cpu::load`]): every weight dequantized to f32 at load. Slow and obviously
//!   correct: it is the oracle the GPU kernels and the quantized path are tested against, and it
//!   is checked itself against HF transformers' logits (tests/fixtures).
//! * **quantized** ([`Cpu::load_quantized`]): matrices stay in their GGUF blocks and are multiplied
//!   with integer dot products ([`qdot`]: AVX2 natively, simd128 in wasm), on a thread pool
//!   natively. This is the fast backend where WebGPU is missing, and for native evaluations.
//!
//! Everything but the matrix products (norms, rope, attention, the KV cache) is shared f32 code.
use attn::{Heads, Tile};
use crate::engine::{self, Engine};
use crate::gguf::{self, ByteSource};
use crate::model::{self, Config, Ops, RopeStyle};
use crate::quant::{self, GgmlType};
use crate::sample::{self, SamplerParams, TokenMask};
use crate::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub mod attn;
pub mod pool;
pub mod qdot;

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

/// A tensor as the backend holds it.
enum Weight {
    /// Dequantized values: every tensor of the reference; 1-D and float tensors of the quantized path.
    F32(Vec<f32>),
    /// GGUF blocks as stored: rows of `cols` elements.
    Blocks {
        ty: GgmlType,
        cols: usize,
        bytes: Vec<u8>,
    },
}

pub struct Cpu {
    cfg: Config,
    weights: HashMap<String, Weight>,
    quantized: bool,
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    rope: Vec<f32>,
    ctx: usize,
    pos: usize,
    step: Vec<u32>,
    logits: Vec<f32>,
    /// The pass under way verifies a draft: every position's logits, each token through the
    /// kernels a one-token decode uses (so its choices are decode's to the bit).
    verifying: bool,
    /// Why the CPU runs when the GPU was wanted (set by the loader's automatic choice).
    pub fallback: Option<String>,
}

impl Cpu {
    /// The f32 reference: loads and dequantizes every tensor; `ctx` bounds the KV cache (tokens).
    pub async fn load<S: ByteSource>(
        src: &mut S,
        ctx: usize,
        progress: impl FnMut(u64, u64),
    ) -> Result<Cpu> {
        Cpu::load_with(src, ctx, false, progress).await
    }

    /// The fast path: block-quantized matrices stay quantized in memory.
    pub async fn load_quantized<S: ByteSource>(
        src: &mut S,
        ctx: usize,
        progress: impl FnMut(u64, u64),
    ) -> Result<Cpu> {
        Cpu::load_with(src, ctx, true, progress).await
    }

    async fn load_with<S: ByteSource>(
        src: &mut S,
        ctx: usize,
        quantized: bool,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Cpu> {
        let g = gguf::read_header(src).await?;
        let cfg = Config::from_gguf(&g)?;
        let total: u64 = g.tensors.iter().map(|t| t.n_bytes).sum();
        let mut done = 0;
        let mut weights = HashMap::new();
        for t in &g.tensors {
            let bytes = src.read_at(t.offset, t.n_bytes as usize).await?;
            let w = if quantized && t.dims.len() == 2 && qdot::supported(t.ty) {
                // The embedding table only gives rows to dequantize, unless it is also the output.
                let product = t.name != "token_embd.weight" || cfg.output == t.name;
                let (ty, bytes) = if product { qdot::stored(t.ty, bytes) } else { (t.ty, bytes) };
                Weight::Blocks {
                    ty,
                    cols: t.dims[0] as usize,
                    bytes,
                }
            } else {
                let mut v = vec![0f32; t.n_elements() as usize];
                quant::dequantize(t.ty, &bytes, &mut v)
                    .map_err(|e| Error::model(format!("tensor {}: {e}", t.name)))?;
                Weight::F32(v)
            };
            weights.insert(t.name.clone(), w);
            done += t.n_bytes;
            progress(done, total);
        }
        let ctx = ctx.min(cfg.ctx_len).max(1);
        let kv = ctx * cfg.kv_dim();
        Ok(Cpu {
            k_cache: vec![vec![0.0; kv]; cfg.n_layers],
            v_cache: vec![vec![0.0; kv]; cfg.n_layers],
            rope: cfg.rope_table(ctx),
            weights,
            quantized,
            cfg,
            ctx,
            pos: 0,
            step: Vec::new(),
            logits: Vec::new(),
            verifying: false,
            fallback: None,
        })
    }

    /// What runs: "quantized, AVX2, 2 threads" or "f32 reference, 2 threads".
    pub fn describe(&self) -> String {
        let kind = if self.quantized {
            format!("quantized, {}", qdot::simd())
        } else {
            "f32 reference".to_string()
        };
        let n = pool::threads();
        let mut d = format!("{kind}, {n} thread{}", if n == 1 { "" } else { "s" });
        if let Some(why) = &self.fallback {
            d += &format!("; not the GPU because {why}");
        }
        d
    }

    /// The forward pass of the step's tokens; returns the last position's logits. Natively it runs
    /// on a worker of the pool, so every matrix product's tasks start without waking the caller.
    fn forward(&mut self) -> Vec<f32> {
        let cfg = self.cfg.clone();
        let run = move |c: &mut Cpu| {
            let logits = model::transformer(c, &cfg);
            let mut logits = logits.borrow_mut();
            std::mem::take(&mut logits.data)
        };
        struct Ptr(*mut Cpu);
        // SAFETY: the caller waits in `run_on_pool` until the closure returns, so the backend (and
        // the `Rc`s inside its activations) is used by one thread at a time.
        unsafe impl Send for Ptr {}
        let p = Ptr(self);
        pool::run_on_pool(move || {
            let p = p;
            run(unsafe { &mut *p.0 })
        })
    }

    /// A 1-D or float tensor's values (Config::from_gguf checked every tensor the pass names).
    fn w(&self, name: &str) -> &[f32] {
        match &self.weights[name] {
            Weight::F32(v) => v,
            Weight::Blocks { .. } => unreachable!("{name} is kept as f32"),
        }
    }
}

/// Calls `f(i, chunk)` for every `len`-element chunk of `out`, in parallel where there are threads.
fn par_chunks(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let mut chunks: Vec<(usize, &mut [f32])> = out.chunks_mut(len).enumerate().collect();
    pool::for_each_mut(&mut chunks, |(i, c)| f(*i, c));
}

/// Rows per parallel task of a matrix product: 16 when a task runs four or more tokens through
/// them (prefill), 64 for decode, where 16 rows were about a microsecond of work and taking a
/// task (an atomic add shared by the threads, a call) cost a noticeable part of it.
const ROWS: usize = 16;
const DECODE_ROWS: usize = 64;

/// A matrix as a product reads it: `[n][k]` f32 rows, or GGUF blocks.
#[derive(Clone, Copy)]
enum Rows<'a> {
    F32(&'a [f32]),
    Blocks { ty: GgmlType, bytes: &'a [u8] },
}

impl Rows<'_> {
    fn n(&self, k: usize) -> usize {
        match self {
            Rows::F32(w) => w.len() / k,
            Rows::Blocks { ty, bytes } => bytes.len() / ty.row_bytes(k),
        }
    }
}

/// `y = x · Wᵀ` for every matrix of `ws` (x is `[t][k]`, each y `[t][n]`), all in one parallel
/// region: the tasks of every matrix (`ROWS` rows each) go to the pool together, so q/k/v or
/// gate/up cost one fork-join, not three or two; x is quantized once for all of them.
/// `one_by_one`: every token through decode's kernel (see [`block_rows`]).
fn products(x: &[f32], t: usize, k: usize, ws: &[Rows], one_by_one: bool) -> Vec<Vec<f32>> {
    let xq = ws
        .iter()
        .any(|w| matches!(w, Rows::Blocks { .. }))
        .then(|| qdot::QAct::new(x, k));
    let mut ys: Vec<Vec<f32>> = ws.iter().map(|w| vec![0f32; w.n(k) * t]).collect();
    let mut tasks: Vec<(Rows, Cols)> = Vec::new();
    let rows = if t < 4 { DECODE_ROWS } else { ROWS };
    for (w, y) in ws.iter().zip(ys.iter_mut()) {
        let n = w.n(k);
        let y = y.as_mut_ptr();
        for r0 in (0..n).step_by(rows) {
            tasks.push((*w, Cols { y, n, t, r0, rows: rows.min(n - r0) }));
        }
    }
    let run = |(w, out): &mut (Rows, Cols)| match *w {
        Rows::F32(w) => f32_rows(x, k, w, out),
        Rows::Blocks { ty, bytes } => block_rows(xq.as_ref().unwrap(), k, ty, bytes, out, one_by_one),
    };
    pool::for_each_mut(&mut tasks, run);
    ys
}

/// Where one task of a product writes: rows `r0..r0 + rows` of every token of a `[t][n]` output,
/// a block of columns no other task touches.
struct Cols {
    y: *mut f32,
    n: usize,
    t: usize,
    r0: usize,
    rows: usize,
}

// SAFETY: each task's `Cols` covers columns of the output that no other task's does, and the
// output outlives the parallel loop (products waits for every task).
unsafe impl Send for Cols {}

impl Cols {
    /// `y[ti][r0 + r] = v`.
    #[inline(always)]
    fn put(&mut self, ti: usize, r: usize, v: f32) {
        assert!(ti < self.t && r < self.rows);
        // SAFETY: in bounds (checked above), and these columns are this task's alone.
        unsafe { *self.y.add(ti * self.n + self.r0 + r) = v }
    }
}

/// `y[ti][r] = x[ti] · w[r]` for the rows of one task, in f32.
fn f32_rows(x: &[f32], k: usize, w: &[f32], out: &mut Cols) {
    for r in 0..out.rows {
        let wr = &w[(out.r0 + r) * k..(out.r0 + r + 1) * k];
        for ti in 0..out.t {
            out.put(ti, r, dot(&x[ti * k..(ti + 1) * k], wr));
        }
    }
}

/// Tokens [`block_rows`] runs through a row's blocks at once when checking a draft: their sums stay
/// in registers (16 of 256 bits on AVX2; simd128's 128-bit ones are held in fewer registers, and
/// more tokens would spill them).
const LANES: usize = if cfg!(target_arch = "wasm32") { 2 } else { 4 };

/// The same for `ty` blocks. Under four tokens (decode) each row is multiplied straight from its
/// blocks where a fused kernel exists; otherwise the task unpacks its rows once, then runs every
/// token through them, four tokens per pass over a row. `one_by_one` takes decode's way for any
/// number of tokens (a draft's verification, whose choices must be decode's to the bit; the
/// four-token kernel sums in another order).
fn block_rows(xq: &qdot::QAct, k: usize, ty: GgmlType, w: &[u8], out: &mut Cols, one_by_one: bool) {
    let (rb, t, r0, rows) = (ty.row_bytes(k), out.t, out.r0, out.rows);
    let single = t < 4 || one_by_one;
    if single && qdot::fused(ty) {
        for r in 0..rows {
            let row = &w[(r0 + r) * rb..(r0 + r + 1) * rb];
            // A few tokens a pass over the row's blocks, each summed as decode sums it.
            let mut ti = 0;
            while ti + LANES <= t {
                for (j, v) in qdot::row_dots(ty, row, xq, std::array::from_fn::<_, LANES, _>(|j| ti + j)).into_iter().enumerate() {
                    out.put(ti + j, r, v);
                }
                ti += LANES;
            }
            for ti in ti..t {
                out.put(ti, r, qdot::row_dot(ty, row, xq, ti));
            }
        }
        return;
    }
    thread_local! {
        static UNPACKED: RefCell<qdot::Unpacked> = RefCell::new(qdot::Unpacked::new(0, 0, GgmlType::Q8_0));
    }
    UNPACKED.with_borrow_mut(|u| {
        u.reset(k, rows, ty);
        u.fill(ty, &w[r0 * rb..(r0 + rows) * rb]);
        let mut ti = 0;
        let mut four = [[0f32; 4]; ROWS];
        while !single && ti + 4 <= t {
            u.dot4_rows(xq, ti, &mut four[..rows]);
            for (r, v) in four[..rows].iter().enumerate() {
                for (j, v) in v.iter().enumerate() {
                    out.put(ti + j, r, *v);
                }
            }
            ti += 4;
        }
        for ti in ti..t {
            for r in 0..rows {
                out.put(ti, r, u.dot(r, xq, ti));
            }
        }
    })
}

/// eˣ for the softmax and SiLU: Cephes' `expf` (x = n·ln 2 + r, a degree-5 polynomial in r), within
/// a few ulp of libm's. Without branches or calls, so that a loop over it vectorizes: wasm has no
/// exp instruction, and calling libm once per attention score was a tenth of prefill there.
/// Arguments are clamped to [-87, 88], where eˣ is a normal f32 (beyond it the result is the
/// bound's, which neither a softmax weight nor SiLU can tell from 0 or infinity's effect).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2): adding 1.5·2²³ rounds to an integer in f32.
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    (p * r * r + r + 1.0) * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// Dot product with 8 independent accumulators, summed `(a0+a4) + (a1+a5) + (a2+a6) + (a3+a7)`,
/// then the tail: the same order, so the same bits, on every target. The lanes are two 4-wide
/// vectors where the target has them (SSE2 on every x86-64, simd128 in wasm): written as plain
/// arrays, LLVM split them into pairs.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let n8 = a.len() / 8 * 8;
    let acc: [f32; 8];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE is part of x86-64; every load reads 4 of the first n8 values.
        unsafe {
            let (mut lo, mut hi) = (_mm_setzero_ps(), _mm_setzero_ps());
            for i in (0..n8).step_by(8) {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                lo = _mm_add_ps(lo, _mm_mul_ps(_mm_loadu_ps(pa), _mm_loadu_ps(pb)));
                hi = _mm_add_ps(hi, _mm_mul_ps(_mm_loadu_ps(pa.add(4)), _mm_loadu_ps(pb.add(4))));
            }
            let mut v = [0f32; 8];
            _mm_storeu_ps(v.as_mut_ptr(), lo);
            _mm_storeu_ps(v.as_mut_ptr().add(4), hi);
            acc = v;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        // SAFETY: every load reads 4 of the first n8 values; unaligned v128 loads are allowed.
        unsafe {
            let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
            for i in (0..n8).step_by(8) {
                let (pa, pb) = (a.as_ptr().add(i) as *const v128, b.as_ptr().add(i) as *const v128);
                lo = f32x4_add(lo, f32x4_mul(v128_load(pa), v128_load(pb)));
                hi = f32x4_add(hi, f32x4_mul(v128_load(pa.add(1)), v128_load(pb.add(1))));
            }
            let l = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
            let (l, h) = (l(lo), l(hi));
            acc = [l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]];
        }
    }
    #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
    {
        let mut v = [0f32; 8];
        for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
            for i in 0..8 {
                v[i] += ca[i] * cb[i];
            }
        }
        acc = v;
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
        let mut data = vec![0f32; self.step.len() * d];
        for (&t, row) in self.step.iter().zip(data.chunks_exact_mut(d)) {
            let t = t as usize;
            match &self.weights["token_embd.weight"] {
                Weight::F32(e) => row.copy_from_slice(&e[t * d..(t + 1) * d]),
                Weight::Blocks { ty, bytes, .. } => {
                    let rb = ty.row_bytes(d);
                    quant::dequantize(*ty, &bytes[t * rb..(t + 1) * rb], row)
                        .expect("whole blocks per row");
                }
            }
        }
        act(self.step.len(), d, data)
    }

    fn rmsnorm(&mut self, x: &Act, weight: &str) -> Act {
        let x = x.borrow();
        let (w, eps, cols, xd) = (self.w(weight), self.cfg.rms_eps, x.cols, &x.data[..]);
        let mut out = vec![0f32; xd.len()];
        // One task per token.
        par_chunks(&mut out, cols, |i, o| {
            let row = &xd[i * cols..(i + 1) * cols];
            let ms = row.iter().map(|v| v * v).sum::<f32>() / cols as f32;
            let r = 1.0 / (ms + eps).sqrt();
            for ((o, v), g) in o.iter_mut().zip(row).zip(w) {
                *o = g * (v * r);
            }
        });
        act(x.rows, x.cols, out)
    }

    fn linear(&mut self, x: &Act, weight: &str, bias: Option<&str>) -> Act {
        let [y] = self.linears(x, [(weight, bias)]);
        y
    }

    fn linears<const N: usize>(&mut self, x: &Act, ws: [(&str, Option<&str>); N]) -> [Act; N] {
        let x = x.borrow();
        let (t, k) = (x.rows, x.cols);
        let rows = ws.map(|(w, _)| match &self.weights[w] {
            Weight::F32(w) => Rows::F32(w),
            Weight::Blocks { ty, cols, bytes } => {
                debug_assert_eq!(*cols, k);
                Rows::Blocks { ty: *ty, bytes }
            }
        });
        let mut ys = products(&x.data, t, k, &rows, self.verifying).into_iter();
        std::array::from_fn(|i| {
            let (n, mut y) = (rows[i].n(k), ys.next().unwrap());
            if let Some(b) = ws[i].1 {
                let b = self.w(b);
                for row in y.chunks_exact_mut(n) {
                    for (v, bb) in row.iter_mut().zip(b) {
                        *v += bb;
                    }
                }
            }
            act(t, n, y)
        })
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
            self.k_cache[layer][p * kvd..(p + 1) * kvd]
                .copy_from_slice(&k.data[t * kvd..(t + 1) * kvd]);
            self.v_cache[layer][p * kvd..(p + 1) * kvd]
                .copy_from_slice(&v.data[t * kvd..(t + 1) * kvd]);
        }
    }

    fn attention(&mut self, layer: usize, q: &Act) -> Act {
        let c = &self.cfg;
        let (hd, kvd, group) = (c.head_dim, c.kv_dim(), c.n_heads / c.n_kv_heads);
        let q = q.borrow();
        let scale = 1.0 / (hd as f32).sqrt();
        let (kc, vc, pos) = (&self.k_cache[layer], &self.v_cache[layer], self.pos);
        let (qd, qc) = (&q.data[..], q.cols);
        let mut out = vec![0f32; q.rows * q.cols];
        // Tasks: tiles of TILE tokens by every head when there are enough of them for the threads
        // (prefill: each key and value row is read once for the tile's queries of its KV head);
        // otherwise one token by the query heads of one KV head, or, with too few tokens for the
        // threads (decode), one token by one query head.
        const TILE: usize = 4;
        let threads = pool::threads();
        let (rows, per) = if q.rows.div_ceil(TILE) >= 4 * threads {
            (TILE, c.n_heads)
        } else if self.verifying && q.rows > 1 {
            // A draft's check: a few tokens over a long cache, which each thread's tile of them
            // reads once rather than once a token (the cache is as many bytes as the weights).
            (q.rows.div_ceil(threads), c.n_heads)
        } else if q.rows * c.n_kv_heads >= 4 * threads {
            (1, group)
        } else {
            (1, 1)
        };
        let (tasks_per_token, heads) = (c.n_heads / per, Heads { kc, vc, kvd, hd, scale });
        par_chunks(&mut out, if rows > 1 { rows * qc } else { per * hd }, |i, o| {
            thread_local! {
                static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
            }
            let (t0, h0) = if rows > 1 { (i * rows, 0) } else { (i / tasks_per_token, i % tasks_per_token * per) };
            let rows = if rows > 1 { o.len() / qc } else { 1 };
            // The KV groups the task's heads h0..h0 + per fall in.
            let mut h = h0;
            while h < h0 + per {
                let (kvh, end) = (h / group, ((h / group + 1) * group).min(h0 + per));
                let tile = Tile { q: &qd[t0 * qc + h * hd..], rows, stride: qc, nh: end - h, n0: pos + t0 + 1, kvh };
                SCORES.with_borrow_mut(|s| heads.attend(&tile, &mut o[(h - h0) * hd..], s));
                h = end;
            }
        });
        act(q.rows, q.cols, out)
    }

    fn silu_mul(&mut self, gate: &Act, up: &Act) -> Act {
        let (g, u) = (gate.borrow(), up.borrow());
        let (cols, gd, ud) = (g.cols, &g.data[..], &u.data[..]);
        let mut out = vec![0f32; gd.len()];
        // One task per token.
        par_chunks(&mut out, cols, |i, o| {
            let at = i * cols;
            for ((o, &g), &u) in o.iter_mut().zip(&gd[at..at + cols]).zip(&ud[at..at + cols]) {
                *o = g / (1.0 + exp(-g)) * u;
            }
        });
        act(g.rows, g.cols, out)
    }

    fn add_into(&mut self, x: &Act, y: &Act) {
        let y = y.borrow();
        for (a, b) in x.borrow_mut().data.iter_mut().zip(&y.data) {
            *a += b;
        }
    }

    fn last_row(&mut self, x: &Act) -> Act {
        if self.verifying {
            return x.clone();
        }
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
        self.logits = self.forward();
        self.pos += tokens.len();
        Ok(())
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        Ok(self.logits.clone())
    }
    async fn verify(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        engine::check_prefill(tokens, self.pos, self.ctx, self.cfg.vocab)?;
        self.step = tokens.to_vec();
        self.verifying = true;
        let all = self.forward();
        self.verifying = false;
        self.pos += tokens.len();
        let n = all.len() / tokens.len();
        let greedy = SamplerParams::greedy();
        let choices = all.chunks_exact(n).enumerate().map(|(i, row)| sample::sample_masked(row, masks.get(i).copied().flatten(), &greedy, 0.0)).collect();
        self.logits = all[all.len() - n..].to_vec();
        Ok(choices)
    }
    fn batched_verify(&self) -> bool {
        true
    }
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        if self.logits.is_empty() {
            return Err(Error::usage("sample before any prefill"));
        }
        Ok(sample::sample_masked(&self.logits, mask, p, u))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let (got, want) = (super::exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_7;
        }
        assert!(worst <= 3.0 * f32::EPSILON, "relative error {worst}");
        assert_eq!(super::exp(0.0), 1.0);
        // Beyond the clamp: no infinity, no zero, no NaN out of a finite argument.
        assert!(super::exp(-1e4) > 0.0 && super::exp(1e4).is_finite());
        assert!(super::exp(f32::NAN).is_nan());
    }
}
