fn dot32(u: u32, xo: u32) -> f32 {
    let b = u * 16u;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let p = w[b + 2u * i];
        let q = w[b + 2u * i + 1u];
        let v = bitcast<vec4<f32>>(vec4<u32>(p << 16u, p & 0xFFFF0000u, q << 16u, q & 0xFFFF0000u));
        s += dot(v, x4[xo + i]);
    }
    return s;
}
