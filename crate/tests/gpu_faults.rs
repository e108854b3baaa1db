//! GPU faults: the device lost in the middle of generation, or out of memory while loading, gives
//! a clear error (no panic, no hang), what was allocated is released, and the next load on a new
//! device works in the same process.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use mem1::engine::Engine;
use mem1::gpu::{Device, Gpu, DEFAULT_CHUNK};
use mem1::quant::GgmlType;
use mem1::sample::SamplerParams;
use mem1::synthetic::{synthetic_gguf, Shape};

fn tiny() -> Vec<u8> {
    let shape = Shape { arch: "llama", layers: 2, d: 64, heads: 4, kv: 2, ff: 128, vocab: 300, tied: true };
    synthetic_gguf(&shape, GgmlType::Q8_0, 256)
}

#[test]
fn device_lost_mid_generation_is_a_clear_error_and_the_next_load_works() {
    let mut gpu = pollster::block_on(Gpu::load(&mut tiny(), 256, |_, _| {})).expect("GPU backend (Vulkan)");
    let p = SamplerParams::greedy();
    pollster::block_on(gpu.prefill(&[1, 2, 3])).unwrap();
    let mut t = pollster::block_on(gpu.decode(4, &p, 0.5)).unwrap();
    // The browser's tab crash, the driver reset: wgpu's Device::destroy.
    gpu.device().dev.destroy();
    let mut errors = Vec::new();
    for _ in 0..3 {
        match pollster::block_on(gpu.decode(t, &p, 0.5)) {
            Ok(next) => t = next,
            Err(e) => errors.push(e.to_string()),
        }
    }
    eprintln!("after the device was destroyed: {errors:?}");
    assert!(!errors.is_empty(), "generation went on on a destroyed device");
    assert!(errors.iter().all(|e| e.to_lowercase().contains("lost") || e.to_lowercase().contains("destroyed")), "{errors:?}");
    drop(gpu);
    // A new device, the same model: works.
    let mut gpu = pollster::block_on(Gpu::load(&mut tiny(), 256, |_, _| {})).unwrap();
    pollster::block_on(gpu.prefill(&[1, 2, 3])).unwrap();
    pollster::block_on(gpu.decode(4, &p, 0.5)).unwrap();
}

/// A device that takes at most `cap` bytes per buffer, while the loader plans by the adapter's
/// limits: each allocation over `cap` fails as it would on a device out of memory.
fn capped(cap: u64) -> Device {
    pollster::block_on(Device::open(|l| wgpu::Limits { max_buffer_size: cap, max_storage_buffer_binding_size: cap, ..l }))
        .expect("GPU backend (Vulkan)")
}

/// Buffers the device still holds once its queue has run dry.
fn live_buffers(dev: &wgpu::Device, queue: &wgpu::Queue) -> (usize, usize) {
    queue.submit([]);
    dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let h = dev.get_internal_counters().hal;
    (h.buffers.read() as usize, h.buffer_memory.read() as usize)
}

#[test]
fn out_of_memory_while_loading_is_a_clear_error_releases_what_was_loaded_and_the_next_load_works() {
    // Weights: the feed-forward matrices (8,192 x 128 at Q8_0, 1.1 MiB) are the tensors over
    // 1 MiB; the embedding and the first layer's attention are on the device when the first is
    // refused. KV cache: 2 MiB a layer for 16,384 tokens, the weights all fit under 2 MiB.
    let shape = Shape { arch: "llama", layers: 2, d: 128, heads: 4, kv: 2, ff: 8192, vocab: 300, tied: true };
    let model = synthetic_gguf(&shape, GgmlType::Q8_0, 256);
    for (what, cap, ctx, named) in [
        ("weights", 1u64 << 20, 256, "tensor blk.0.ffn_"),
        ("KV cache", 2 << 20, 16_384, "16384-token context"),
    ] {
        let d = capped(cap);
        let (dev, queue) = (d.dev.clone(), d.queue.clone());
        // What wgpu itself keeps on a device (its zero-fill buffer, …).
        let (own_buffers, own_bytes) = live_buffers(&dev, &queue);
        let mut src = synthetic_gguf(&shape, GgmlType::Q8_0, ctx);
        let mut loaded = 0;
        let err = match pollster::block_on(Gpu::load_on(d, &mut src, ctx, DEFAULT_CHUNK, |done, _| loaded = done)) {
            Ok(_) => panic!("{what}: the load went through on a device capped at {cap} bytes a buffer"),
            Err(e) => e.to_string(),
        };
        let (buffers, bytes) = live_buffers(&dev, &queue);
        eprintln!(
            "{what}: {err}\n  {loaded} bytes of weights were on the device; after the failed load it holds {} buffers, {} bytes beyond wgpu's own",
            buffers - own_buffers,
            bytes - own_bytes
        );
        assert!(err.contains("could not hold") && err.contains("smaller model or context"), "{what}: {err}");
        assert!(err.contains(named), "{what}: the error does not say what did not fit: {err}");
        assert!(loaded > 0, "{what}: the load failed before anything was on the device");
        assert_eq!((buffers, bytes), (own_buffers, own_bytes), "{what}: the failed load left buffers on the device");
    }
    // The same model on a device that holds it: loads and generates.
    let mut gpu = pollster::block_on(Gpu::load(&mut model.clone(), 256, |_, _| {})).unwrap();
    pollster::block_on(gpu.prefill(&[1, 2, 3])).unwrap();
    pollster::block_on(gpu.decode(4, &SamplerParams::greedy(), 0.5)).unwrap();
}
