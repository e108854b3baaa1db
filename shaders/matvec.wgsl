// y[t][row0 + r] = Σ_k W[r][k] · x[t][k] (+ bias[row0 + r]) for the rows of one weight chunk: decode
// (one token), and a draft's check (a few tokens, step.t; one for a one-row input). Each token's
// sum is the same code in the same order whatever the count, so a check chooses, to the bit, what
// decoding the tokens one at a time would (the matmul kernel of prefill sums in another order).
// A workgroup of 64 threads owns 64/TPR rows; the TPR threads of a row stride over its 32-weight
// units and reduce; the tokens take turns, their rows of weights still in cache. TPR is chosen per adapter: many threads per row on real GPUs (memory
// parallelism), 1 on CPU-emulated adapters (SwiftShader, lavapipe), where every workgroup costs.
// Prepended: quant/common.wgsl, quant/<type>.wgsl and quant/dot/<type>.wgsl (defines `dot32`).
struct Params {
    k: u32,        // row length (multiple of 32)
    rows: u32,     // rows in this chunk
    row0: u32,     // first output index of this chunk
    n: u32,        // full output width (stride between token rows of y)
    has_bias: u32,
    one_row: u32,  // a one-row input: one token, whatever step.t
    _p0: u32,
    _p1: u32,
}
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }
@group(0) @binding(5) var<uniform> step: Step;

const WG: u32 = 64u;
override TPR: u32 = 8u; // threads per row: a power of two dividing 64
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wg.y * 32768u + wg.x) * (WG / TPR) + lid / TPR;
    let lane = lid % TPR;
    let units = p.k / 32u;
    let n_tok = select(step.t, 1u, p.one_row != 0u);
    for (var t = 0u; t < n_tok; t++) {
        let xo = t * (p.k / 4u);
        var acc = 0.0;
        if (r < p.rows) {
            for (var u = lane; u < units; u += TPR) {
                acc += dot32(r * units + u, xo + u * 8u);
            }
        }
        partial[lid] = acc;
        workgroupBarrier();
        for (var off = TPR / 2u; off > 0u; off >>= 1u) {
            if (lane < off) { partial[lid] += partial[lid + off]; }
            workgroupBarrier();
        }
        if (lane == 0u && r < p.rows) {
            var out = partial[lid];
            if (p.has_bias != 0u) { out += bias[p.row0 + r]; }
            y[t * p.n + p.row0 + r] = out;
        }
        workgroupBarrier();
    }
}
