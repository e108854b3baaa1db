//! The GPU part of `mem1 bench`: time and achieved bandwidth per kernel of one decode step, and
//! the copy kernel's bandwidth as the roofline they are held against.
use super::kernels::{Kernel, Pipelines};
use super::{Device, Gpu};
use crate::{Error, Result};

/// The copy kernel over `data` (whole 16-byte units), once: what it wrote.
pub fn copy(d: &Device, data: &[u8]) -> Result<Vec<u8>> {
    let (dst, run) = copy_pass(d, data.len() as u64, Some(data))?;
    run();
    let read = d.readback(data.len() as u64);
    let mut enc = d.dev.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&dst, 0, &read, 0, data.len() as u64);
    d.submit(enc.finish());
    pollster::block_on(d.read(&read, data.len() as u64))
}

/// The copy kernel's bandwidth on a `bytes`-byte buffer (bytes read plus bytes written per
/// second), best of `repeats` runs after one to warm up.
pub fn copy_bandwidth(d: &Device, bytes: u64, repeats: usize) -> Result<f64> {
    let (_, run) = copy_pass(d, bytes, None)?;
    run();
    d.wait()?;
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t0 = crate::engine::now();
        run();
        d.wait()?;
        best = best.min(crate::engine::now() - t0);
    }
    Ok(2.0 * bytes as f64 / best)
}

/// Buffers and a closure that submits one copy of `bytes` (a multiple of 16) from a source
/// filled with `data` (or left as made) into the returned destination.
fn copy_pass<'d>(d: &'d Device, bytes: u64, data: Option<&[u8]>) -> Result<(wgpu::Buffer, impl Fn() + 'd)> {
    if bytes == 0 || bytes % 16 != 0 || bytes > d.max_binding() {
        return Err(Error::usage(format!("a copy of {bytes} bytes: whole 16-byte units, at most {}", d.max_binding())));
    }
    let src = match data {
        Some(b) => d.storage_init("copy source", b),
        None => d.storage("copy source", bytes),
    };
    let dst = d.storage("copy destination", bytes);
    let n = (bytes / 16) as u32;
    let p = d.uniform(&[n, 0, 0, 0]);
    let pipe = Pipelines::new(1).get(&d.dev, Kernel::Copy, None);
    let bind = d.bind(&pipe, &[(0, &src), (2, &dst), (3, &p)]);
    let groups = n.div_ceil(256);
    let run = move || {
        let mut enc = d.dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipe);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups.min(65535), groups.div_ceil(65535), 1);
        }
        d.submit(enc.finish());
        let _keep = (&src, &p);
    };
    Ok((dst, run))
}

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
