// Y[t][row0 + r] = Σ_k W[r][k] · X[t][k] (+ bias) for T = step.t tokens: prefill.
// Tiled over rows and tokens: a workgroup owns 64 rows × 8 tokens, and each thread walks its row's
// 32-weight units once, applying each unit to the 8 tokens while its weights are in cache.
// Prepended: quant/common.wgsl, quant/<type>.wgsl and quant/dot/<type>.wgsl (defines `dot32`).
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
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> step: Step;

const TT: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.x * 64u + lid;
    let t0 = wg.y * TT;
    let n_tok = select(step.t, 1u, p.one_row != 0u);
    if (r >= p.rows || t0 >= n_tok) { return; }
    let tt = min(TT, n_tok - t0);
    let units = p.k / 32u;
    let row_vec4 = p.k / 4u;
    var acc: array<f32, 8>;
    for (var u = 0u; u < units; u++) {
        for (var t = 0u; t < tt; t++) {
            acc[t] += dot32(r * units + u, (t0 + t) * row_vec4 + u * 8u);
        }
    }
    var b = 0.0;
    if (p.has_bias != 0u) { b = bias[p.row0 + r]; }
    for (var t = 0u; t < tt; t++) {
        y[(t0 + t) * p.n + p.row0 + r] = acc[t] + b;
    }
}
