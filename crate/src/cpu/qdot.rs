//! Quantized matrix products for the fast CPU path: the weights stay in their GGUF blocks and are
//! multiplied block by block with integer dot products, the way llama.cpp does it.
//!
//! * Activations are quantized to `i16` per 32 elements ([`QAct`]): scale `amax/32767`, so the
//!   rounding error is ~1.5e-5 of each group's largest value — far below the weights' own error,
//!   which is why this path agrees with the f32 reference to the same tolerances as the GPU.
//! * A weight row is unpacked once into `i16` values `q`, a scale `s` and an offset `m` per 32
//!   elements (`w = s·q + m`, exactly the value [`crate::quant::dequantize`] gives; Q6_K's integer
//!   scale per 16 is folded into `q`), and then multiplied by every token's activations:
//!   `Σ_g s_g·dx_g·(Σ q·xq) + Σ_g m_g·(Σ x)`. That is one float multiply-add per 32 products.
//! * The inner `Σ q·xq` is `pmaddwd` (AVX2), `smlal` (NEON) or `i32x4.dot_i16x8` (wasm simd128);
//!   the scalar loop is the definition, and the tests compare the vector paths against it. A
//!   group's i32 sums stay below 2³¹: |q| ≤ 4096 (Q6_K folded), |xq| ≤ 32767, at most eight
//!   products per lane.
//! * Decode (one token meets each row once) skips the unpacking: [`row_dot`] decodes the blocks in
//!   registers.
use crate::quant::{GgmlType, QK_K};

/// Elements per scale group: every block type's scale unit (Q6_K's per-16 scales are integers,
/// folded into the values).
pub const G: usize = 32;

/// Whether [`Unpacked::fill`] handles this type (every block-quantized GGUF type we read).
pub fn supported(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4K | Q5K | Q6K | Q8K)
}

fn has_min(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, Q4_1 | Q5_1 | Q4K | Q5K)
}

/// `t` rows of `k` activations, quantized per group of [`G`].
pub struct QAct {
    pub k: usize,
    pub q: Vec<i16>,
    pub d: Vec<f32>,
    /// The f32 sum of each group (for the weights' offsets).
    pub sum: Vec<f32>,
    /// The same sums for each run of four tokens, interleaved `[t/4][group][t%4]` so that one
    /// offset per group serves four tokens in one vector multiply-add.
    pub sum4: Vec<f32>,
    /// The scales `d` interleaved the same way: one vector load gives a group's four tokens.
    pub d4: Vec<f32>,
}

impl QAct {
    /// Quantizes `x` (rows of `k`), four tokens a task on the backend's threads.
    pub fn new(x: &[f32], k: usize) -> QAct {
        assert!(
            k % G == 0 && x.len() % k == 0,
            "activations of {} values in rows of {k}",
            x.len()
        );
        let (t, ng) = (x.len() / k, k / G);
        let mut a = QAct {
            k,
            q: vec![0; x.len()],
            d: vec![0.0; t * ng],
            sum: vec![0.0; t * ng],
            sum4: vec![0.0; t / 4 * 4 * ng],
            d4: vec![0.0; t / 4 * 4 * ng],
        };
        // (x, q, d, sum, (d4, sum4)) of four tokens; the last task may hold fewer, and then no
        // interleaved copies.
        let quads = a.d4.chunks_mut(4 * ng).zip(a.sum4.chunks_mut(4 * ng));
        let quads = quads.map(Some).chain(std::iter::repeat_with(|| None));
        let mut tasks: Vec<_> = x
            .chunks(4 * k)
            .zip(a.q.chunks_mut(4 * k))
            .zip(a.d.chunks_mut(4 * ng).zip(a.sum.chunks_mut(4 * ng)))
            .zip(quads)
            .map(|(((x, q), (d, sum)), quad)| (x, q, d, sum, quad))
            .collect();
        super::pool::for_each_mut(&mut tasks, |(x, q, d, sum, quad)| {
            quantize_groups(x, q, d, sum);
            if let Some((d4, sum4)) = quad {
                for j in 0..4 {
                    for g in 0..ng {
                        d4[g * 4 + j] = d[j * ng + g];
                        sum4[g * 4 + j] = sum[j * ng + g];
                    }
                }
            }
        });
        a
    }

    fn row(&self, t: usize) -> (&[i16], &[f32], &[f32]) {
        let g = self.k / G;
        (
            &self.q[t * self.k..(t + 1) * self.k],
            &self.d[t * g..(t + 1) * g],
            &self.sum[t * g..(t + 1) * g],
        )
    }
}

/// Each group of [`G`] values of `x` as `i16` with the scale `amax/32767`, and its f32 sum.
fn quantize_groups(x: &[f32], q: &mut [i16], d: &mut [f32], sum: &mut [f32]) {
    for (((xs, qs), d), sum) in x.chunks_exact(G).zip(q.chunks_exact_mut(G)).zip(d).zip(sum) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        *d = amax / 32767.0;
        let id = if *d > 0.0 { 1.0 / *d } else { 0.0 };
        for (q, v) in qs.iter_mut().zip(xs) {
            // Round half away from zero without a libm call (|v·id| ≤ 32767).
            *q = (v * id + 0.5f32.copysign(*v)) as i16;
        }
        *sum = xs.iter().sum();
    }
}

/// Weight rows as `i16` values with a scale and an offset per group of [`G`].
pub struct Unpacked {
    pub k: usize,
    pub q: Vec<i16>,
    pub s: Vec<f32>,
    pub m: Vec<f32>,
    pub has_min: bool,
}

/// IEEE half to single, exact (subnormals included), inlined: `half`'s conversion is an
/// out-of-line call with a run-time feature check, too slow once per block.
#[inline(always)]
fn f16_at<const F16C: bool>(b: &[u8], i: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if F16C {
        use std::arch::x86_64::*;
        let h = u16::from_le_bytes([b[i], b[i + 1]]) as i32;
        // SAFETY: F16C is only true inside `unpack_avx2`, which requires the f16c feature.
        return unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))) };
    }
    let h = u16::from_le_bytes([b[i], b[i + 1]]) as u32;
    let em = h & 0x7fff;
    // Branch-free: normal numbers re-biased, inf/NaN widened, zero/subnormals exact as man·2⁻²⁴.
    let normal = (em << 13) + (112 << 23);
    let infnan = (em << 13) | 0x7f80_0000;
    let sub = (em as f32 * (1.0 / 16_777_216.0)).to_bits();
    let bits = if em >= 0x7c00 { infnan } else if em < 0x0400 { sub } else { normal };
    f32::from_bits(bits | ((h & 0x8000) << 16))
}

/// ggml's `get_scale_min_k4`.
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Unpacks one block: `BB` bytes into `BE` values and `BE/G` scales and offsets.
#[inline(always)]
fn unpack_block<const BB: usize, const BE: usize, const F16C: bool>(
    ty: GgmlType,
    b: &[u8; BB],
    q: &mut [i16; BE],
    s: &mut [f32],
    m: &mut [f32],
) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q4_1 => {
            let (off, qs): (i16, &[u8; 16]) = if ty == Q4_0 {
                (8, b[2..18].try_into().unwrap())
            } else {
                (0, b[4..20].try_into().unwrap())
            };
            for j in 0..16 {
                q[j] = (qs[j] & 0xF) as i16 - off;
                q[j + 16] = (qs[j] >> 4) as i16 - off;
            }
            s.fill(f16_at::<F16C>(b, 0));
            if ty == Q4_1 {
                m.fill(f16_at::<F16C>(b, 2));
            }
        }
        Q5_0 | Q5_1 => {
            let (off, h, qs): (i16, usize, &[u8; 16]) = if ty == Q5_0 {
                (16, 2, b[6..22].try_into().unwrap())
            } else {
                (0, 4, b[8..24].try_into().unwrap())
            };
            let qh = u32::from_le_bytes([b[h], b[h + 1], b[h + 2], b[h + 3]]);
            for j in 0..16 {
                let h0 = (((qh >> j) << 4) & 0x10) as u8;
                let h1 = ((qh >> (j + 12)) & 0x10) as u8;
                q[j] = ((qs[j] & 0xF) | h0) as i16 - off;
                q[j + 16] = ((qs[j] >> 4) | h1) as i16 - off;
            }
            s.fill(f16_at::<F16C>(b, 0));
            if ty == Q5_1 {
                m.fill(f16_at::<F16C>(b, 2));
            }
        }
        Q8_0 => {
            for j in 0..32 {
                q[j] = b[2 + j] as i8 as i16;
            }
            s.fill(f16_at::<F16C>(b, 0));
        }
        Q8K => {
            for j in 0..QK_K {
                q[j] = b[4 + j] as i8 as i16;
            }
            s.fill(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        }
        Q4K | Q5K => {
            let (d, dmin) = (f16_at::<F16C>(b, 0), f16_at::<F16C>(b, 2));
            let scales = &b[4..16];
            let (qh, ql): (&[u8], &[u8]) = if ty == Q4K {
                (&[0; 32], &b[16..144])
            } else {
                (&b[16..48], &b[48..176])
            };
            let qh: &[u8; 32] = qh.try_into().unwrap();
            for c in 0..4 {
                let qc: &[u8; 32] = ql[c * 32..c * 32 + 32].try_into().unwrap();
                let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
                for l in 0..32 {
                    let (lo, hi) = ((qc[l] & 0xF) as i16, (qc[l] >> 4) as i16);
                    q[c * 64 + l] = lo + if qh[l] & u1 != 0 { 16 } else { 0 };
                    q[c * 64 + 32 + l] = hi + if qh[l] & u2 != 0 { 16 } else { 0 };
                }
                for half in 0..2 {
                    let (sc, mn) = scale_min_k4(2 * c + half, scales);
                    s[2 * c + half] = d * sc as f32;
                    m[2 * c + half] = -(dmin * mn as f32);
                }
            }
        }
        Q6K => {
            let d = f16_at::<F16C>(b, 208);
            for n in 0..2 {
                let ql: &[u8; 64] = b[n * 64..n * 64 + 64].try_into().unwrap();
                let qh: &[u8; 32] = b[128 + n * 32..128 + n * 32 + 32].try_into().unwrap();
                let q: &mut [i16; 128] = (&mut q[n * 128..n * 128 + 128]).try_into().unwrap();
                for l in 0..32 {
                    q[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i16 - 32;
                    q[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i16 - 32;
                    q[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i16 - 32;
                    q[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i16 - 32;
                }
                for (e, v) in q.iter_mut().enumerate() {
                    *v *= (b[192 + n * 8 + e / 16] as i8) as i16;
                }
            }
            s.fill(d);
        }
        F32 | F16 | BF16 => unreachable!("float weights take the f32 path"),
    }
}

/// Unpacks whole rows of blocks of one type (monomorphized per block size, so the loops vectorize).
#[inline(always)]
fn unpack_rows<const BB: usize, const BE: usize, const F16C: bool>(
    ty: GgmlType,
    bytes: &[u8],
    q: &mut [i16],
    s: &mut [f32],
    m: &mut [f32],
) {
    for (((b, q), s), m) in bytes
        .chunks_exact(BB)
        .zip(q.chunks_exact_mut(BE))
        .zip(s.chunks_exact_mut(BE / G))
        .zip(m.chunks_exact_mut(BE / G))
    {
        unpack_block::<BB, BE, F16C>(ty, b.try_into().unwrap(), q.try_into().unwrap(), s, m);
    }
}

#[inline(always)]
fn unpack<const F16C: bool>(ty: GgmlType, bytes: &[u8], q: &mut [i16], s: &mut [f32], m: &mut [f32]) {
    use GgmlType::*;
    match ty {
        Q4_0 => unpack_rows::<18, 32, F16C>(ty, bytes, q, s, m),
        Q4_1 => unpack_rows::<20, 32, F16C>(ty, bytes, q, s, m),
        Q5_0 => unpack_rows::<22, 32, F16C>(ty, bytes, q, s, m),
        Q5_1 => unpack_rows::<24, 32, F16C>(ty, bytes, q, s, m),
        Q8_0 => unpack_rows::<34, 32, F16C>(ty, bytes, q, s, m),
        Q4K => unpack_rows::<144, 256, F16C>(ty, bytes, q, s, m),
        Q5K => unpack_rows::<176, 256, F16C>(ty, bytes, q, s, m),
        Q6K => unpack_rows::<210, 256, F16C>(ty, bytes, q, s, m),
        Q8K => unpack_rows::<292, 256, F16C>(ty, bytes, q, s, m),
        F32 | F16 | BF16 => unreachable!("float weights take the f32 path"),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn unpack_avx2(ty: GgmlType, bytes: &[u8], q: &mut [i16], s: &mut [f32], m: &mut [f32]) {
    unpack::<true>(ty, bytes, q, s, m)
}

impl Unpacked {
    /// Room for `rows` rows of `k` elements of `ty`.
    pub fn new(k: usize, rows: usize, ty: GgmlType) -> Unpacked {
        let mut u = Unpacked {
            k: 0,
            q: Vec::new(),
            s: Vec::new(),
            m: Vec::new(),
            has_min: false,
        };
        u.reset(k, rows, ty);
        u
    }

    /// Reuses the buffers for `rows` rows of `k` elements of `ty` (they grow, never shrink).
    pub fn reset(&mut self, k: usize, rows: usize, ty: GgmlType) {
        self.k = k;
        self.has_min = has_min(ty);
        if self.q.len() < k * rows {
            self.q.resize(k * rows, 0);
            self.s.resize(k * rows / G, 0.0);
            self.m.resize(k * rows / G, 0.0);
        }
    }

    /// Unpacks whole rows of `ty` blocks (`bytes.len() == n·ty.row_bytes(k)`, n ≤ rows) into rows 0..n.
    pub fn fill(&mut self, ty: GgmlType, bytes: &[u8]) {
        let (be, bb) = ty.block();
        let n = bytes.len() / bb * be;
        assert!(
            supported(ty) && bytes.len() % bb == 0 && n % self.k == 0 && n <= self.q.len(),
            "{ty:?} rows"
        );
        let (q, s, m) = (&mut self.q[..n], &mut self.s[..n / G], &mut self.m[..n / G]);
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            // SAFETY: AVX2 is present.
            return unsafe { unpack_avx2(ty, bytes, q, s, m) };
        }
        unpack::<false>(ty, bytes, q, s, m)
    }

    fn row(&self, r: usize) -> (&[i16], &[f32], &[f32]) {
        let (k, g) = (self.k, self.k / G);
        (
            &self.q[r * k..(r + 1) * k],
            &self.s[r * g..(r + 1) * g],
            &self.m[r * g..(r + 1) * g],
        )
    }

    /// Row `r` times token `t` of `x`.
    pub fn dot(&self, r: usize, x: &QAct, t: usize) -> f32 {
        let (q, s, m) = self.row(r);
        let (xq, dx, xs) = x.row(t);
        scaled_dot(q, s, xq, dx) + self.offsets(m, xs)
    }

    /// Rows `0..out.len()` times tokens `t..t + 4` of `x` (`t` a multiple of 4), each row loaded
    /// once for the four: `out[r]` holds row r's four products.
    pub fn dot4_rows(&self, x: &QAct, t: usize, out: &mut [[f32; 4]]) {
        assert!(t % 4 == 0 && out.len() * self.k <= self.q.len(), "rows of four tokens");
        let ng = self.k / G;
        let quad = t / 4 * 4 * ng..(t / 4 + 1) * 4 * ng;
        let xq = [x.row(t).0, x.row(t + 1).0, x.row(t + 2).0, x.row(t + 3).0];
        let (k, n, d4, s4) = (self.k, out.len(), &x.d4[quad.clone()], &x.sum4[quad]);
        let (q, s, m) = (&self.q[..n * k], &self.s[..n * ng], &self.m[..n * ng]);
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            let min = self.has_min.then_some((m, s4));
            // SAFETY: AVX2 and FMA are present; q, s and m hold n rows, the activations, d4 and s4
            // one row's worth each (checked above and by QAct's layout).
            unsafe { x86::rows_dot4(q, s, min, k, xq, d4, out) };
            return;
        }
        for (r, o) in out.iter_mut().enumerate() {
            *o = scaled_dot4(&q[r * k..(r + 1) * k], &s[r * ng..(r + 1) * ng], xq, d4);
            if self.has_min {
                // Σ_g m_g·sum_g for the four tokens at once.
                let mut off = [0f32; 4];
                for (mg, xs) in m[r * ng..(r + 1) * ng].iter().zip(s4.chunks_exact(4)) {
                    for j in 0..4 {
                        off[j] += mg * xs[j];
                    }
                }
                for j in 0..4 {
                    o[j] += off[j];
                }
            }
        }
    }

    fn offsets(&self, m: &[f32], xs: &[f32]) -> f32 {
        if self.has_min {
            super::dot(m, xs)
        } else {
            0.0
        }
    }
}

/// Whether [`row_dot`] reads `ty`'s blocks directly on this CPU. The other types (and every type
/// without a vector unit) are unpacked first, as for prefill.
pub fn fused(ty: GgmlType) -> bool {
    use GgmlType::*;
    #[cfg(target_arch = "x86_64")]
    return matches!(ty, Q4_0 | Q4_1 | Q5_0 | Q8_0 | Q4K | Q6K) && x86::available();
    #[allow(unreachable_code)]
    {
        matches!(ty, Q4_0 | Q4_1 | Q8_0 | Q4K | Q6K) && cfg!(all(target_arch = "wasm32", target_feature = "simd128"))
    }
}

/// The blocks a matrix of `ty` is kept in for products on this CPU: its own, except Q5_0 in wasm,
/// which becomes Q8_0 of the same values ([`crate::quant::q5_0_to_q8_0`], exact). simd128 has no
/// cheap way to spread Q5_0's packed fifth bits over bytes, and its Q5_0 row kernel took twice as
/// long as the Q8_0 one (6.7 against 3.4 ns a block of 32 in V8) for 55 % more bytes.
pub fn stored(ty: GgmlType, bytes: Vec<u8>) -> (GgmlType, Vec<u8>) {
    if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) && ty == GgmlType::Q5_0 {
        return (GgmlType::Q8_0, crate::quant::q5_0_to_q8_0(&bytes));
    }
    (ty, bytes)
}

/// One row of `ty` blocks (`row.len() == ty.row_bytes(x.k)`) times token `t` of `x`, decoding the
/// blocks in registers: the decode path, where a row meets one token and unpacking it to memory
/// first would cost more than the product. Equal to [`Unpacked::dot`] up to f32 rounding.
pub fn row_dot(ty: GgmlType, row: &[u8], x: &QAct, t: usize) -> f32 {
    row_dots(ty, row, x, [t])[0]
}

/// [`row_dot`] for `N` tokens of `x` at once, the row's blocks decoded once for all of them; each
/// token's result is [`row_dot`]'s to the bit (a draft's check must choose what decode would).
pub fn row_dots<const N: usize>(ty: GgmlType, row: &[u8], x: &QAct, t: [usize; N]) -> [f32; N] {
    let rows = t.map(|t| x.row(t));
    assert!(fused(ty) && row.len() == ty.row_bytes(x.k), "{ty:?} row of {} bytes", row.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: fused(ty) implies AVX2, FMA and F16C; the row holds x.k elements (checked above).
    return unsafe { x86::row_dot(ty, row, rows) };
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm::row_dot(ty, row, rows);
    #[allow(unreachable_code)]
    {
        let _ = rows;
        unreachable!("no fused kernel on this target")
    }
}

/// Which vector kernel [`scaled_dot`] runs: `AVX2`, `NEON`, `simd128` or `scalar`.
pub fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return "AVX2";
    }
    if cfg!(target_arch = "aarch64") {
        "NEON"
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "simd128"
    } else {
        "scalar"
    }
}

/// `Σ_g s_g·dx_g·Σ_{i∈g} q_i·x_i` over groups of [`G`]: the vector kernel where the CPU has one.
pub fn scaled_dot(q: &[i16], s: &[f32], xq: &[i16], dx: &[f32]) -> f32 {
    assert!(q.len() == xq.len() && s.len() == dx.len() && s.len() * G == q.len());
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        // SAFETY: AVX2 and FMA are present; the lengths were checked above.
        return unsafe { x86::scaled_dot(q, s, xq, dx) };
    }
    #[cfg(target_arch = "aarch64")]
    return neon::scaled_dot(q, s, xq, dx);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm::scaled_dot(q, s, xq, dx);
    #[allow(unreachable_code)]
    scaled_dot_scalar(q, s, xq, dx)
}

/// [`scaled_dot`] for four activation rows at once.
/// `d4` holds the four rows' activation scales interleaved: `d4[4·g + j]` is row j's `dx[g]`.
pub fn scaled_dot4(q: &[i16], s: &[f32], xq: [&[i16]; 4], d4: &[f32]) -> [f32; 4] {
    for xq in xq {
        assert!(q.len() == xq.len() && s.len() * 4 == d4.len() && s.len() * G == q.len());
    }
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        // SAFETY: as in scaled_dot.
        return unsafe { x86::scaled_dot4(q, s, xq, d4) };
    }
    #[cfg(target_arch = "aarch64")]
    return neon::scaled_dot4(q, s, xq, d4);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm::scaled_dot4(q, s, xq, d4);
    #[allow(unreachable_code)]
    std::array::from_fn(|j| {
        let dx: Vec<f32> = d4.chunks_exact(4).map(|d| d[j]).collect();
        scaled_dot(q, s, xq[j], &dx)
    })
}

/// The definition the vector kernels are tested against.
pub fn scaled_dot_scalar(q: &[i16], s: &[f32], xq: &[i16], dx: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (g, (qg, xg)) in q.chunks_exact(G).zip(xq.chunks_exact(G)).enumerate() {
        let i: i32 = qg.iter().zip(xg).map(|(&a, &b)| a as i32 * b as i32).sum();
        acc += s[g] * dx[g] * i as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::G;
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    /// AVX2 + FMA, detected once; `MEM1_NO_SIMD=1` forces the scalar path (for comparisons).
    pub fn available() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::env::var_os("MEM1_NO_SIMD").is_none()
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
        })
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    /// `Σ q·x` over one group of 32 i16 pairs, as 8 f32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn group(q: *const i16, x: *const i16) -> __m256 {
        let (q0, q1) = (q as *const __m256i, q.add(16) as *const __m256i);
        let (x0, x1) = (x as *const __m256i, x.add(16) as *const __m256i);
        _mm256_cvtepi32_ps(_mm256_add_epi32(
            _mm256_madd_epi16(_mm256_loadu_si256(q0), _mm256_loadu_si256(x0)),
            _mm256_madd_epi16(_mm256_loadu_si256(q1), _mm256_loadu_si256(x1)),
        ))
    }

    /// # Safety
    /// AVX2 and FMA must be available; `q.len() == xq.len() == G·s.len() == G·dx.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scaled_dot(q: &[i16], s: &[f32], xq: &[i16], dx: &[f32]) -> f32 {
        let n = s.len();
        let (qp, xp) = (q.as_ptr(), xq.as_ptr());
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut g = 0;
        while g + 2 <= n {
            let p0 = group(qp.add(g * G), xp.add(g * G));
            let p1 = group(qp.add(g * G + G), xp.add(g * G + G));
            a0 = _mm256_fmadd_ps(
                _mm256_set1_ps(*s.get_unchecked(g) * *dx.get_unchecked(g)),
                p0,
                a0,
            );
            a1 = _mm256_fmadd_ps(
                _mm256_set1_ps(*s.get_unchecked(g + 1) * *dx.get_unchecked(g + 1)),
                p1,
                a1,
            );
            g += 2;
        }
        if g < n {
            let p0 = group(qp.add(g * G), xp.add(g * G));
            a0 = _mm256_fmadd_ps(
                _mm256_set1_ps(*s.get_unchecked(g) * *dx.get_unchecked(g)),
                p0,
                a0,
            );
        }
        hsum(_mm256_add_ps(a0, a1))
    }

    /// ggml's `bytes_from_bits_32`: byte j is 0xFF where bit j of `bits` is set, else 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn bytes_from_bits(bits: u32) -> __m256i {
        let shuf = _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0,
        );
        let b = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
        let b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1))
    }

    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn half(p: *const u8) -> f32 {
        let h = (p as *const u16).read_unaligned() as i32;
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)))
    }

    /// The 32 bytes of a vector widened to i16 in two halves of 16 (`SIGNED`: the bytes are i8).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn widen<const SIGNED: bool>(v: __m256i) -> (__m256i, __m256i) {
        let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        if SIGNED {
            (_mm256_cvtepi8_epi16(lo), _mm256_cvtepi8_epi16(hi))
        } else {
            (_mm256_cvtepu8_epi16(lo), _mm256_cvtepu8_epi16(hi))
        }
    }

    /// `acc + sd · (w · x)` for one group of 32: `w` the i16 weights in two halves, `x` points at
    /// the group's 32 i16 activations.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_group(acc: __m256, sd: f32, w: (__m256i, __m256i), x: *const i16) -> __m256 {
        let p0 = _mm256_madd_epi16(w.0, _mm256_loadu_si256(x as *const __m256i));
        let p1 = _mm256_madd_epi16(w.1, _mm256_loadu_si256(x.add(16) as *const __m256i));
        _mm256_fmadd_ps(_mm256_set1_ps(sd), _mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), acc)
    }

    /// [`super::row_dots`] on AVX2: every block decoded in registers, never stored, and run
    /// through each of `N` tokens' activations (`x[j]` = their `(xq, dx, xs)`) in turn, each
    /// token's sums in the order of the one-token kernel (so its result is that kernel's, bit
    /// for bit).
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available; `row` holds `xq.len()` elements of `ty` for every
    /// token, `dx` and `xs` one value per group of [`G`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn row_dot<const N: usize>(ty: super::GgmlType, row: &[u8], x: [(&[i16], &[f32], &[f32]); N]) -> [f32; N] {
        use super::GgmlType::*;
        // One copy of the block loop per type (the match inside it folds away).
        match ty {
            Q4_0 => blocks(Q4_0, row, x),
            Q4_1 => blocks(Q4_1, row, x),
            Q5_0 => blocks(Q5_0, row, x),
            Q8_0 => blocks(Q8_0, row, x),
            Q4K => blocks(Q4K, row, x),
            Q6K => blocks(Q6K, row, x),
            _ => unreachable!("{ty:?} has no fused kernel"),
        }
    }

    #[inline(always)]
    unsafe fn blocks<const N: usize>(ty: super::GgmlType, row: &[u8], xt: [(&[i16], &[f32], &[f32]); N]) -> [f32; N] {
        use super::GgmlType::*;
        let b0 = row.as_ptr();
        let xs0: [(*const i16, *const f32, *const f32); N] = xt.map(|(q, d, s)| (q.as_ptr(), d.as_ptr(), s.as_ptr()));
        let k = xt[0].0.len();
        let m4 = _mm256_set1_epi8(0xF);
        // Two accumulators a token, alternating by group, so consecutive multiply-adds do not wait on each other.
        let (mut a0, mut a1) = ([_mm256_setzero_ps(); N], [_mm256_setzero_ps(); N]);
        let mut off = [0f32; N];
        let (be, bb) = ty.block();
        for i in 0..k / be {
            let (b, g) = (b0.add(i * bb), i * be / G);
            let x = |j: usize| xs0[j].0.add(i * be);
            let dx = |j: usize, g: usize| *xs0[j].1.add(g);
            let xs = |j: usize, g: usize| *xs0[j].2.add(g);
            match ty {
                Q4_0 | Q4_1 | Q5_0 | Q8_0 => {
                    let d = half(b);
                    let w = match ty {
                        Q8_0 => widen::<true>(_mm256_loadu_si256(b.add(2) as *const __m256i)),
                        _ => {
                            // Bytes 0..16: the low nibbles (elements 0..16); 16..32: the high ones.
                            let at = match ty { Q4_0 => 2, Q4_1 => 4, _ => 6 };
                            let qs = _mm_loadu_si128(b.add(at) as *const __m128i);
                            let mut q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), m4);
                            if ty == Q5_0 {
                                let bits = (b.add(2) as *const u32).read_unaligned();
                                let h = _mm256_and_si256(bytes_from_bits(bits), _mm256_set1_epi8(0x10));
                                q = _mm256_or_si256(q, h);
                            }
                            let bias = _mm256_set1_epi16(match ty { Q4_0 => 8, Q4_1 => 0, _ => 16 });
                            let (wl, wh) = widen::<false>(q);
                            (_mm256_sub_epi16(wl, bias), _mm256_sub_epi16(wh, bias))
                        }
                    };
                    for j in 0..N {
                        a0[j] = fma_group(a0[j], d * dx(j, g), w, x(j));
                        if ty == Q4_1 {
                            off[j] += half(b.add(2)) * xs(j, g);
                        }
                    }
                    std::mem::swap(&mut a0, &mut a1);
                }
                Q4K => {
                    let (d, dmin) = (half(b), half(b.add(2)));
                    let scales = std::slice::from_raw_parts(b.add(4), 12);
                    for c in 0..4 {
                        let q = _mm256_loadu_si256(b.add(16 + 32 * c) as *const __m256i);
                        let lo = widen::<false>(_mm256_and_si256(q, m4));
                        let hi = widen::<false>(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
                        let (sl, ml) = super::scale_min_k4(2 * c, scales);
                        let (sh, mh) = super::scale_min_k4(2 * c + 1, scales);
                        let gc = g + 2 * c;
                        for j in 0..N {
                            a0[j] = fma_group(a0[j], d * sl as f32 * dx(j, gc), lo, x(j).add(64 * c));
                            a1[j] = fma_group(a1[j], d * sh as f32 * dx(j, gc + 1), hi, x(j).add(64 * c + 32));
                            off[j] -= dmin * (ml as f32 * xs(j, gc) + mh as f32 * xs(j, gc + 1));
                        }
                    }
                }
                Q6K => {
                    let d = half(b.add(208));
                    let m32 = _mm256_set1_epi8(32);
                    for n in 0..2 {
                        let ql0 = _mm256_loadu_si256(b.add(64 * n) as *const __m256i);
                        let ql1 = _mm256_loadu_si256(b.add(64 * n + 32) as *const __m256i);
                        let qh = _mm256_loadu_si256(b.add(128 + 32 * n) as *const __m256i);
                        let v = [
                            _mm256_or_si256(
                                _mm256_and_si256(ql0, m4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(3)), 4),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(ql1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0xC)), 2),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_and_si256(qh, _mm256_set1_epi8(0x30)),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0xC0u8 as i8)), 2),
                            ),
                        ];
                        for (jv, v) in v.into_iter().enumerate() {
                            // 32 values with an integer scale per 16, multiplied in before the dot.
                            let (w0, w1) = widen::<true>(_mm256_sub_epi8(v, m32));
                            let sc = b.add(192 + 8 * n + 2 * jv) as *const i8;
                            let w0 = _mm256_mullo_epi16(w0, _mm256_set1_epi16(*sc as i16));
                            let w1 = _mm256_mullo_epi16(w1, _mm256_set1_epi16(*sc.add(1) as i16));
                            for j in 0..N {
                                a0[j] = fma_group(a0[j], d * dx(j, g + 4 * n + jv), (w0, w1), x(j).add(128 * n + 32 * jv));
                            }
                            std::mem::swap(&mut a0, &mut a1);
                        }
                    }
                }
                _ => unreachable!("{ty:?} has no fused kernel"),
            }
        }
        std::array::from_fn(|j| hsum(_mm256_add_ps(a0[j], a1[j])) + off[j])
    }

    /// # Safety
    /// As [`scaled_dot`], for each of the four activation rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scaled_dot4(q: &[i16], s: &[f32], xq: [&[i16]; 4], d4: &[f32]) -> [f32; 4] {
        dot4::<false>(q, s, &[], xq, d4, &[])
    }

    /// [`scaled_dot4`] for consecutive rows of `k` values (`q`, `s` hold `out.len()` rows): one
    /// call for all the rows of a task, so that each row's final sums overlap the next row's
    /// products instead of waiting at a call's return. With `min` (the rows' offsets `m` per
    /// group, and the four tokens' group sums interleaved as [`QAct::sum4`]), each row also gets
    /// `Σ_g m_g·sum_g`, in the same pass over the groups.
    ///
    /// # Safety
    /// As [`scaled_dot4`], for every row; `m` holds `out.len()·k/G` values, the sums `4·k/G`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_dot4(
        q: &[i16],
        s: &[f32],
        min: Option<(&[f32], &[f32])>,
        k: usize,
        xq: [&[i16]; 4],
        d4: &[f32],
        out: &mut [[f32; 4]],
    ) {
        let ng = k / G;
        for (r, o) in out.iter_mut().enumerate() {
            let (q, s) = (&q[r * k..(r + 1) * k], &s[r * ng..(r + 1) * ng]);
            *o = match min {
                Some((m, s4)) => dot4::<true>(q, s, &m[r * ng..(r + 1) * ng], xq, d4, s4),
                None => dot4::<false>(q, s, &[], xq, d4, &[]),
            };
        }
    }

    #[inline(always)]
    unsafe fn dot4<const MIN: bool>(q: &[i16], s: &[f32], m: &[f32], xq: [&[i16]; 4], d4: &[f32], s4: &[f32]) -> [f32; 4] {
        let qp = q.as_ptr();
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut off = _mm_setzero_ps();
        for g in 0..s.len() {
            let w0 = _mm256_loadu_si256(qp.add(g * G) as *const __m256i);
            let w1 = _mm256_loadu_si256(qp.add(g * G + 16) as *const __m256i);
            // The four tokens' scales in one multiply.
            let sd = _mm_mul_ps(_mm_set1_ps(*s.get_unchecked(g)), _mm_loadu_ps(d4.as_ptr().add(4 * g)));
            let sd = _mm256_castps128_ps256(sd);
            if MIN {
                off = _mm_fmadd_ps(_mm_set1_ps(*m.get_unchecked(g)), _mm_loadu_ps(s4.as_ptr().add(4 * g)), off);
            }
            for j in 0..4 {
                let x = xq[j].as_ptr().add(g * G);
                let x0 = _mm256_loadu_si256(x as *const __m256i);
                let x1 = _mm256_loadu_si256(x.add(16) as *const __m256i);
                let p = _mm256_add_epi32(_mm256_madd_epi16(w0, x0), _mm256_madd_epi16(w1, x1));
                let p = _mm256_cvtepi32_ps(p);
                let sdj = _mm256_permutevar8x32_ps(sd, _mm256_set1_epi32(j as i32));
                acc[j] = _mm256_fmadd_ps(sdj, p, acc[j]);
            }
        }
        let mut o = [0f32; 4];
        _mm_storeu_ps(o.as_mut_ptr(), off);
        [hsum(acc[0]) + o[0], hsum(acc[1]) + o[1], hsum(acc[2]) + o[2], hsum(acc[3]) + o[3]]
    }
}

#[cfg(target_arch = "aarch64")]
pub mod neon {
    //! The NEON forms of [`super::scaled_dot`] and [`super::scaled_dot4`] (every aarch64 CPU has
    //! NEON): `smlal` multiplies i16 pairs into i32 lanes, eight products per lane per group, as
    //! the AVX2 and simd128 kernels sum them. Decode unpacks rows first on this target (no fused
    //! row kernels), then takes the same products.
    use super::G;
    use std::arch::aarch64::*;

    /// `Σ q·x` over one group of 32 as four i32 lanes (eight products each: below 2³¹, as
    /// [`super`] explains).
    ///
    /// # Safety
    /// `q` and `x` point at 32 readable values.
    #[inline(always)]
    unsafe fn group(w: &[int16x8_t; 4], x: *const i16) -> int32x4_t {
        let mut p = vdupq_n_s32(0);
        for (i, w) in w.iter().enumerate() {
            let b = vld1q_s16(x.add(8 * i));
            p = vmlal_s16(p, vget_low_s16(*w), vget_low_s16(b));
            p = vmlal_high_s16(p, *w, b);
        }
        p
    }

    #[inline(always)]
    unsafe fn weights(q: *const i16) -> [int16x8_t; 4] {
        [vld1q_s16(q), vld1q_s16(q.add(8)), vld1q_s16(q.add(16)), vld1q_s16(q.add(24))]
    }

    /// Lengths as checked by [`super::scaled_dot`].
    pub fn scaled_dot(q: &[i16], s: &[f32], xq: &[i16], dx: &[f32]) -> f32 {
        // SAFETY: (g + 1)·G ≤ q.len() == xq.len() for every group g < s.len() == dx.len().
        unsafe {
            let mut acc = vdupq_n_f32(0.0);
            for g in 0..s.len() {
                let p = group(&weights(q.as_ptr().add(g * G)), xq.as_ptr().add(g * G));
                acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), s[g] * dx[g]);
            }
            vaddvq_f32(acc)
        }
    }

    /// Lengths as checked by [`super::scaled_dot4`].
    pub fn scaled_dot4(q: &[i16], s: &[f32], xq: [&[i16]; 4], d4: &[f32]) -> [f32; 4] {
        // SAFETY: as in scaled_dot, and 4·(g + 1) ≤ d4.len().
        unsafe {
            let mut acc = [vdupq_n_f32(0.0); 4];
            for g in 0..s.len() {
                let w = weights(q.as_ptr().add(g * G));
                let sd = vmulq_n_f32(vld1q_f32(d4.as_ptr().add(4 * g)), s[g]);
                let p = |j: usize| vcvtq_f32_s32(group(&w, xq[j].as_ptr().add(g * G)));
                acc[0] = vfmaq_laneq_f32::<0>(acc[0], p(0), sd);
                acc[1] = vfmaq_laneq_f32::<1>(acc[1], p(1), sd);
                acc[2] = vfmaq_laneq_f32::<2>(acc[2], p(2), sd);
                acc[3] = vfmaq_laneq_f32::<3>(acc[3], p(3), sd);
            }
            acc.map(|a| vaddvq_f32(a))
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm {
    use super::G;
    use core::arch::wasm32::*;

    use super::GgmlType;

    #[inline(always)]
    fn half(b: &[u8], i: usize) -> f32 {
        super::f16_at::<false>(b, i)
    }

    /// `Σ w·x` of 16 i16 pairs: `w` as two i16x8 halves, `x` 16 activations.
    #[inline(always)]
    fn dot16(w: (v128, v128), x: &[i16]) -> v128 {
        assert!(x.len() >= 16);
        // SAFETY: x holds 16 values (checked above); unaligned v128 loads are allowed.
        unsafe {
            let xp = x.as_ptr() as *const v128;
            i32x4_add(i32x4_dot_i16x8(w.0, v128_load(xp)), i32x4_dot_i16x8(w.1, v128_load(xp.add(1))))
        }
    }

    /// `acc + sd · (w · x)` for one group of 32: `w` as two halves of 16, `x` the group's activations.
    #[inline(always)]
    fn fma_group(acc: v128, sd: f32, w: [(v128, v128); 2], x: &[i16]) -> v128 {
        let p = i32x4_add(dot16(w[0], &x[..16]), dot16(w[1], &x[16..G]));
        f32x4_add(acc, f32x4_mul(f32x4_splat(sd), f32x4_convert_i32x4(p)))
    }

    #[inline(always)]
    fn load(b: &[u8], at: usize) -> v128 {
        assert!(at + 16 <= b.len());
        // SAFETY: in bounds (checked above); unaligned v128 loads are allowed.
        unsafe { v128_load(b.as_ptr().add(at) as *const v128) }
    }

    #[inline(always)]
    fn widen_u(v: v128) -> (v128, v128) {
        (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v))
    }

    #[inline(always)]
    fn widen_i(v: v128) -> (v128, v128) {
        (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
    }

    #[inline(always)]
    fn minus(w: (v128, v128), bias: i16) -> (v128, v128) {
        (i16x8_sub(w.0, i16x8_splat(bias)), i16x8_sub(w.1, i16x8_splat(bias)))
    }

    /// simd128 form of [`super::row_dots`]: every block decoded in registers, then run through
    /// each token's activations, each token's sums in the one-token kernel's order.
    pub fn row_dot<const N: usize>(ty: GgmlType, row: &[u8], x: [(&[i16], &[f32], &[f32]); N]) -> [f32; N] {
        use GgmlType::*;
        match ty {
            Q4_0 => blocks32(Q4_0, row, x),
            Q4_1 => blocks32(Q4_1, row, x),
            Q8_0 => blocks32(Q8_0, row, x),
            Q4K => blocks_k(Q4K, row, x),
            Q6K => blocks_k(Q6K, row, x),
            _ => unreachable!("{ty:?} has no fused kernel"),
        }
    }

    /// The f16 values at `p`, `p + stride`, `p + 2·stride`, `p + 3·stride` as four f32 lanes, exactly
    /// as [`super::f16_at`] converts one: the bits moved into place and scaled by 2¹¹² (normal and
    /// subnormal halves alike, zero included), inf/NaN widened. Four scales cost about what one
    /// scalar conversion did.
    ///
    /// # Safety
    /// `p + 3·stride + 2` bytes must be readable.
    #[inline(always)]
    unsafe fn halves4(p: *const u8, stride: usize) -> v128 {
        let h = |i: usize| (p.add(i * stride) as *const u16).read_unaligned() as u32;
        let v = u32x4(h(0), h(1), h(2), h(3));
        let em = v128_and(v, u32x4_splat(0x7fff));
        let bits = i32x4_shl(em, 13);
        let finite = f32x4_mul(bits, f32x4_splat(f32::from_bits(0x7780_0000)));
        let special = v128_or(bits, u32x4_splat(0x7f80_0000));
        let mag = v128_bitselect(special, finite, u32x4_ge(em, u32x4_splat(0x7c00)));
        v128_or(mag, i32x4_shl(v128_and(v, u32x4_splat(0x8000)), 16))
    }

    /// The 32 weights of one block of a 32-element type, as i16 in two halves of 16.
    ///
    /// # Safety
    /// `b` points at a whole block of `ty`.
    #[inline(always)]
    unsafe fn weights32(ty: GgmlType, b: *const u8) -> [(v128, v128); 2] {
        use GgmlType::*;
        let at = |o: usize| v128_load(b.add(o) as *const v128);
        let m4 = u8x16_splat(0xF);
        match ty {
            Q8_0 => [widen_i(at(2)), widen_i(at(18))],
            Q4_0 | Q4_1 => {
                let qs = at(if ty == Q4_0 { 2 } else { 4 });
                let (lo, hi) = (v128_and(qs, m4), u8x16_shr(qs, 4));
                let bias = if ty == Q4_0 { 8 } else { 0 };
                [minus(widen_u(lo), bias), minus(widen_u(hi), bias)]
            }
            _ => unreachable!("{ty:?} blocks are not 32 elements"),
        }
    }

    /// `Σ w·x` over one block of 32 as four i32 lanes; `x` points at its 32 activations.
    #[inline(always)]
    unsafe fn dot32(w: [(v128, v128); 2], x: *const i16) -> v128 {
        let x = x as *const v128;
        let d = |w: v128, i: usize| i32x4_dot_i16x8(w, v128_load(x.add(i)));
        i32x4_add(i32x4_add(d(w[0].0, 0), d(w[0].1, 1)), i32x4_add(d(w[1].0, 2), d(w[1].1, 3)))
    }

    /// The row kernel of the 32-element types (Q4_0, Q4_1, Q8_0), four blocks a step: their
    /// four f16 scales (and Q4_1's offsets) are converted together and multiplied by the four
    /// activation scales in one vector op; the last `n % 4` blocks go one at a time.
    #[inline(always)]
    fn blocks32<const N: usize>(ty: GgmlType, row: &[u8], xt: [(&[i16], &[f32], &[f32]); N]) -> [f32; N] {
        let bb = ty.block().1;
        let nb = row.len() / bb;
        for (xq, dx, xs) in xt {
            assert!(row.len() == nb * bb && xq.len() == nb * G && dx.len() == nb && xs.len() == nb);
        }
        let (mut a0, mut a1) = ([f32x4_splat(0.0); N], [f32x4_splat(0.0); N]);
        let mut off4 = [f32x4_splat(0.0); N];
        let rp = row.as_ptr();
        let mut i = 0;
        // SAFETY: every pointer below stays inside row, xq, dx and xs (lengths checked above).
        unsafe {
            while i + 4 <= nb {
                let b = rp.add(i * bb);
                let h4 = halves4(b, bb);
                let m4 = if ty == GgmlType::Q4_1 { halves4(b.add(2), bb) } else { h4 };
                let w = [weights32(ty, b), weights32(ty, b.add(bb)), weights32(ty, b.add(2 * bb)), weights32(ty, b.add(3 * bb))];
                for (j, (xq, dx, xs)) in xt.iter().enumerate() {
                    let xp = xq.as_ptr();
                    let d4 = f32x4_mul(h4, v128_load(dx.as_ptr().add(i) as *const v128));
                    if ty == GgmlType::Q4_1 {
                        off4[j] = f32x4_add(off4[j], f32x4_mul(m4, v128_load(xs.as_ptr().add(i) as *const v128)));
                    }
                    let p0 = f32x4_convert_i32x4(dot32(w[0], xp.add(i * G)));
                    let p1 = f32x4_convert_i32x4(dot32(w[1], xp.add((i + 1) * G)));
                    a0[j] = f32x4_add(a0[j], f32x4_mul(i32x4_shuffle::<0, 0, 0, 0>(d4, d4), p0));
                    a1[j] = f32x4_add(a1[j], f32x4_mul(i32x4_shuffle::<1, 1, 1, 1>(d4, d4), p1));
                    let p2 = f32x4_convert_i32x4(dot32(w[2], xp.add((i + 2) * G)));
                    let p3 = f32x4_convert_i32x4(dot32(w[3], xp.add((i + 3) * G)));
                    a0[j] = f32x4_add(a0[j], f32x4_mul(i32x4_shuffle::<2, 2, 2, 2>(d4, d4), p2));
                    a1[j] = f32x4_add(a1[j], f32x4_mul(i32x4_shuffle::<3, 3, 3, 3>(d4, d4), p3));
                }
                i += 4;
            }
            let mut off = off4.map(hsum);
            while i < nb {
                let b = &row[i * bb..(i + 1) * bb];
                let w = weights32(ty, b.as_ptr());
                for (j, (xq, dx, xs)) in xt.iter().enumerate() {
                    let p = f32x4_convert_i32x4(dot32(w, xq.as_ptr().add(i * G)));
                    a0[j] = f32x4_add(a0[j], f32x4_mul(f32x4_splat(half(b, 0) * dx[i]), p));
                    if ty == GgmlType::Q4_1 {
                        off[j] += half(b, 2) * xs[i];
                    }
                }
                i += 1;
            }
            std::array::from_fn(|j| hsum(f32x4_add(a0[j], a1[j])) + off[j])
        }
    }

    /// The row kernel of the K types (256 elements a block).
    #[inline(always)]
    fn blocks_k<const N: usize>(ty: GgmlType, row: &[u8], xt: [(&[i16], &[f32], &[f32]); N]) -> [f32; N] {
        use GgmlType::*;
        let m4 = u8x16_splat(0xF);
        let (mut a0, mut a1) = ([f32x4_splat(0.0); N], [f32x4_splat(0.0); N]);
        let mut off = [0f32; N];
        let (be, bb) = ty.block();
        for (bi, b) in row.chunks_exact(bb).enumerate() {
            let (e0, g0) = (bi * be, bi * be / G);
            let x = |j: usize, from: usize, to: usize| &xt[j].0[e0 + from..e0 + to];
            let dx = |j: usize, g: usize| xt[j].1[g0 + g];
            let xs = |j: usize, g: usize| xt[j].2[g0 + g];
            match ty {
                Q4K => {
                    let (d, dmin) = (half(b, 0), half(b, 2));
                    let scales = &b[4..16];
                    for c in 0..4 {
                        let (q0, q1) = (load(b, 16 + 32 * c), load(b, 32 + 32 * c));
                        let (sl, ml) = super::scale_min_k4(2 * c, scales);
                        let (sh, mh) = super::scale_min_k4(2 * c + 1, scales);
                        let lo = [widen_u(v128_and(q0, m4)), widen_u(v128_and(q1, m4))];
                        let hi = [widen_u(u8x16_shr(q0, 4)), widen_u(u8x16_shr(q1, 4))];
                        for j in 0..N {
                            a0[j] = fma_group(a0[j], d * sl as f32 * dx(j, 2 * c), lo, x(j, 64 * c, 64 * c + 32));
                            a1[j] = fma_group(a1[j], d * sh as f32 * dx(j, 2 * c + 1), hi, x(j, 64 * c + 32, 64 * c + 64));
                            off[j] -= dmin * (ml as f32 * xs(j, 2 * c) + mh as f32 * xs(j, 2 * c + 1));
                        }
                    }
                }
                Q6K => {
                    let d = half(b, 208);
                    let m32 = i8x16_splat(32);
                    for n in 0..2 {
                        for jv in 0..4 {
                            // Values 32jv..32jv+32 of this half-block, as two runs of 16 with an
                            // integer scale each, multiplied in before the dot.
                            let mut w = [(i16x8_splat(0), i16x8_splat(0)); 2];
                            for (h, wh) in w.iter_mut().enumerate() {
                                let ql = load(b, 64 * n + 32 * (jv & 1) + 16 * h);
                                let qh = load(b, 128 + 32 * n + 16 * h);
                                let lo4 = if jv < 2 { v128_and(ql, m4) } else { u8x16_shr(ql, 4) };
                                let hi2 = v128_and(u8x16_shr(qh, 2 * jv as u32), u8x16_splat(3));
                                let v = i8x16_sub(v128_or(lo4, u8x16_shl(hi2, 4)), m32);
                                let sc = i16x8_splat((b[192 + 8 * n + 2 * jv + h] as i8) as i16);
                                let (v0, v1) = widen_i(v);
                                *wh = (i16x8_mul(v0, sc), i16x8_mul(v1, sc));
                            }
                            for j in 0..N {
                                a0[j] = fma_group(a0[j], d * dx(j, 4 * n + jv), w, x(j, 128 * n + 32 * jv, 128 * n + 32 * jv + 32));
                            }
                            std::mem::swap(&mut a0, &mut a1);
                        }
                    }
                }
                _ => unreachable!("{ty:?} has no fused kernel"),
            }
        }
        std::array::from_fn(|j| {
            let a = f32x4_add(a0[j], a1[j]);
            f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a)
                + off[j]
        })
    }

    /// simd128 form of [`super::scaled_dot`]; the caller checked the lengths.
    pub fn scaled_dot(q: &[i16], s: &[f32], xq: &[i16], dx: &[f32]) -> f32 {
        let mut acc = f32x4_splat(0.0);
        for g in 0..s.len() {
            // SAFETY: (g + 1)·G ≤ q.len() == xq.len(); unaligned v128 loads are allowed.
            let p = unsafe {
                let (qp, xp) = (
                    q.as_ptr().add(g * G) as *const v128,
                    xq.as_ptr().add(g * G) as *const v128,
                );
                let d = |i: usize| i32x4_dot_i16x8(v128_load(qp.add(i)), v128_load(xp.add(i)));
                i32x4_add(i32x4_add(d(0), d(1)), i32x4_add(d(2), d(3)))
            };
            acc = f32x4_add(
                acc,
                f32x4_mul(f32x4_splat(s[g] * dx[g]), f32x4_convert_i32x4(p)),
            );
        }
        hsum(acc)
    }

    #[inline(always)]
    fn hsum(acc: v128) -> f32 {
        f32x4_extract_lane::<0>(acc)
            + f32x4_extract_lane::<1>(acc)
            + f32x4_extract_lane::<2>(acc)
            + f32x4_extract_lane::<3>(acc)
    }

    /// [`scaled_dot`] for four activation rows: each group of weights is loaded once for the four.
    /// Lengths as checked by [`super::scaled_dot4`].
    pub fn scaled_dot4(q: &[i16], s: &[f32], xq: [&[i16]; 4], d4: &[f32]) -> [f32; 4] {
        let mut acc = [f32x4_splat(0.0); 4];
        for g in 0..s.len() {
            // SAFETY: (g + 1)·G ≤ q.len() == xq[j].len() and 4·(g + 1) ≤ d4.len(); unaligned
            // v128 loads are allowed.
            unsafe {
                let qp = q.as_ptr().add(g * G) as *const v128;
                let w = [v128_load(qp), v128_load(qp.add(1)), v128_load(qp.add(2)), v128_load(qp.add(3))];
                // The four tokens' scales in one multiply.
                let sd = f32x4_mul(f32x4_splat(*s.get_unchecked(g)), v128_load(d4.as_ptr().add(4 * g) as *const v128));
                let sds = [
                    i32x4_shuffle::<0, 0, 0, 0>(sd, sd),
                    i32x4_shuffle::<1, 1, 1, 1>(sd, sd),
                    i32x4_shuffle::<2, 2, 2, 2>(sd, sd),
                    i32x4_shuffle::<3, 3, 3, 3>(sd, sd),
                ];
                for j in 0..4 {
                    let xp = xq[j].as_ptr().add(g * G) as *const v128;
                    let d = |i: usize| i32x4_dot_i16x8(w[i], v128_load(xp.add(i)));
                    let p = i32x4_add(i32x4_add(d(0), d(1)), i32x4_add(d(2), d(3)));
                    acc[j] = f32x4_add(acc[j], f32x4_mul(sds[j], f32x4_convert_i32x4(p)));
                }
            }
        }
        acc.map(hsum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize, random_blocks};

    #[test]
    fn unpacked_rows_equal_dequantized_values() {
        use GgmlType::*;
        for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K, Q8K] {
            let k = 512;
            let bytes = random_blocks(ty, k, 7);
            let mut want = vec![0f32; k];
            dequantize(ty, &bytes, &mut want).unwrap();
            let mut u = Unpacked::new(k, 1, ty);
            u.fill(ty, &bytes);
            for i in 0..k {
                let got = u.s[i / G] * u.q[i] as f32 + u.m[i / G];
                assert!(
                    (got - want[i]).abs() <= 1e-6 * want[i].abs().max(1e-3),
                    "{ty:?}[{i}]: {got} vs {}",
                    want[i]
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "f16c")]
    unsafe fn f16c_at(b: &[u8]) -> f32 {
        f16_at::<true>(b, 0)
    }

    #[test]
    fn half_conversion_is_exact() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            let got = f16_at::<false>(&h.to_le_bytes(), 0);
            #[cfg(target_arch = "x86_64")]
            if x86::available() {
                // SAFETY: F16C is present (x86::available checks it).
                let f16c = unsafe { f16c_at(&h.to_le_bytes()) };
                assert!(f16c.to_bits() == want.to_bits() || (f16c.is_nan() && want.is_nan()), "{h:#x} F16C");
            }
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{h:#x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn vector_kernels_equal_the_scalar_definition() {
        let mut r = crate::sample::Rng::new(3);
        for n in [1usize, 2, 3, 16, 57] {
            let q: Vec<i16> = (0..n * G)
                .map(|_| (r.uniform() * 256.0) as i16 - 128)
                .collect();
            let s: Vec<f32> = (0..n).map(|_| r.uniform() - 0.5).collect();
            let xs: Vec<Vec<i16>> = (0..4)
                .map(|_| {
                    (0..n * G)
                        .map(|_| ((r.uniform() * 65534.0) as i32 - 32767) as i16)
                        .collect()
                })
                .collect();
            let dx: Vec<Vec<f32>> = (0..4)
                .map(|_| (0..n).map(|_| r.uniform() * 1e-4).collect())
                .collect();
            let d4: Vec<f32> = (0..n * 4).map(|i| dx[i % 4][i / 4]).collect();
            let four = scaled_dot4(&q, &s, [&xs[0], &xs[1], &xs[2], &xs[3]], &d4);
            for j in 0..4 {
                let want = scaled_dot_scalar(&q, &s, &xs[j], &dx[j]);
                let tol = 1e-5 * want.abs().max(1.0);
                assert!(
                    (scaled_dot(&q, &s, &xs[j], &dx[j]) - want).abs() <= tol,
                    "n {n}"
                );
                assert!((four[j] - want).abs() <= tol, "n {n} dot4");
            }
        }
    }

    #[test]
    fn several_tokens_at_once_are_each_the_one_token_kernel_to_the_bit() {
        use GgmlType::*;
        let mut r = crate::sample::Rng::new(5);
        let mut checked = 0;
        for ty in [Q4_0, Q4_1, Q5_0, Q8_0, Q4K, Q6K] {
            if !fused(ty) {
                continue;
            }
            checked += 1;
            let k = 512;
            let bytes = random_blocks(ty, k, 21);
            let x: Vec<f32> = (0..k * 5).map(|_| r.uniform() * 4.0 - 2.0).collect();
            let a = QAct::new(&x, k);
            let four = row_dots(ty, &bytes, &a, [4, 1, 3, 0]);
            for (j, t) in [4, 1, 3, 0].into_iter().enumerate() {
                assert_eq!(four[j].to_bits(), row_dot(ty, &bytes, &a, t).to_bits(), "{ty:?} token {t}");
            }
        }
        // Where no type is fused (aarch64, scalar), a draft's check takes decode's unpacked path.
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            assert_eq!(checked, 6, "every fused type checked");
        }
        let _ = checked;
    }

    #[test]
    fn fused_row_kernels_equal_the_unpacked_product() {
        use GgmlType::*;
        let mut r = crate::sample::Rng::new(9);
        let mut checked = 0;
        for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K, Q8K] {
            if !fused(ty) {
                continue;
            }
            let (k, rows) = (768, 3);
            let bytes = random_blocks(ty, k * rows, 13);
            let x: Vec<f32> = (0..k * 2).map(|_| r.uniform() * 4.0 - 2.0).collect();
            let a = QAct::new(&x, k);
            let mut u = Unpacked::new(k, rows, ty);
            u.fill(ty, &bytes);
            let rb = ty.row_bytes(k);
            for row in 0..rows {
                for t in 0..2 {
                    let want = u.dot(row, &a, t);
                    let got = row_dot(ty, &bytes[row * rb..(row + 1) * rb], &a, t);
                    let (qs, s, _) = u.row(row);
                    let scale: f32 = qs.iter().enumerate().map(|(i, q)| (s[i / G] * *q as f32).abs()).sum::<f32>() * 2.0;
                    assert!((got - want).abs() <= 1e-5 * scale.max(1.0), "{ty:?} row {row} t{t}: {got} vs {want}");
                }
            }
            checked += 1;
        }
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            assert_eq!(checked, 6, "every fused type checked");
        }
    }

    #[test]
    fn quantized_dot_is_close_to_the_f32_dot() {
        use GgmlType::*;
        let mut r = crate::sample::Rng::new(5);
        for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K] {
            let k = 768;
            let bytes = random_blocks(ty, k, 11);
            let mut w = vec![0f32; k];
            dequantize(ty, &bytes, &mut w).unwrap();
            let x: Vec<f32> = (0..k * 5).map(|_| r.uniform() * 4.0 - 2.0).collect();
            let a = QAct::new(&x, k);
            let mut u = Unpacked::new(k, 1, ty);
            u.fill(ty, &bytes);
            let mut four = [[0f32; 4]];
            u.dot4_rows(&a, 0, &mut four);
            let four = four[0];
            for t in 0..5 {
                let want: f64 = w
                    .iter()
                    .zip(&x[t * k..])
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                let scale: f64 = w
                    .iter()
                    .zip(&x[t * k..])
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum();
                let got = u.dot(0, &a, t) as f64;
                assert!(
                    (got - want).abs() <= 1e-4 * scale,
                    "{ty:?} t{t}: {got} vs {want}"
                );
                if t < 4 {
                    assert!(
                        (four[t] as f64 - got).abs() <= 1e-5 * scale,
                        "{ty:?} dot4"
                    );
                }
            }
        }
    }
}
