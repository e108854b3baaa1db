fn dot32(u: u32, xo: u32) -> f32 {
    let b = u * 16u;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        s += dot(vec4<f32>(unpack2x16float(w[b + 2u * i]), unpack2x16float(w[b + 2u * i + 1u])), x4[xo + i]);
    }
    return s;
}
