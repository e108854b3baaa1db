// GPU layout (as stored): d, m f16 (word 0) | qh (word 1) | qs[16] (words 2..5).
const BLOCK_WORDS: u32 = 6u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    let base = u * BLOCK_WORDS;
    let dm = unpack2x16float(w[base]);
    let qh = w[base + 1u];
    var r: array<f32, 32>;
    for (var j = 0u; j < 16u; j++) {
        let q = bb(base, 8u + j);
        let x0 = (q & 0xFu) | (((qh >> j) << 4u) & 0x10u);
        let x1 = (q >> 4u) | ((qh >> (j + 12u)) & 0x10u);
        r[j] = f32(x0) * dm.x + dm.y;
        r[j + 16u] = f32(x1) * dm.x + dm.y;
    }
    return r;
}
