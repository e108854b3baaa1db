// Rotary embedding at positions pos0 + t: rotates q in place and k, then writes k and v into the
// layer's cache at those positions. Workgroup (t, head): heads 0..n_heads are q, the next n_kv are k/v.
struct Params { n_heads: u32, n_kv: u32, hd: u32, half_split: u32 }
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> cs: array<f32>;   // [pos][hd/2][cos, sin]
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<storage, read_write> kc: array<f32>;
@group(0) @binding(7) var<storage, read_write> vc: array<f32>;

fn pair(i: u32) -> vec2<u32> {
    if (p.half_split != 0u) { return vec2<u32>(i, i + p.hd / 2u); }
    return vec2<u32>(2u * i, 2u * i + 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wg.x;
    let h = wg.y;
    let pos = step.pos0 + t;
    let half = p.hd / 2u;
    let kvd = p.n_kv * p.hd;
    for (var i = lid; i < half; i += 64u) {
        let c = cs[(pos * half + i) * 2u];
        let s = cs[(pos * half + i) * 2u + 1u];
        let ab = pair(i);
        if (h < p.n_heads) {
            let o = t * p.n_heads * p.hd + h * p.hd;
            let x0 = q[o + ab.x];
            let x1 = q[o + ab.y];
            q[o + ab.x] = x0 * c - x1 * s;
            q[o + ab.y] = x1 * c + x0 * s;
        } else {
            let j = h - p.n_heads;
            let o = t * kvd + j * p.hd;
            let dst = pos * kvd + j * p.hd;
            let x0 = k[o + ab.x];
            let x1 = k[o + ab.y];
            kc[dst + ab.x] = x0 * c - x1 * s;
            kc[dst + ab.y] = x1 * c + x0 * s;
            vc[dst + ab.x] = v[o + ab.x];
            vc[dst + ab.y] = v[o + ab.y];
        }
    }
}
