// GPU layout (as stored, padded to 53 words): ql[128] (bytes 0..127) | qh[64] (128..191) |
// scales[16] int8 (192..207) | d f16 (bytes 208..209 = word 52, low half).
// Unit `sub` = half n = sub/4, group g = sub%4: ggml's y[n*128 + g*32 + l].
const BLOCK_WORDS: u32 = 53u;
const SUBS: u32 = 8u;
fn unit(u: u32) -> array<f32, 32> {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let n = sub / 4u;
    let g = sub % 4u;
    let d = lo_half(w[base + 52u]);
    let ql0 = n * 64u + (g & 1u) * 32u;
    let shift = (g / 2u) * 4u;
    var r: array<f32, 32>;
    for (var l = 0u; l < 32u; l++) {
        let lo = (bb(base, ql0 + l) >> shift) & 0xFu;
        let hi = (bb(base, 128u + n * 32u + l) >> (2u * g)) & 3u;
        let q = i32(lo | (hi << 4u)) - 32;
        let sc = sbyte(bb(base, 192u + n * 8u + l / 16u + 2u * g));
        r[l] = d * f32(sc) * f32(q);
    }
    return r;
}
