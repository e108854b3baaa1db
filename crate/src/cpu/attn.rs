//! Attention of the quantized CPU backend over its f32 KV cache: for a tile of query heads that
//! share one KV head (the rows of a few tokens in prefill, one head in decode), the scores against
//! the keys each query may see, their softmax, and the weighted sum of the values.
//!
//! Every query's result has the bits of the plain loop (scores by [`dot`], `exp`, values summed
//! key by key in order, one division by the sum), whatever the tile: tiling only decides how often
//! a key or value row is read from memory. Where it pays:
//! * keys four at a time: the four dot products share one reduction (a 4×4 transpose);
//! * a key or value row is read once for every query of the tile, not once per query;
//! * a query's output accumulates in registers, 32 or 64 values at a time, over 64 keys.
use super::{dot, exp};

/// One layer's KV cache (rows of `kvd` values, heads of `hd`) as attention reads it.
pub(super) struct Heads<'a> {
    pub kc: &'a [f32],
    pub vc: &'a [f32],
    pub kvd: usize,
    pub hd: usize,
    pub scale: f32,
}

/// Keys per block of the weighted sum.
const KEYS: usize = 64;

/// A tile of queries: `rows` tokens (query row `r` at `q[r * stride..]`) by `nh` heads
/// (head `i` at `hd·i` in the row), all of KV head `kvh`; row `r` sees the first `n0 + r` keys.
/// Outputs go to `o` at the same offsets, which must be zero.
pub(super) struct Tile<'a> {
    pub q: &'a [f32],
    pub rows: usize,
    pub stride: usize,
    pub nh: usize,
    pub n0: usize,
    pub kvh: usize,
}

impl Heads<'_> {
    /// Attends `t`, writing into `o`; `s` is scratch for the scores.
    pub fn attend(&self, t: &Tile, o: &mut [f32], s: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if super::qdot::x86::available() {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { self.attend_avx2(t, o, s) };
        }
        self.attend_body::<false>(t, o, s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attend_avx2(&self, t: &Tile, o: &mut [f32], s: &mut Vec<f32>) {
        self.attend_body::<true>(t, o, s)
    }

    /// `AVX2`: four dot products in 256-bit lanes (only where the CPU has AVX2).
    #[inline(always)]
    fn attend_body<const AVX2: bool>(&self, t: &Tile, o: &mut [f32], s: &mut Vec<f32>) {
        let (hd, kvd) = (self.hd, self.kvd);
        let (nq, nmax) = (t.rows * t.nh, t.n0 + t.rows - 1);
        let at = |i: usize| i / t.nh * t.stride + i % t.nh * hd;
        let seen = |i: usize| t.n0 + i / t.nh;
        let key = |j: usize| &self.kc[j * kvd + t.kvh * hd..][..hd];
        // s[i·nmax + j]: query i against key j (computed up to the tile's last row's keys).
        s.clear();
        s.resize(nq * nmax, 0.0);
        let mut j = 0;
        if hd % 8 == 0 {
            while j + 4 <= nmax {
                let k4 = [key(j), key(j + 1), key(j + 2), key(j + 3)];
                for i in 0..nq {
                    let qi = &t.q[at(i)..][..hd];
                    let d = if AVX2 { dot4_avx2(qi, k4) } else { dot4(qi, k4) };
                    for (u, d) in d.into_iter().enumerate() {
                        s[i * nmax + j + u] = d * self.scale;
                    }
                }
                j += 4;
            }
        }
        for j in j..nmax {
            let kj = key(j);
            for i in 0..nq {
                s[i * nmax + j] = dot(&t.q[at(i)..][..hd], kj) * self.scale;
            }
        }
        for i in 0..nq {
            let si = &mut s[i * nmax..][..seen(i)];
            let m = si.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for v in si.iter_mut() {
                *v = exp(*v - m);
            }
        }
        // o_i = Σ_j p_ij·v_j, key after key for every value (so the plain loop's bits), a block
        // of keys (their values stay in cache) at a time, in runs held in registers.
        for jb in (0..nmax).step_by(KEYS) {
            for i in 0..nq {
                let je = (jb + KEYS).min(seen(i));
                if jb >= je {
                    continue;
                }
                let (p, oi) = (&s[i * nmax + jb..i * nmax + je], &mut o[at(i)..][..hd]);
                let vs = self.vc[jb * kvd..je * kvd].chunks_exact(kvd);
                // Runs of 64 values (8 AVX2 registers) or 32 (8 of 128 bits): eight independent
                // sums, enough to hide an addition's latency.
                if AVX2 && hd % 64 == 0 {
                    add_weighted::<64>(p, vs, t.kvh * hd, oi);
                } else if hd % 32 == 0 {
                    add_weighted::<32>(p, vs, t.kvh * hd, oi);
                } else {
                    for (p, v) in p.iter().zip(vs) {
                        for (o, v) in oi.iter_mut().zip(&v[t.kvh * hd..]) {
                            *o += p * v;
                        }
                    }
                }
            }
        }
        for i in 0..nq {
            let r = 1.0 / s[i * nmax..][..seen(i)].iter().sum::<f32>();
            o[at(i)..][..hd].iter_mut().for_each(|v| *v *= r);
        }
    }
}

/// `o += Σ p_j·v_j[off..]` over the value rows `vs`, key after key, `R` values at a time held in
/// registers.
#[inline(always)]
fn add_weighted<const R: usize>(p: &[f32], vs: std::slice::ChunksExact<f32>, off: usize, o: &mut [f32]) {
    for (c, run) in o.chunks_exact_mut(R).enumerate() {
        let mut acc: [f32; R] = (&*run).try_into().expect("a run");
        for (p, v) in p.iter().zip(vs.clone()) {
            let v: &[f32; R] = v[off + c * R..][..R].try_into().expect("a run");
            for (a, v) in acc.iter_mut().zip(v) {
                *a += p * v;
            }
        }
        run.copy_from_slice(&acc);
    }
}

/// [`dot`] of `q` with four keys (lengths a multiple of 8): the same lanes and sums, so the same
/// bits, with the four final reductions done as one transpose and three vector additions.
#[inline(always)]
fn dot4(q: &[f32], k: [&[f32]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let n = q.len();
        assert!(n.is_multiple_of(8) && k.iter().all(|k| k.len() == n));
        // SAFETY: SSE is part of x86-64; every load reads 4 of the n values of its row.
        unsafe {
            let mut lo = [_mm_setzero_ps(); 4];
            let mut hi = [_mm_setzero_ps(); 4];
            for i in (0..n).step_by(8) {
                let (a, b) = (_mm_loadu_ps(q.as_ptr().add(i)), _mm_loadu_ps(q.as_ptr().add(i + 4)));
                for u in 0..4 {
                    let p = k[u].as_ptr().add(i);
                    lo[u] = _mm_add_ps(lo[u], _mm_mul_ps(a, _mm_loadu_ps(p)));
                    hi[u] = _mm_add_ps(hi[u], _mm_mul_ps(b, _mm_loadu_ps(p.add(4))));
                }
            }
            let x = [0, 1, 2, 3].map(|u| _mm_add_ps(lo[u], hi[u]));
            reduce4_sse(x)
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let n = q.len();
        assert!(n.is_multiple_of(8) && k.iter().all(|k| k.len() == n));
        // SAFETY: every load reads 4 of the n values of its row; unaligned v128 loads are allowed.
        unsafe {
            let mut lo = [f32x4_splat(0.0); 4];
            let mut hi = [f32x4_splat(0.0); 4];
            for i in (0..n).step_by(8) {
                let pq = q.as_ptr().add(i) as *const v128;
                let (a, b) = (v128_load(pq), v128_load(pq.add(1)));
                for u in 0..4 {
                    let p = k[u].as_ptr().add(i) as *const v128;
                    lo[u] = f32x4_add(lo[u], f32x4_mul(a, v128_load(p)));
                    hi[u] = f32x4_add(hi[u], f32x4_mul(b, v128_load(p.add(1))));
                }
            }
            let x = [0, 1, 2, 3].map(|u| f32x4_add(lo[u], hi[u]));
            // Transpose: c_l holds lane l of the four sums.
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(x[0], x[1]);
            let t1 = i32x4_shuffle::<0, 4, 1, 5>(x[2], x[3]);
            let t2 = i32x4_shuffle::<2, 6, 3, 7>(x[0], x[1]);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(x[2], x[3]);
            let c0 = i64x2_shuffle::<0, 2>(t0, t1);
            let c1 = i64x2_shuffle::<1, 3>(t0, t1);
            let c2 = i64x2_shuffle::<0, 2>(t2, t3);
            let c3 = i64x2_shuffle::<1, 3>(t2, t3);
            let r = f32x4_add(f32x4_add(f32x4_add(c0, c1), c2), c3);
            [f32x4_extract_lane::<0>(r), f32x4_extract_lane::<1>(r), f32x4_extract_lane::<2>(r), f32x4_extract_lane::<3>(r)]
        }
    }
    #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
    {
        k.map(|k| dot(q, k))
    }
}

/// `((x0 + x1) + x2) + x3` lane by lane of the transposed sums: [`dot`]'s final order.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn reduce4_sse(x: [std::arch::x86_64::__m128; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let t0 = _mm_unpacklo_ps(x[0], x[1]);
    let t1 = _mm_unpacklo_ps(x[2], x[3]);
    let t2 = _mm_unpackhi_ps(x[0], x[1]);
    let t3 = _mm_unpackhi_ps(x[2], x[3]);
    let c0 = _mm_movelh_ps(t0, t1);
    let c1 = _mm_movehl_ps(t1, t0);
    let c2 = _mm_movelh_ps(t2, t3);
    let c3 = _mm_movehl_ps(t3, t2);
    let r = _mm_add_ps(_mm_add_ps(_mm_add_ps(c0, c1), c2), c3);
    let mut out = [0f32; 4];
    _mm_storeu_ps(out.as_mut_ptr(), r);
    out
}

/// [`dot4`] with each key's eight lanes in one 256-bit register (low half: [`dot`]'s first four
/// lanes, high half: the other four), only called where the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot4_avx2(q: &[f32], k: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = q.len();
    assert!(n.is_multiple_of(8) && k.iter().all(|k| k.len() == n));
    // SAFETY: only reached from `attend_avx2`, whose CPU has AVX2; every load reads 8 of the n
    // values of its row.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..n).step_by(8) {
            let a = _mm256_loadu_ps(q.as_ptr().add(i));
            for u in 0..4 {
                acc[u] = _mm256_add_ps(acc[u], _mm256_mul_ps(a, _mm256_loadu_ps(k[u].as_ptr().add(i))));
            }
        }
        let x = acc.map(|a| _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a)));
        reduce4_sse(x)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn dot4_avx2(q: &[f32], k: [&[f32]; 4]) -> [f32; 4] {
    dot4(q, k)
}

/// The plain loop the tiles must equal bit for bit: per query, scores by `dot`, `exp` of
/// their difference to the maximum, values summed key by key, one division by the sum.
fn plain(h: &Heads, q: &[f32], kvh: usize, n: usize) -> Vec<f32> {
    let hd = h.hd;
    let s: Vec<f32> = (0..n).map(|j| dot(q, &h.kc[j * h.kvd + kvh * hd..][..hd]) * h.scale).collect();
    let m = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let p: Vec<f32> = s.iter().map(|v| exp(v - m)).collect();
    let mut o = vec![0f32; hd];
    for (j, p) in p.iter().enumerate() {
        for (o, v) in o.iter_mut().zip(&h.vc[j * h.kvd + kvh * hd..][..hd]) {
            *o += p * v;
        }
    }
    let r = 1.0 / p.iter().sum::<f32>();
    o.iter_mut().for_each(|v| *v *= r);
    o
}

/// Tiles of every shape the backend makes, and head sizes through every path (runs of 64 and
/// 32 values, none, dots without 8 lanes), against [`plain`] bit for bit; panics on the first
/// difference. A test natively and in the browser (simd128).
#[doc(hidden)]
pub fn check_tiles() {
    let mut seed = 0x9e37_79b9u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32 - 0.5) * 4.0
    };
    // Head sizes through every path: runs of 64 and 32, no runs (48), no 8-lane dots (20).
    for hd in [64, 128, 48, 20] {
        let (kv_heads, group, keys) = (2, 3, 140);
        let kvd = kv_heads * hd;
        let kc: Vec<f32> = (0..keys * kvd).map(|_| rand()).collect();
        let vc: Vec<f32> = (0..keys * kvd).map(|_| rand()).collect();
        let h = Heads { kc: &kc, vc: &vc, kvd, hd, scale: 1.0 / (hd as f32).sqrt() };
        let stride = kv_heads * group * hd;
        // Tiles of 1-5 rows, whole groups and single heads, from 1 key up past two blocks.
        for (rows, nh, n0) in [(1, 1, 1), (1, 3, 7), (4, 3, 1), (5, 3, 61), (3, 1, 129), (4, 3, 136)] {
            let q: Vec<f32> = (0..rows * stride).map(|_| rand()).collect();
            for kvh in 0..kv_heads {
                let h0 = kvh * group + group - nh; // the group's last nh heads
                let tile = Tile { q: &q[h0 * hd..], rows, stride, nh, n0, kvh };
                let mut runs = vec![Vec::new()];
                #[cfg(target_arch = "x86_64")]
                runs.push(Vec::new());
                for (k, o) in runs.iter_mut().enumerate() {
                    *o = vec![0f32; rows * stride - h0 * hd];
                    let mut s = Vec::new();
                    match k {
                        0 => h.attend(&tile, o, &mut s),
                        _ => h.attend_body::<false>(&tile, o, &mut s),
                    }
                }
                for r in 0..rows {
                    for i in 0..nh {
                        let at = r * stride + (h0 + i) * hd;
                        let want = plain(&h, &q[at..][..hd], kvh, n0 + r);
                        for o in &runs {
                            let got = &o[at - h0 * hd..][..hd];
                            assert!(
                                got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                                "hd {hd}, rows {rows}, nh {nh}, n0 {n0}, kvh {kvh}, row {r}, head {i}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiles_equal_the_plain_loop_bit_for_bit() {
        super::check_tiles();
    }
}
