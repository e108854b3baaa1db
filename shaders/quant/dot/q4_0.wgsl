fn dot32(u: u32, xo: u32) -> f32 {
    let base = u * BLOCK_WORDS;
    var s = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let q = w[base + i];
        s += dot(nibbles4(q, 0u) - 8.0, x4[xo + i]) + dot(nibbles4(q, 4u) - 8.0, x4[xo + 4u + i]);
    }
    return s * lo_half(w[base + 4u]);
}
