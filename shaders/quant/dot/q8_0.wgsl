fn dot32(u: u32, xo: u32) -> f32 {
    let base = u * BLOCK_WORDS;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        s += dot(sbytes4(w[base + i]), x4[xo + i]);
    }
    return s * lo_half(w[base + 8u]);
}
