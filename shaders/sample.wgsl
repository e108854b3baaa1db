// Picks the next token from the logits on the GPU, so only its id crosses back to the host:
// greedy (temperature 0) or temperature + top-k (≤ 64) + top-p with a host-drawn uniform u.
// Candidates are ordered by (logit desc, index asc), the same order as crate::sample. With
// `masked` set, only tokens whose bit is set in `mask` are candidates (a constrained action's
// allowed tokens, less any the repetition guard forbids; crate::sample::sample_masked is the CPU
// twin); when none is, the sampled id is 0xFFFFFFFF.
// One workgroup per row of logits: one for a sample, a row per token for a draft's check (greedy,
// each row under its own mask, `masked` bit r for row r; the rows' picks written to ids/out[r]).
struct Params { n: u32, top_k: u32, temperature: f32, top_p: f32, u: f32, masked: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;  // ids[row] = sampled token
@group(0) @binding(2) var<storage, read_write> out: array<u32>;  // out[row] = sampled token (copied back)
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> mask: array<u32>;     // one bit per token id

const WG: u32 = 256u;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;
var<workgroup> top_v: array<f32, 64>;
var<workgroup> top_i: array<u32, 64>;

fn allowed(row: u32, i: u32) -> bool {
    let words = (p.n + 31u) / 32u;
    return ((p.masked >> row) & 1u) == 0u || (mask[row * words + (i >> 5u)] & (1u << (i & 31u))) != 0u;
}

fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wg.x;
    let base = row * p.n;
    var k = 1u;
    if (p.temperature > 0.0) { k = clamp(p.top_k, 1u, 64u); }
    k = min(k, p.n);
    // The previous pick: candidates must come strictly after it in the order.
    var last_v = 3.0e38;
    var last_i = 0u;
    var first = true;
    for (var r = 0u; r < k; r++) {
        var bv = -3.0e38;
        var bi = 0xFFFFFFFFu;
        for (var i = lid; i < p.n; i += WG) {
            let v = logits[base + i];
            let after = first || v < last_v || (v == last_v && i > last_i);
            if (after && allowed(row, i) && better(v, i, bv, bi)) { bv = v; bi = i; }
        }
        best_v[lid] = bv;
        best_i[lid] = bi;
        workgroupBarrier();
        for (var off = WG / 2u; off > 0u; off >>= 1u) {
            if (lid < off && better(best_v[lid + off], best_i[lid + off], best_v[lid], best_i[lid])) {
                best_v[lid] = best_v[lid + off];
                best_i[lid] = best_i[lid + off];
            }
            workgroupBarrier();
        }
        // Fewer allowed tokens than k: the candidates end here (read uniformly, so every
        // invocation leaves the loop together).
        if (workgroupUniformLoad(&best_i[0]) == 0xFFFFFFFFu) {
            k = r;
            break;
        }
        last_v = best_v[0];
        last_i = best_i[0];
        first = false;
        if (lid == 0u) { top_v[r] = last_v; top_i[r] = last_i; }
        workgroupBarrier();
    }
    if (lid != 0u) { return; }
    if (k == 0u) {
        ids[row] = 0xFFFFFFFFu;
        out[row] = 0xFFFFFFFFu;
        return;
    }
    var pick = top_i[0];
    if (k > 1u) {
        var total = 0.0;
        for (var i = 0u; i < k; i++) { total += exp((top_v[i] - top_v[0]) / p.temperature); }
        var kept = 0.0;
        var n = 0u;
        loop {
            kept += exp((top_v[n] - top_v[0]) / p.temperature);
            n++;
            if (n >= k || kept >= p.top_p * total) { break; }
        }
        let goal = p.u * kept;
        var acc = 0.0;
        pick = top_i[n - 1u];
        for (var i = 0u; i < n; i++) {
            acc += exp((top_v[i] - top_v[0]) / p.temperature);
            if (goal < acc) { pick = top_i[i]; break; }
        }
    }
    ids[row] = pick;
    out[row] = pick;
}
