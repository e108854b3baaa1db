//! The GPU part of `mem1 bench`: time and achieved bandwidth per kernel of one decode step.
use super::Gpu;
use crate::Result;

/// Per-kernel profile of one decode step, with the bandwidth the matvecs reach.
pub fn profile(gpu: &mut Gpu) -> Result<serde_json::Value> {
    let kernels = gpu.profile(1)?;
    let total: f64 = kernels.iter().map(|k| k.1).sum();
    let rows: Vec<_> = kernels
        .iter()
        .map(|(name, s, bytes, n)| {
            let gbs = if *bytes > 0 { *bytes as f64 / s / 1e9 } else { 0.0 };
            serde_json::json!({"kernel": name, "dispatches": n, "ms": s * 1e3, "share": s / total, "weight_bytes": bytes, "gb_s": gbs})
        })
        .collect();
    let weight_bytes: u64 = kernels.iter().map(|k| k.2).sum();
    let mv_s: f64 = kernels
        .iter()
        .filter(|k| k.0.starts_with("matvec"))
        .map(|k| k.1)
        .sum();
    Ok(serde_json::json!({
        "profiled_decode_step_ms": total * 1e3,
        "matvec_gb_s": weight_bytes as f64 / mv_s.max(1e-12) / 1e9,
        // Decode must stream every weight once per token: this bounds tok/s at the achieved rate.
        "roofline_tok_s_at_matvec_rate": (weight_bytes as f64 / mv_s.max(1e-12)) / weight_bytes.max(1) as f64,
        "weight_bytes_per_token": weight_bytes,
        "kernels": rows,
    }))
}
