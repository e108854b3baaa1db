// GPU layout (as stored): d f16, m f16 (word 0) | qs[16] (words 1..4).
const BLOCK_WORDS: u32 = 5u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    let base = u * BLOCK_WORDS;
    let dm = unpack2x16float(w[base]);
    var r: array<f32, 32>;
    for (var j = 0u; j < 16u; j++) {
        let q = bb(base, 4u + j);
        r[j] = f32(q & 0xFu) * dm.x + dm.y;
        r[j + 16u] = f32(q >> 4u) * dm.x + dm.y;
    }
    return r;
}
