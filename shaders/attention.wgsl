// Causal attention of query (t, head) over cache positions 0..=pos0+t (GQA: kv head = head / group).
// Keys are visited 64 at a time with an online softmax, so no context-length bound lives in shared
// memory. Each thread scores one key of the tile, then owns output dims lid, lid+64, ... (hd ≤ 256).
struct Params { n_heads: u32, n_kv: u32, hd: u32, scale: f32 }
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<uniform> step: Step;

var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.x;
    let t = wg.y;
    let kvh = h / (p.n_heads / p.n_kv);
    let kvd = p.n_kv * p.hd;
    let qo = t * p.n_heads * p.hd + h * p.hd;
    for (var d = lid; d < p.hd; d += 64u) { qs[d] = q[qo + d]; }
    workgroupBarrier();
    let n_keys = step.pos0 + t + 1u;
    var m = -3.0e38;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var j0 = 0u; j0 < n_keys; j0 += 64u) {
        let j = j0 + lid;
        var s = -3.0e38;
        if (j < n_keys) {
            let ko = j * kvd + kvh * p.hd;
            var dot = 0.0;
            for (var d = 0u; d < p.hd; d++) { dot += qs[d] * kc[ko + d]; }
            s = dot * p.scale;
        }
        sc[lid] = s;
        workgroupBarrier();
        var tmax = m;
        let cnt = min(64u, n_keys - j0);
        for (var i = 0u; i < cnt; i++) { tmax = max(tmax, sc[i]); }
        let corr = exp(m - tmax);
        l *= corr;
        acc *= corr;
        for (var i = 0u; i < cnt; i++) {
            let pj = exp(sc[i] - tmax);
            l += pj;
            let vo = (j0 + i) * kvd + kvh * p.hd;
            for (var c = 0u; c < 4u; c++) {
                let d = lid + c * 64u;
                if (d < p.hd) { acc[c] += pj * vc[vo + d]; }
            }
        }
        m = tmax;
        workgroupBarrier();
    }
    for (var c = 0u; c < 4u; c++) {
        let d = lid + c * 64u;
        if (d < p.hd) { out[qo + d] = acc[c] / l; }
    }
}
