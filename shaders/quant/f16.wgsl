const BLOCK_WORDS: u32 = 16u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    var r: array<f32, 32>;
    for (var i = 0u; i < 16u; i++) {
        let h = unpack2x16float(w[u * 16u + i]);
        r[2u * i] = h.x;
        r[2u * i + 1u] = h.y;
    }
    return r;
}
