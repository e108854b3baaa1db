// GPU layout (as stored): d f32 (word 0) | qs[256] int8 (bytes 4..259) | bsums (unused here).
const BLOCK_WORDS: u32 = 73u;
const SUBS: u32 = 8u;
fn unit(u: u32) -> array<f32, 32> {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let d = bitcast<f32>(w[base]);
    var r: array<f32, 32>;
    for (var l = 0u; l < 32u; l++) {
        r[l] = d * f32(sbyte(bb(base, 4u + sub * 32u + l)));
    }
    return r;
}
