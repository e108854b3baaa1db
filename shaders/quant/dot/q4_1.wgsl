fn dot32(u: u32, xo: u32) -> f32 {
    let base = u * BLOCK_WORDS;
    let dm = unpack2x16float(w[base]);
    var s = 0.0;
    var sx = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let q = w[base + 1u + i];
        let a = x4[xo + i];
        let b = x4[xo + 4u + i];
        s += dot(nibbles4(q, 0u), a) + dot(nibbles4(q, 4u), b);
        sx += dot(a + b, vec4<f32>(1.0));
    }
    return dm.x * s + dm.y * sx;
}
