// Y[t][row0 + r] = Σ_k W[r][k] · X[t][k] (+ bias) for T = step.t tokens: prefill.
// A workgroup owns 64 rows × 8 tokens: each thread dequantizes 32 weights of its row once and
// applies them to the 8 tokens' activations, which the workgroup stages in shared memory.
// Prepended: quant/common.wgsl and one quant/<type>.wgsl (defines `unit`).
struct Params {
    k: u32,
    rows: u32,
    row0: u32,
    n: u32,
    has_bias: u32,
    one_row: u32,
    _p0: u32,
    _p1: u32,
}
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> step: Step;

const TT: u32 = 8u;
var<workgroup> xs: array<f32, 256>; // [TT][32]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.x * 64u + lid;
    let t0 = wg.y * TT;
    let n_tok = select(step.t, 1u, p.one_row != 0u);
    let units = p.k / 32u;
    var acc: array<f32, 8>;
    for (var u = 0u; u < units; u++) {
        // Stage X[t0..t0+8][u*32..u*32+32]: 256 values, 4 per thread.
        for (var i = 0u; i < 4u; i++) {
            let e = lid * 4u + i;
            let t = t0 + e / 32u;
            var v = 0.0;
            if (t < n_tok) { v = x[t * p.k + u * 32u + e % 32u]; }
            xs[e] = v;
        }
        workgroupBarrier();
        if (r < p.rows) {
            let wv = unit(r * units + u);
            for (var t = 0u; t < TT; t++) {
                var s = 0.0;
                for (var i = 0u; i < 32u; i++) { s += wv[i] * xs[t * 32u + i]; }
                acc[t] += s;
            }
        }
        workgroupBarrier();
    }
    if (r < p.rows) {
        var b = 0.0;
        if (p.has_bias != 0u) { b = bias[p.row0 + r]; }
        for (var t = 0u; t < TT; t++) {
            if (t0 + t < n_tok) { y[(t0 + t) * p.n + p.row0 + r] = acc[t] + b; }
        }
    }
}
