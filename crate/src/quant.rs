//! Quantization types with exact GGUF (ggml) semantics.
//!
//! [`dequantize`] is the CPU definition every other path is checked against: the loops follow
//! ggml's `dequantize_row_*` so that each value is computed with the same f32 operations in the
//! same order. [`gpu_layout`] moves bytes of a block (never changes a value) so the WGSL kernels
//! read whole aligned `u32` words.
use crate::{Error, Result};
use half::{bf16, f16};

#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q4K = 12,
    Q5K = 13,
    Q6K = 14,
    Q8K = 15,
    BF16 = 30,
}

pub const QK: usize = 32;
pub const QK_K: usize = 256;

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            30 => BF16,
            _ => return None,
        })
    }

    pub fn from_name(name: &str) -> Option<GgmlType> {
        use GgmlType::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "f32" => F32,
            "f16" => F16,
            "bf16" => BF16,
            "q4_0" => Q4_0,
            "q4_1" => Q4_1,
            "q5_0" => Q5_0,
            "q5_1" => Q5_1,
            "q8_0" => Q8_0,
            "q4_k" => Q4K,
            "q5_k" => Q5K,
            "q6_k" => Q6K,
            "q8_k" => Q8K,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block) as stored in GGUF.
    pub fn block(self) -> (usize, usize) {
        use GgmlType::*;
        match self {
            F32 => (1, 4),
            F16 | BF16 => (1, 2),
            Q4_0 => (QK, 18),
            Q4_1 => (QK, 20),
            Q5_0 => (QK, 22),
            Q5_1 => (QK, 24),
            Q8_0 => (QK, 34),
            Q4K => (QK_K, 144),
            Q5K => (QK_K, 176),
            Q6K => (QK_K, 210),
            Q8K => (QK_K, 292),
        }
    }

    pub fn row_bytes(self, n: usize) -> usize {
        let (be, bb) = self.block();
        n / be * bb
    }
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// ggml's `get_scale_min_k4`: 6-bit scale and min of sub-block `j` from the 12 packed bytes.
#[inline]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Dequantizes `data` (whole blocks of `ty`) into `out` (one f32 per element).
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<()> {
    let (be, bb) = ty.block();
    if data.len() % bb != 0 || data.len() / bb * be != out.len() {
        return Err(Error::model(format!(
            "{ty:?}: {} bytes do not hold {} elements",
            data.len(),
            out.len()
        )));
    }
    for (b, y) in data.chunks_exact(bb).zip(out.chunks_exact_mut(be)) {
        dequantize_block(ty, b, y);
    }
    Ok(())
}

/// Q5_0 blocks rewritten as Q8_0 blocks of the same values: the f16 scale copied, each 5-bit value
/// minus 16 stored as one signed byte. Exact (dequantizing either gives the same f32 bits); 34
/// bytes a block instead of 22.
pub fn q5_0_to_q8_0(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 22 * 34);
    for b in data.chunks_exact(22) {
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = &b[6..22];
        let mut q = [0u8; 34];
        q[..2].copy_from_slice(&b[..2]);
        for j in 0..16 {
            let h0 = (((qh >> j) << 4) & 0x10) as u8;
            let h1 = ((qh >> (j + 12)) & 0x10) as u8;
            q[2 + j] = (((qs[j] & 0xF) | h0) as i8 - 16) as u8;
            q[2 + j + 16] = (((qs[j] >> 4) | h1) as i8 - 16) as u8;
        }
        out.extend_from_slice(&q);
    }
    out
}

fn dequantize_block(ty: GgmlType, b: &[u8], y: &mut [f32]) {
    use GgmlType::*;
    match ty {
        F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        F16 => y[0] = f16_at(b, 0),
        BF16 => y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        Q4_0 => {
            let d = f16_at(b, 0);
            let qs = &b[2..18];
            for j in 0..16 {
                y[j] = ((qs[j] & 0xF) as i32 - 8) as f32 * d;
                y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
            }
        }
        Q4_1 => {
            let (d, m) = (f16_at(b, 0), f16_at(b, 2));
            let qs = &b[4..20];
            for j in 0..16 {
                y[j] = (qs[j] & 0xF) as f32 * d + m;
                y[j + 16] = (qs[j] >> 4) as f32 * d + m;
            }
        }
        Q5_0 | Q5_1 => {
            let (d, m, qh, qs) = if ty == Q5_0 {
                (f16_at(b, 0), 0.0, u32::from_le_bytes([b[2], b[3], b[4], b[5]]), &b[6..22])
            } else {
                (f16_at(b, 0), f16_at(b, 2), u32::from_le_bytes([b[4], b[5], b[6], b[7]]), &b[8..24])
            };
            for j in 0..16 {
                let xh0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
                let x0 = (qs[j] & 0xF) | xh0;
                let x1 = (qs[j] >> 4) | xh1;
                if ty == Q5_0 {
                    y[j] = (x0 as i32 - 16) as f32 * d;
                    y[j + 16] = (x1 as i32 - 16) as f32 * d;
                } else {
                    y[j] = x0 as f32 * d + m;
                    y[j + 16] = x1 as f32 * d + m;
                }
            }
        }
        Q8_0 => {
            let d = f16_at(b, 0);
            for j in 0..32 {
                y[j] = (b[2 + j] as i8) as f32 * d;
            }
        }
        Q4K | Q5K => {
            let (d, min) = (f16_at(b, 0), f16_at(b, 2));
            let scales = &b[4..16];
            let (qh, ql) = if ty == Q4K { (&b[0..0], &b[16..144]) } else { (&b[16..48], &b[48..176]) };
            let mut is = 0;
            for (c, yc) in y.chunks_exact_mut(64).enumerate() {
                let q = &ql[c * 32..c * 32 + 32];
                let (sc1, m1) = scale_min_k4(is, scales);
                let (sc2, m2) = scale_min_k4(is + 1, scales);
                let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
                let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
                let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
                for l in 0..32 {
                    let (mut lo, mut hi) = (q[l] & 0xF, q[l] >> 4);
                    if ty == Q5K {
                        lo += if qh[l] & u1 != 0 { 16 } else { 0 };
                        hi += if qh[l] & u2 != 0 { 16 } else { 0 };
                    }
                    yc[l] = d1 * lo as f32 - m1;
                    yc[l + 32] = d2 * hi as f32 - m2;
                }
                is += 2;
            }
        }
        Q6K => {
            let d = f16_at(b, 208);
            for n in 0..2 {
                let ql = &b[n * 64..n * 64 + 64];
                let qh = &b[128 + n * 32..128 + n * 32 + 32];
                let sc = &b[192 + n * 8..192 + n * 8 + 8];
                let yy = &mut y[n * 128..n * 128 + 128];
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    yy[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    yy[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    yy[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    yy[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
            }
        }
        Q8K => {
            let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            for j in 0..QK_K {
                y[j] = d * (b[4 + j] as i8) as f32;
            }
        }
    }
}

/// How one block sits in GPU memory: the GGUF bytes, moved (never altered) so that every field the
/// kernels read as whole `u32` words starts on a 4-byte boundary; padded to whole words.
/// The WGSL decoder of each type (`shaders/quant/*.wgsl`) reads this layout.
pub struct GpuLayout {
    /// Words per block on the GPU.
    pub words: usize,
    /// Elements per block.
    pub elems: usize,
}

pub fn gpu_layout(ty: GgmlType) -> GpuLayout {
    use GgmlType::*;
    let (elems, words) = match ty {
        // Float types are grouped 32 elements to a "block" so every kernel walks 32-element units.
        F32 => (32, 32),
        F16 | BF16 => (32, 16),
        Q4_0 => (32, 5),  // qs[16] | d
        Q4_1 => (32, 5),  // d m | qs[16]           (as stored)
        Q5_0 => (32, 6),  // qh | qs[16] | d
        Q5_1 => (32, 6),  // d m | qh | qs[16]      (as stored)
        Q8_0 => (32, 9),  // qs[32] | d
        Q4K => (256, 36), // as stored
        Q5K => (256, 44), // as stored
        Q6K => (256, 53), // as stored + 2 bytes of padding
        Q8K => (256, 73), // as stored
    };
    GpuLayout { words, elems }
}

/// Repacks whole GGUF blocks into the GPU layout (little-endian bytes of `u32` words).
pub fn to_gpu_layout(ty: GgmlType, data: &[u8]) -> Vec<u8> {
    use GgmlType::*;
    let (_, bb) = ty.block();
    let lay = gpu_layout(ty);
    match ty {
        F32 | F16 | BF16 | Q4_1 | Q5_1 | Q4K | Q5K | Q8K => data.to_vec(),
        Q4_0 | Q5_0 | Q8_0 | Q6K => {
            let mut out = Vec::with_capacity(data.len() / bb * lay.words * 4);
            for b in data.chunks_exact(bb) {
                let start = out.len();
                match ty {
                    Q4_0 | Q8_0 => {
                        out.extend_from_slice(&b[2..]);
                        out.extend_from_slice(&b[..2]);
                    }
                    Q5_0 => {
                        out.extend_from_slice(&b[2..22]);
                        out.extend_from_slice(&b[..2]);
                    }
                    _ => out.extend_from_slice(b),
                }
                out.resize(start + lay.words * 4, 0);
            }
            out
        }
    }
}

/// Random but well-formed blocks (finite, moderate scales) for synthetic benchmark models.
pub fn random_blocks(ty: GgmlType, n_elements: usize, seed: u64) -> Vec<u8> {
    use GgmlType::*;
    let (be, bb) = ty.block();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = vec![0u8; n_elements / be * bb];
    for b in out.chunks_exact_mut(bb) {
        for x in b.iter_mut() {
            *x = next() as u8;
        }
        let small = |r: u64| f16::from_f32(0.002 + (r % 1000) as f32 * 1e-5).to_le_bytes();
        let f = |r: u64| ((r % 2001) as f32 / 1000.0 - 1.0) * 0.05;
        match ty {
            F32 => b.copy_from_slice(&f(next()).to_le_bytes()),
            F16 => b.copy_from_slice(&f16::from_f32(f(next())).to_le_bytes()),
            BF16 => b.copy_from_slice(&bf16::from_f32(f(next())).to_le_bytes()),
            Q4_0 | Q5_0 | Q8_0 => b[..2].copy_from_slice(&small(next())),
            Q4_1 | Q5_1 | Q4K | Q5K => {
                b[..2].copy_from_slice(&small(next()));
                b[2..4].copy_from_slice(&small(next()));
            }
            Q6K => b[208..210].copy_from_slice(&small(next())),
            Q8K => b[..4].copy_from_slice(&0.002f32.to_le_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deq(ty: GgmlType, b: &[u8]) -> Vec<f32> {
        let (be, _) = ty.block();
        let mut y = vec![0.0; be];
        dequantize(ty, b, &mut y).unwrap();
        y
    }

    #[test]
    fn q4_0_block_by_hand() {
        let mut b = vec![0u8; 18];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[2] = 0x3F; // low nibble 15 -> (15-8)*0.5, high nibble 3 -> (3-8)*0.5
        let y = deq(GgmlType::Q4_0, &b);
        assert_eq!(y[0], 3.5);
        assert_eq!(y[16], -2.5);
        assert_eq!(y[1], -4.0); // nibble 0
    }

    #[test]
    fn q5_0_as_q8_0_holds_the_same_values() {
        let q5 = random_blocks(GgmlType::Q5_0, 32 * 64, 21);
        let q8 = q5_0_to_q8_0(&q5);
        assert_eq!(q8.len(), 64 * 34);
        let (mut a, mut b) = (vec![0f32; 32 * 64], vec![1f32; 32 * 64]);
        dequantize(GgmlType::Q5_0, &q5, &mut a).unwrap();
        dequantize(GgmlType::Q8_0, &q8, &mut b).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        // Every 5-bit value occurs, so the sign handling of both ends is covered.
        let vals: std::collections::BTreeSet<i8> = q8.chunks_exact(34).flat_map(|b| b[2..].iter().map(|&v| v as i8)).collect();
        assert_eq!(vals, (-16..16).collect());
    }

    #[test]
    fn q4_1_and_q8_0_by_hand() {
        let mut b = vec![0u8; 20];
        b[..2].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        b[2..4].copy_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        b[4] = 0xA1;
        let y = deq(GgmlType::Q4_1, &b);
        assert_eq!((y[0], y[16], y[1]), (-0.75, 1.5, -1.0));

        let mut b = vec![0u8; 34];
        b[..2].copy_from_slice(&f16::from_f32(2.0).to_le_bytes());
        b[2] = (-3i8) as u8;
        b[33] = 127;
        let y = deq(GgmlType::Q8_0, &b);
        assert_eq!((y[0], y[31]), (-6.0, 254.0));
    }

    #[test]
    fn q5_0_high_bits() {
        let mut b = vec![0u8; 22];
        b[..2].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
        // qh bit 0 -> element 0 gets +16; bit 16 -> element 16 gets +16.
        b[2..6].copy_from_slice(&(1u32 | (1 << 16)).to_le_bytes());
        b[6] = 0x21;
        let y = deq(GgmlType::Q5_0, &b);
        assert_eq!(y[0], (1 + 16 - 16) as f32);
        assert_eq!(y[16], (2 + 16 - 16) as f32);
        assert_eq!(y[1], -16.0);
    }

    #[test]
    fn q4_k_scales_and_mins() {
        let mut b = vec![0u8; 144];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[2..4].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        b[4] = 3; // sub-block 0 scale
        b[8] = 2; // sub-block 0 min
        b[16] = 0x07;
        let y = deq(GgmlType::Q4K, &b);
        assert_eq!(y[0], 0.5 * 3.0 * 7.0 - 0.25 * 2.0);
        // sub-block 4 uses the packed high bits: scale = (b[12] & 0xF) | (b[4] >> 6) << 4
        b[12] = 0x15; // sc4 low = 5, m4 low = 1
        b[4] |= 0x40; // sc4 += 16
        b[16 + 64] = 0x02;
        let y = deq(GgmlType::Q4K, &b);
        assert_eq!(y[128], 0.5 * 21.0 * 2.0 - 0.25 * 1.0);
    }

    #[test]
    fn q6_k_signed_scales() {
        let mut b = vec![0u8; 210];
        b[208..210].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[192] = (-2i8) as u8;
        b[0] = 0x01; // q1 low 4 bits 1, high bits 0 -> 1 - 32 = -31
        let y = deq(GgmlType::Q6K, &b);
        assert_eq!(y[0], 0.5 * -2.0 * -31.0);
    }

    #[test]
    fn gpu_layout_moves_bytes_only() {
        for ty in [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q6K, GgmlType::Q4K] {
            let data = random_blocks(ty, 512, 7);
            let packed = to_gpu_layout(ty, &data);
            let lay = gpu_layout(ty);
            assert_eq!(packed.len(), 512 / lay.elems * lay.words * 4, "{ty:?}");
            // Every original byte is still there, and padding adds zeros only: as multisets,
            // packed = data + `extra` zeros.
            let (mut a, mut b) = (data.clone(), packed.clone());
            a.sort();
            b.sort();
            let extra = b.len() - a.len();
            assert!(b[..extra].iter().all(|&x| x == 0), "{ty:?}");
            assert_eq!(&b[extra..], &a[..], "{ty:?}");
        }
    }

    #[test]
    fn bad_length_is_an_error() {
        let mut y = vec![0.0; 32];
        assert!(dequantize(GgmlType::Q4_0, &[0u8; 17], &mut y).is_err());
    }
}
