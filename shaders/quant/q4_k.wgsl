// GPU layout (as stored): d, dmin f16 (word 0) | scales[12] (bytes 4..15) | qs[128] (bytes 16..143).
// Unit `sub` of a block is 32 weights sharing one 6-bit scale and min.
const BLOCK_WORDS: u32 = 36u;
const SUBS: u32 = 8u;

fn unit(u: u32) -> array<f32, 32> {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let dm = unpack2x16float(w[base]);
    let sm = scale_min_k4(base, sub);
    let d1 = dm.x * f32(sm.x);
    let m1 = dm.y * f32(sm.y);
    let q0 = 16u + (sub / 2u) * 32u;
    let shift = (sub & 1u) * 4u;
    var r: array<f32, 32>;
    for (var l = 0u; l < 32u; l++) {
        r[l] = d1 * f32((bb(base, q0 + l) >> shift) & 0xFu) - m1;
    }
    return r;
}
