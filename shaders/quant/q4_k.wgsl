// GPU layout (as stored): d, dmin f16 (word 0) | scales[12] (bytes 4..15) | qs[128] (bytes 16..143).
// Unit `sub` of a block is 32 weights sharing one 6-bit scale and min.
const BLOCK_WORDS: u32 = 36u;
const SUBS: u32 = 8u;

// ggml's get_scale_min_k4, reading the 12 scale bytes at byte 4 of the block.
fn scale_min_k4(base: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(bb(base, 4u + j) & 63u, bb(base, 8u + j) & 63u);
    }
    let sc = (bb(base, 8u + j) & 0xFu) | ((bb(base, j) >> 6u) << 4u);
    let m = (bb(base, 8u + j) >> 4u) | ((bb(base, 4u + j) >> 6u) << 4u);
    return vec2<u32>(sc, m);
}

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
