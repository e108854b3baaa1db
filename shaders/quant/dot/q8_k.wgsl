fn dot32(u: u32, xo: u32) -> f32 {
    let base = (u / SUBS) * BLOCK_WORDS;
    let q0 = base + 1u + (u % SUBS) * 8u;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        s += dot(sbytes4(w[q0 + i]), x4[xo + i]);
    }
    return bitcast<f32>(w[base]) * s;
}
