// GPU layout (as stored): d, dmin f16 | scales[12] (bytes 4..15) | qh[32] (bytes 16..47) | qs[128] (bytes 48..175).
const BLOCK_WORDS: u32 = 44u;
const SUBS: u32 = 8u;

fn unit(u: u32) -> array<f32, 32> {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let dm = unpack2x16float(w[base]);
    let sm = scale_min_k4(base, sub);
    let d1 = dm.x * f32(sm.x);
    let m1 = dm.y * f32(sm.y);
    let q0 = 48u + (sub / 2u) * 32u;
    let shift = (sub & 1u) * 4u;
    var r: array<f32, 32>;
    for (var l = 0u; l < 32u; l++) {
        let hi = ((bb(base, 16u + l) >> sub) & 1u) * 16u;
        r[l] = d1 * f32(((bb(base, q0 + l) >> shift) & 0xFu) + hi) - m1;
    }
    return r;
}
