//! The GPU backend: wgpu with the WGSL kernels of `shaders/`, native (Vulkan, e.g. lavapipe) and in
//! the browser (WebGPU).
//!
//! Read top to bottom as the GPU needs it: adapter → device → weights streamed into buffers (split
//! by rows where a tensor exceeds the adapter's binding limit) → the transformer recorded once into
//! a plan of dispatches whose buffers and bind groups are made once → each step writes a 16-byte
//! uniform, encodes the plan, submits once, and reads back only the sampled token id.
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod kernels;

use crate::engine::{self, Engine};
use crate::gguf::{self, ByteSource, TensorInfo};
use crate::model::{self, Config, Ops, RopeStyle};
use crate::quant::{self, GgmlType};
use crate::sample::{SamplerParams, TokenMask, MAX_TOP_K};
use crate::{Error, Result};
use kernels::{Kernel, Pipelines};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Tokens per prefill submission (activation buffers are sized for this many rows).
pub const DEFAULT_CHUNK: usize = 128;

/// Tokens a draft's check runs in one submission (each gets a row of logits; the agent's drafts
/// are at most 17 tokens with the one before them).
pub const CHECK_ROWS: usize = 32;

/// The buffers a device has made and their bytes, counted as they are made (never decremented):
/// a shared handle, so a test can watch it while an episode holds the engine.
#[derive(Clone, Default)]
pub struct Tally(Arc<[std::sync::atomic::AtomicU64; 2]>);

impl Tally {
    fn add(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.0[0].fetch_add(1, Relaxed);
        self.0[1].fetch_add(bytes, Relaxed);
    }

    /// (buffers, bytes) made so far.
    pub fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.0[0].load(Relaxed), self.0[1].load(Relaxed))
    }
}

/// An adapter's device and queue, with the limits the loader must respect.
pub struct Device {
    pub dev: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Threads per row for matvec: 1 on CPU-emulated adapters, 8 on real GPUs (see matvec.wgsl).
    pub matvec_tpr: u32,
    /// What the adapter is, for people: name and backend natively, WebGPU's adapter info in browsers.
    pub description: String,
    /// A CPU-emulated adapter (SwiftShader, lavapipe, llvmpipe): the CPU backend is faster there.
    pub emulated: bool,
    /// Errors the device reported outside an error scope (validation, out of memory, loss).
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it has been (destroyed, driver reset, tab's GPU process gone).
    lost: Arc<Mutex<Option<String>>>,
    /// Every buffer made through this `Device` (all of ours are).
    made: Tally,
    /// Command buffers submitted and bytes read back (see [`Device::transfers`]).
    submitted: std::sync::atomic::AtomicU64,
    read_back: std::sync::atomic::AtomicU64,
}

impl Device {
    pub async fn new() -> Result<Device> {
        Self::open(|adapter| adapter).await
    }

    /// Opens the device with the limits `required` makes of the adapter's (`new` asks for all of
    /// them). The loader plans by `Device::limits`, the adapter's: a test that asks for less makes
    /// the device refuse allocations the loader thinks fit, as a device out of memory does.
    pub async fn open(required: impl FnOnce(wgpu::Limits) -> wgpu::Limits) -> Result<Device> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("no WebGPU/Vulkan adapter is available ({e}); use --backend cpu")))?;
        let info = adapter.get_info();
        // Ask for everything the adapter allows: the defaults cap storage bindings at 128 MiB.
        let limits = adapter.limits();
        let (dev, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("mem1"),
                required_features: wgpu::Features::empty(),
                required_limits: required(limits.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("cannot open the GPU device on {}: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        dev.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        // The browser backend reports no adapter name: ask WebGPU itself (vendor, architecture…).
        #[cfg(target_arch = "wasm32")]
        let description = browser_adapter_description().await;
        #[cfg(not(target_arch = "wasm32"))]
        let description = format!("{} ({:?})", info.name, info.backend);
        let name = description.to_ascii_lowercase();
        let emulated = info.device_type == wgpu::DeviceType::Cpu
            || ["swiftshader", "llvmpipe", "lavapipe", "fallback"].iter().any(|n| name.contains(n));
        // MEM1_MATVEC_TPR (native) overrides the choice, for benchmarking the variants on a device.
        #[cfg(not(target_arch = "wasm32"))]
        let forced = std::env::var("MEM1_MATVEC_TPR").ok().and_then(|v| v.parse::<u32>().ok());
        #[cfg(target_arch = "wasm32")]
        let forced: Option<u32> = None;
        let matvec_tpr = match forced {
            Some(t) if t.is_power_of_two() && t <= 64 => t,
            _ if emulated => 1,
            _ => 8,
        };
        let lost = Arc::new(Mutex::new(None));
        let why = lost.clone();
        dev.set_device_lost_callback(move |reason, msg| {
            let reason = match reason {
                wgpu::DeviceLostReason::Destroyed => "destroyed",
                _ => "lost by the driver or the browser",
            };
            let msg = msg.trim().trim_end_matches('.');
            *why.lock().unwrap() = Some(if msg.is_empty() { reason.to_string() } else { format!("{reason} ({msg})") });
        });
        Ok(Device { dev, queue, info, limits, matvec_tpr, description, emulated, errors, lost, made: Tally::default(), submitted: 0.into(), read_back: 0.into() })
    }

    /// The error to give once the device is gone: what happened, and what to do.
    fn lost_error(&self) -> Option<Error> {
        self.lost.lock().unwrap().as_ref().map(|why| {
            Error::Gpu(format!("the GPU device was {why}: the model must be loaded again, on a new device, to go on"))
        })
    }

    /// Whether the device is gone (destroyed, or lost by the driver or the browser): nothing more
    /// runs on it, and its model must be loaded again on a new one.
    pub fn is_lost(&self) -> bool {
        self.lost.lock().unwrap().is_some()
    }

    /// Fails with the first error the device reported since the last check (a lost device first).
    pub fn check(&self) -> Result<()> {
        if let Some(e) = self.lost_error() {
            return Err(e);
        }
        let mut errs = self.errors.lock().unwrap();
        if errs.is_empty() {
            return Ok(());
        }
        let msg = errs.join("; ");
        errs.clear();
        Err(Error::Gpu(msg))
    }

    /// Opens out-of-memory and validation error scopes around allocations that may not fit.
    fn scope(&self) -> [wgpu::ErrorScopeGuard; 2] {
        [self.dev.push_error_scope(wgpu::ErrorFilter::OutOfMemory), self.dev.push_error_scope(wgpu::ErrorFilter::Validation)]
    }

    /// Closes a `scope`: fails with what it caught while `what` was being allocated (awaited, so
    /// a browser's GPU process has answered), or with an error the device reported meanwhile.
    async fn close(&self, scope: [wgpu::ErrorScopeGuard; 2], what: impl FnOnce() -> String) -> Result<()> {
        let [oom, validation] = scope;
        let refused = validation.pop().await;
        let oom = oom.pop().await;
        if let Some(e) = oom.or(refused) {
            if let Some(lost) = self.lost_error() {
                return Err(lost);
            }
            // wgpu's message is a chain over lines: natively "Validation Error / Caused by: / In
            // Device::create_buffer … / Buffer size N is greater than …", in browsers WebGPU's
            // message and "- While calling …". One line, without the headings.
            let text = e.to_string();
            let headings = ["Validation Error", "Out of Memory", "Caused by:"];
            let why = text.lines().map(str::trim).filter(|l| !l.is_empty() && !headings.contains(l)).collect::<Vec<_>>().join(" ");
            let why = why.split(" - While").next().unwrap_or_default();
            let kind = if matches!(e, wgpu::Error::OutOfMemory { .. }) { "out of memory" } else { "refused" };
            return Err(Error::Gpu(format!(
                "the GPU could not hold {} ({kind}: {why}); a smaller model or context, or the CPU backend, may fit",
                what()
            )));
        }
        self.check()
    }

    /// Largest buffer a single binding can see.
    pub fn max_binding(&self) -> u64 {
        (self.limits.max_storage_buffer_binding_size as u64).min(self.limits.max_buffer_size)
    }

    /// The buffers made so far (see [`Tally`]): after loading, generation makes none.
    pub fn tally(&self) -> Tally {
        self.made.clone()
    }

    /// Submits one command buffer, counted.
    pub fn submit(&self, cmd: wgpu::CommandBuffer) {
        self.submitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.queue.submit([cmd]);
    }

    /// Command buffers submitted and bytes read back through this device so far.
    pub fn transfers(&self) -> engine::Transfers {
        use std::sync::atomic::Ordering::Relaxed;
        engine::Transfers { submissions: self.submitted.load(Relaxed), readback_bytes: self.read_back.load(Relaxed) }
    }

    /// Blocks until the queue is idle (native only; the browser has no blocking wait), then
    /// fails with any error the device reported.
    pub fn wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.dev.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.check()
    }

    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        let size = bytes.max(4).div_ceil(4) * 4;
        self.made.add(size);
        self.dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    pub fn storage_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        let b = self.storage(label, data.len() as u64);
        self.queue.write_buffer(&b, 0, data);
        b
    }

    pub fn uniform(&self, words: &[u32]) -> wgpu::Buffer {
        self.made.add(4 * words.len() as u64);
        self.dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::cast_slice(words),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    pub fn readback(&self, bytes: u64) -> wgpu::Buffer {
        self.made.add(bytes);
        self.dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn bind(&self, pipe: &wgpu::ComputePipeline, entries: &[(u32, &wgpu::Buffer)]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|&(binding, b)| wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() })
            .collect();
        self.dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// Copies `bytes` from the start of a MAP_READ buffer back to the host.
    pub async fn read(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let (tx, rx) = futures_channel::oneshot::channel();
        buf.slice(..bytes).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.dev
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        let mapped = rx.await.map_err(|_| Error::Gpu("the device was lost while reading back".into()))?;
        if let Err(e) = mapped {
            // In browsers the failed map can come before the device's `lost` promise resolves
            // (destroyed, GPU process gone): give it a moment to say so.
            #[cfg(target_arch = "wasm32")]
            for _ in 0..50 {
                if self.is_lost() {
                    break;
                }
                crate::web::pause(10).await;
            }
            return Err(self.lost_error().unwrap_or_else(|| Error::Gpu(format!("reading back: {e}"))));
        }
        let data = buf
            .slice(..bytes)
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("reading back: {e}")))?
            .to_vec();
        buf.unmap();
        self.read_back.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        self.check()?;
        Ok(data)
    }
}

/// `navigator.gpu`'s adapter info (vendor, architecture, device, description; "fallback" when the
/// browser says it is a software fallback adapter such as SwiftShader).
#[cfg(target_arch = "wasm32")]
async fn browser_adapter_description() -> String {
    use wasm_bindgen::{JsCast, JsValue};
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    let Ok(request) = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>() else {
        return String::new();
    };
    let Ok(promise) = request.call0(&gpu).and_then(|p| p.dyn_into::<js_sys::Promise>().map_err(JsValue::from)) else {
        return String::new();
    };
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.unwrap_or(JsValue::UNDEFINED);
    if adapter.is_null() || adapter.is_undefined() {
        return String::new();
    }
    let info = get(&adapter, "info");
    let mut parts: Vec<String> =
        ["vendor", "architecture", "device", "description"].iter().filter_map(|k| get(&info, k).as_string()).filter(|s| !s.is_empty()).collect();
    if get(&adapter, "isFallbackAdapter").as_bool() == Some(true) || get(&info, "isFallbackAdapter").as_bool() == Some(true) {
        parts.push("fallback".into());
    }
    format!("{} (WebGPU)", parts.join(" "))
}

/// A weight on the GPU, split by rows into chunks that each fit one binding.
pub struct GpuTensor {
    pub ty: GgmlType,
    /// Row length (elements).
    pub k: usize,
    pub rows: usize,
    pub chunks: Vec<Chunk>,
}

pub struct Chunk {
    pub buf: wgpu::Buffer,
    pub row0: usize,
    pub rows: usize,
}

/// Streams one tensor from `src` into GPU buffers, `max_bytes` per chunk at most.
pub async fn upload_tensor<S: ByteSource>(d: &Device, src: &mut S, t: &TensorInfo, max_bytes: u64) -> Result<GpuTensor> {
    let (rows, k) = t.rows_cols();
    let (rows, k) = (rows as usize, k as usize);
    let lay = quant::gpu_layout(t.ty);
    if k % lay.elems != 0 {
        return Err(Error::Unsupported(format!(
            "tensor {}: row length {k} is not a multiple of {} ({:?} on the GPU)",
            t.name, lay.elems, t.ty
        )));
    }
    let gpu_row = (k / lay.elems * lay.words * 4) as u64;
    let file_row = t.ty.row_bytes(k) as u64;
    let per_chunk = (max_bytes / gpu_row) as usize;
    if per_chunk == 0 {
        return Err(Error::Gpu(format!(
            "tensor {}: one row needs {gpu_row} bytes, more than the adapter's {max_bytes}-byte binding limit",
            t.name
        )));
    }
    let mut chunks = Vec::new();
    let mut row0 = 0;
    while row0 < rows {
        let n = per_chunk.min(rows - row0);
        let bytes = src.read_at(t.offset + row0 as u64 * file_row, n * file_row as usize).await?;
        let packed = quant::to_gpu_layout(t.ty, &bytes);
        let buf = d.storage_init(&t.name, &packed);
        chunks.push(Chunk { buf, row0, rows: n });
        row0 += n;
    }
    Ok(GpuTensor { ty: t.ty, k, rows, chunks })
}

/// Which workgroup grid a recorded dispatch needs, given the step's token count T.
#[derive(Clone, Copy)]
enum Grid {
    /// One workgroup per activation row (T, or 1 for one-row activations).
    Rows { one_row: bool },
    /// [ceil(units/64), T]: embedding gather.
    Embed { units: u32 },
    /// [T, n]: per token and head.
    TokenHeads { n: u32 },
    /// [n, T]: per head and token.
    HeadTokens { n: u32 },
    /// ceil(rows·cols / 256) workgroups of 256, folded into 2-D.
    Elems { cols: u32, one_row: bool },
}

enum Cmd {
    Dispatch { pipe: Rc<wgpu::ComputePipeline>, bind: wgpu::BindGroup, grid: Grid, kind: Kernel },
    /// Matvec when one row is multiplied, tiled matmul otherwise; both bound to the same buffers.
    Linear {
        matvec: (Rc<wgpu::ComputePipeline>, wgpu::BindGroup),
        matmul: (Rc<wgpu::ComputePipeline>, wgpu::BindGroup),
        rows: u32,
        /// Rows per matvec workgroup (64 / threads per row).
        rows_per_wg: u32,
        ty: GgmlType,
        /// Bytes of weights this dispatch reads (for bandwidth figures).
        bytes: u64,
        one_row: bool,
    },
    CopyLastRow { src: Rc<wgpu::Buffer>, dst: Rc<wgpu::Buffer>, cols: u64 },
}

/// An activation: a pooled buffer of `[rows, cols]` f32 (`rows`: the chunk, a check's rows, or 1).
#[derive(Clone)]
pub struct Act {
    buf: Rc<wgpu::Buffer>,
    cols: usize,
    rows: usize,
    one_row: bool,
}

/// What a draft's check adds to the forward pass: the head over every row of the step (not only
/// the last), the greedy choice of each row under its own mask, and the rows' choices read back.
struct Check {
    /// The final norm and the output matrix over the step's rows, recorded once.
    head: Vec<Cmd>,
    rows: usize,
    logits: Rc<wgpu::Buffer>,
    params: wgpu::Buffer,
    /// A token mask per row.
    mask: wgpu::Buffer,
    out: wgpu::Buffer,
    read: wgpu::Buffer,
    bind: wgpu::BindGroup,
}

fn fold(n: u32) -> [u32; 3] {
    [n.min(32768).max(1), n.div_ceil(32768).max(1), 1]
}

pub struct Gpu {
    d: Device,
    cfg: Config,
    pipes: Pipelines,
    weights: HashMap<String, GpuTensor>,
    k_cache: Vec<wgpu::Buffer>,
    v_cache: Vec<wgpu::Buffer>,
    rope: wgpu::Buffer,
    ids: wgpu::Buffer,
    step: wgpu::Buffer,
    zero: wgpu::Buffer,
    pool: Vec<Rc<wgpu::Buffer>>,
    /// The decoder layers, recorded once (a step replays them)…
    plan: Vec<Cmd>,
    /// …then the head over the last row, into `logits`…
    head: Vec<Cmd>,
    /// …or, to check a draft, over every row.
    check: Option<Check>,
    logits: Rc<wgpu::Buffer>,
    logits_read: wgpu::Buffer,
    sample_params: wgpu::Buffer,
    /// The sampler's token mask (a bit per vocabulary id), written when a sample is masked.
    sample_mask: wgpu::Buffer,
    sample_out: wgpu::Buffer,
    sample_read: wgpu::Buffer,
    sample_bind: wgpu::BindGroup,
    sample_pipe: Rc<wgpu::ComputePipeline>,
    chunk: usize,
    ctx: usize,
    pos: usize,
    has_logits: bool,
    /// The token id currently sitting in `ids[0]` because the sampler put it there.
    on_gpu: Option<u32>,
}

impl Gpu {
    /// Streams a GGUF model from `src` onto the GPU; `ctx` bounds the KV cache, `progress(done, total)`.
    pub async fn load<S: ByteSource>(src: &mut S, ctx: usize, progress: impl FnMut(u64, u64)) -> Result<Gpu> {
        let d = Device::new().await?;
        Self::load_on(d, src, ctx, DEFAULT_CHUNK, progress).await
    }

    pub async fn load_on<S: ByteSource>(
        d: Device,
        src: &mut S,
        ctx: usize,
        chunk: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Gpu> {
        let g = gguf::read_header(src).await?;
        let cfg = Config::from_gguf(&g)?;
        let ctx = ctx.min(cfg.ctx_len).max(1);
        let chunk = chunk.clamp(1, ctx);
        check_fits(&d, &cfg, ctx, chunk)?;
        let max = d.max_binding();
        let total: u64 = g.tensors.iter().map(|t| t.n_bytes).sum();
        let mut done = 0;
        let mut weights = HashMap::new();
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        for t in &g.tensors {
            let scope = d.scope();
            let uploaded = upload_tensor(&d, src, t, max).await;
            d.close(scope, || format!("tensor {} ({:.1} MiB, after {:.1} of {:.1} MiB)", t.name, mb(t.n_bytes), mb(done), mb(total)))
                .await?;
            weights.insert(t.name.clone(), uploaded?);
            done += t.n_bytes;
            progress(done, total);
        }
        let scope = d.scope();
        let kv_bytes = (ctx * cfg.kv_dim() * 4) as u64;
        let k_cache = (0..cfg.n_layers).map(|_| d.storage("k cache", kv_bytes)).collect();
        let v_cache = (0..cfg.n_layers).map(|_| d.storage("v cache", kv_bytes)).collect();
        let rope = d.storage_init("rope", bytemuck::cast_slice(&cfg.rope_table(ctx)));
        let ids = d.storage("ids", (chunk * 4) as u64);
        let step = d.uniform(&[0, 0, 0, 0]);
        let zero = d.storage("zero", 4 * 256);
        let sample_params = d.uniform(&[0; 8]);
        let sample_out = d.storage("sampled", 4);
        let sample_mask = d.storage("token mask", (cfg.vocab.div_ceil(32) * 4) as u64);
        let sample_read = d.readback(4);
        let logits_read = d.readback((cfg.vocab * 4) as u64);
        let mut pipes = Pipelines::new(d.matvec_tpr);
        let sample_pipe = pipes.get(&d.dev, Kernel::Sample, None);
        let placeholder = Rc::new(d.storage("logits", 4));
        let sample_bind =
            d.bind(&sample_pipe, &[(0, &placeholder), (1, &ids), (2, &sample_out), (3, &sample_params), (4, &sample_mask)]);
        let mut gpu = Gpu {
            d,
            cfg: cfg.clone(),
            pipes,
            weights,
            k_cache,
            v_cache,
            rope,
            ids,
            step,
            zero,
            pool: Vec::new(),
            plan: Vec::new(),
            head: Vec::new(),
            check: None,
            logits: placeholder,
            logits_read,
            sample_params,
            sample_mask,
            sample_out,
            sample_read,
            sample_bind,
            sample_pipe,
            chunk,
            ctx,
            pos: 0,
            has_logits: false,
            on_gpu: None,
        };
        // Record the forward pass once; every step replays it.
        let x = model::body(&mut gpu, &cfg);
        let body = std::mem::take(&mut gpu.plan);
        let last = gpu.last_row(&x);
        let logits = model::head(&mut gpu, &cfg, &last);
        gpu.head = std::mem::take(&mut gpu.plan);
        gpu.logits = logits.buf;
        let max = gpu.d.max_binding() as usize;
        let rows = CHECK_ROWS.min(chunk).min(max / (cfg.vocab * 4));
        if rows > 1 {
            let every = model::head(&mut gpu, &cfg, &Act { rows, ..x });
            let head = std::mem::take(&mut gpu.plan);
            gpu.check = Some(Check::new(&gpu, head, rows, every.buf));
        }
        gpu.plan = body;
        gpu.sample_bind = gpu.d.bind(
            &gpu.sample_pipe,
            &[(0, &gpu.logits), (1, &gpu.ids), (2, &gpu.sample_out), (3, &gpu.sample_params), (4, &gpu.sample_mask)],
        );
        let cache = 2 * cfg.n_layers as u64 * kv_bytes;
        gpu.d
            .close(scope, || format!("the KV cache and activations for a {ctx}-token context ({:.1} MiB of KV cache)", mb(cache)))
            .await?;
        Ok(gpu)
    }

    pub fn device(&self) -> &Device {
        &self.d
    }

    pub fn adapter_name(&self) -> String {
        self.d.description.clone()
    }

    fn alloc(&mut self, rows: usize, cols: usize) -> Rc<wgpu::Buffer> {
        let bytes = (rows * cols * 4) as u64;
        // A pooled buffer no live activation refers to any more is free to reuse: the plan runs in order.
        if let Some(b) = self.pool.iter().find(|b| Rc::strong_count(b) == 1 && b.size() == bytes.max(4)) {
            return b.clone();
        }
        let b = Rc::new(self.d.storage("activation", bytes));
        self.pool.push(b.clone());
        b
    }

    fn act(&mut self, like: &Act, cols: usize) -> Act {
        Act { buf: self.alloc(like.rows, cols), cols, rows: like.rows, one_row: like.one_row }
    }

    fn weight(&self, name: &str) -> &GpuTensor {
        // Config::from_gguf checked every tensor the forward pass names.
        &self.weights[name]
    }

    /// Encodes the plan for `t` tokens at position `pos`, plus the sampler if `sample`: one submit.
    fn run(&mut self, t: usize, sample: bool) {
        self.d.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&[t as u32, self.pos as u32, 0, 0]));
        let mut enc = self.d.dev.create_command_encoder(&Default::default());
        encode(&mut enc, &self.plan, t as u32, false);
        encode(&mut enc, &self.head, t as u32, false);
        if sample {
            self.encode_sample(&mut enc);
        }
        self.d.submit(enc.finish());
    }

    fn encode_sample(&self, enc: &mut wgpu::CommandEncoder) {
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.sample_pipe);
            pass.set_bind_group(0, &self.sample_bind, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        enc.copy_buffer_to_buffer(&self.sample_out, 0, &self.sample_read, 0, 4);
    }

    /// Runs one forward step of `t` tokens at the current position, one command at a time with a
    /// wait after each, and returns seconds and weight bytes per kernel kind (for `mem1 bench`).
    /// Leaves the cache position unchanged.
    pub fn profile(&mut self, t: usize) -> Result<Vec<(String, f64, u64, usize)>> {
        engine::check_prefill(&vec![1; t], self.pos, self.ctx, self.cfg.vocab)?;
        self.d.queue.write_buffer(&self.ids, 0, bytemuck::cast_slice(&vec![1u32; t]));
        self.d.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&[t as u32, self.pos as u32, 0, 0]));
        let mut rows: Vec<(String, f64, u64, usize)> = Vec::new();
        self.wait()?;
        for cmd in self.plan.iter().chain(&self.head) {
            let name = match cmd {
                Cmd::Dispatch { kind, .. } => format!("{kind:?}"),
                Cmd::Linear { ty, one_row, .. } => {
                    format!("{}/{ty:?}", if *one_row || t == 1 { "matvec" } else { "matmul" })
                }
                Cmd::CopyLastRow { .. } => "copy".into(),
            };
            let bytes = if let Cmd::Linear { bytes, .. } = cmd { *bytes } else { 0 };
            let mut enc = self.d.dev.create_command_encoder(&Default::default());
            encode(&mut enc, std::slice::from_ref(cmd), t as u32, false);
            let t0 = crate::engine::now();
            self.d.submit(enc.finish());
            self.wait()?;
            let dt = crate::engine::now() - t0;
            match rows.iter_mut().find(|r| r.0 == name) {
                Some(r) => {
                    r.1 += dt;
                    r.2 += bytes;
                    r.3 += 1;
                }
                None => rows.push((name, dt, bytes, 1)),
            }
        }
        Ok(rows)
    }

    /// Blocks until the queue is idle (see [`Device::wait`]).
    pub fn wait(&self) -> Result<()> {
        self.d.wait()
    }

    /// The sampler's settings for the next sample, and its mask if it has one (the vocabulary's
    /// bits, a few KiB, written into the same submission).
    fn write_sampler(&self, p: &SamplerParams, u: f32, mask: Option<&TokenMask>) -> Result<()> {
        if let Some(m) = mask {
            self.write_mask(&self.sample_mask, 0, m)?;
        }
        self.write_sampler_params(&self.sample_params, p, u, mask.is_some() as u32);
        Ok(())
    }

    /// `mask` into row `row` of a sampler's mask buffer (a row per logits row).
    fn write_mask(&self, buf: &wgpu::Buffer, row: usize, m: &TokenMask) -> Result<()> {
        if m.len() != self.cfg.vocab {
            return Err(Error::usage(format!("a token mask of {} ids for a vocabulary of {}", m.len(), self.cfg.vocab)));
        }
        self.d.queue.write_buffer(buf, (row * self.cfg.vocab.div_ceil(32) * 4) as u64, bytemuck::cast_slice(m.words()));
        Ok(())
    }

    /// sample.wgsl's `Params`; `masked`: bit r set when logits row r has a mask.
    fn write_sampler_params(&self, buf: &wgpu::Buffer, p: &SamplerParams, u: f32, masked: u32) {
        let words = [self.cfg.vocab as u32, p.top_k.clamp(1, MAX_TOP_K) as u32, p.temperature.to_bits(), p.top_p.to_bits(), u.to_bits(), masked, 0, 0];
        self.d.queue.write_buffer(buf, 0, bytemuck::cast_slice(&words));
    }

    /// The id the sampler chose (`None`: its mask allowed no token), now also in `ids[0]`.
    async fn read_sampled(&mut self) -> Result<Option<u32>> {
        let b = self.d.read(&self.sample_read, 4).await?;
        let id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let id = (id != u32::MAX).then_some(id);
        self.on_gpu = id;
        Ok(id)
    }

}

impl Check {
    fn new(g: &Gpu, head: Vec<Cmd>, rows: usize, logits: Rc<wgpu::Buffer>) -> Check {
        let d = &g.d;
        let params = d.uniform(&[0; 8]);
        let mask = d.storage("check token masks", (rows * g.cfg.vocab.div_ceil(32) * 4) as u64);
        // The sampler also writes its picks to `ids`: not the step's token ids here (the bind
        // group keeps this buffer alive).
        let ids = d.storage("check ids", (rows * 4) as u64);
        let out = d.storage("check choices", (rows * 4) as u64);
        let read = d.readback((rows * 4) as u64);
        let bind = d.bind(&g.sample_pipe, &[(0, &logits), (1, &ids), (2, &out), (3, &params), (4, &mask)]);
        Check { head, rows, logits, params, mask, out, read, bind }
    }
}

impl Gpu {
    /// Checks `tokens` (at most `Check::rows`) in one submission: the forward pass over them, the
    /// head over each row, each row's greedy choice under its mask; only the choices come back.
    async fn check(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        let c = self.check.as_ref().expect("a check's buffers");
        let (t, vocab) = (tokens.len(), self.cfg.vocab);
        let mut masked = 0u32;
        for (i, m) in masks.iter().enumerate().take(t) {
            if let Some(m) = m {
                self.write_mask(&c.mask, i, m)?;
                masked |= 1 << i;
            }
        }
        self.write_sampler_params(&c.params, &SamplerParams::greedy(), 0.0, masked);
        self.d.queue.write_buffer(&self.ids, 0, bytemuck::cast_slice(tokens));
        self.d.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&[t as u32, self.pos as u32, 0, 0]));
        let mut enc = self.d.dev.create_command_encoder(&Default::default());
        encode(&mut enc, &self.plan, t as u32, true);
        encode(&mut enc, &c.head, t as u32, true);
        // The last row's logits become the current ones, as after a prefill.
        let row = (vocab * 4) as u64;
        enc.copy_buffer_to_buffer(&c.logits, (t as u64 - 1) * row, &self.logits, 0, row);
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.sample_pipe);
            pass.set_bind_group(0, &c.bind, &[]);
            pass.dispatch_workgroups(t as u32, 1, 1);
        }
        enc.copy_buffer_to_buffer(&c.out, 0, &c.read, 0, (t * 4) as u64);
        self.d.submit(enc.finish());
        self.pos += t;
        self.has_logits = true;
        self.on_gpu = None;
        let b = self.d.read(&c.read, (t * 4) as u64).await?;
        Ok(bytemuck::cast_slice::<u8, u32>(&b).iter().map(|&id| (id != u32::MAX).then_some(id)).collect())
    }
}

/// The pipeline, bind group and grid of a dispatch command for a step of `t` tokens; `check`: a
/// draft's check, whose products run the decode kernel over each token (decode's sums to the bit).
fn dispatch_of(cmd: &Cmd, t: u32, check: bool) -> Option<(&wgpu::ComputePipeline, &wgpu::BindGroup, [u32; 3])> {
    match cmd {
        Cmd::CopyLastRow { .. } => None,
        Cmd::Dispatch { pipe, bind, grid, .. } => {
            let wg = match *grid {
                Grid::Rows { one_row } => [if one_row { 1 } else { t }, 1, 1],
                Grid::Embed { units } => [units.div_ceil(64), t, 1],
                Grid::TokenHeads { n } => [t, n, 1],
                Grid::HeadTokens { n } => [n, t, 1],
                Grid::Elems { cols, one_row } => {
                    let g = ((if one_row { 1 } else { t }) * cols).div_ceil(256);
                    [g.min(65535), g.div_ceil(65535), 1]
                }
            };
            Some((pipe, bind, wg))
        }
        Cmd::Linear { matvec, matmul, rows, rows_per_wg, one_row, .. } => Some(if *one_row || t == 1 || check {
            (&matvec.0, &matvec.1, fold(rows.div_ceil(*rows_per_wg)))
        } else {
            (&matmul.0, &matmul.1, [rows.div_ceil(64), t.div_ceil(8), 1])
        }),
    }
}

/// Encodes recorded commands for a step of `t` tokens: runs of dispatches share one compute pass
/// (WebGPU makes each dispatch see the previous one's writes); copies go between passes.
fn encode(enc: &mut wgpu::CommandEncoder, cmds: &[Cmd], t: u32, check: bool) {
    let mut i = 0;
    while i < cmds.len() {
        if let Cmd::CopyLastRow { src, dst, cols } = &cmds[i] {
            let row = cols * 4;
            enc.copy_buffer_to_buffer(src, (t as u64 - 1) * row, dst, 0, row);
            i += 1;
            continue;
        }
        let mut pass = enc.begin_compute_pass(&Default::default());
        while let Some((pipe, bind, wg)) = cmds.get(i).and_then(|c| dispatch_of(c, t, check)) {
            pass.set_pipeline(pipe);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(wg[0], wg[1], wg[2]);
            i += 1;
        }
    }
}

/// Refuses, before allocating anything, buffers the adapter cannot bind (weights are checked row by
/// row as they stream in). WebGPU exposes no memory size, so only the limits are known up front.
fn check_fits(d: &Device, cfg: &Config, ctx: usize, chunk: usize) -> Result<()> {
    let max = d.max_binding();
    let kv = (ctx * cfg.kv_dim() * 4) as u64;
    let act = (chunk * cfg.d_ff.max(cfg.q_dim()).max(cfg.d_model) * 4) as u64;
    for (what, bytes) in [("a layer's KV cache", kv), ("an activation buffer", act), ("the rope table", (ctx * cfg.head_dim * 4) as u64)] {
        if bytes > max {
            return Err(Error::Gpu(format!(
                "{what} needs {bytes} bytes, above the adapter's {max}-byte buffer limit: lower the context (now {ctx}) or the prefill chunk"
            )));
        }
    }
    Ok(())
}


impl Ops for Gpu {
    type Act = Act;

    fn embed(&mut self) -> Act {
        let d = self.cfg.d_model;
        let x = Act { buf: self.alloc(self.chunk, d), cols: d, rows: self.chunk, one_row: false };
        let pipe_ty = self.weight("token_embd.weight").ty;
        let pipe = self.pipes.get(&self.d.dev, Kernel::Embed, Some(pipe_ty));
        let mut cmds = Vec::new();
        for c in &self.weight("token_embd.weight").chunks {
            let p = self.d.uniform(&[d as u32, c.rows as u32, c.row0 as u32, 0]);
            let bind = self.d.bind(&pipe, &[(0, &c.buf), (1, &self.ids), (2, &x.buf), (3, &p), (5, &self.step)]);
            cmds.push(Cmd::Dispatch { pipe: pipe.clone(), bind, grid: Grid::Embed { units: (d / 32) as u32 }, kind: Kernel::Embed });
        }
        self.plan.extend(cmds);
        x
    }

    fn rmsnorm(&mut self, x: &Act, weight: &str) -> Act {
        let y = self.act(x, x.cols);
        let pipe = self.pipes.get(&self.d.dev, Kernel::RmsNorm, None);
        let p = self.d.uniform(&[x.cols as u32, self.cfg.rms_eps.to_bits(), 0, 0]);
        let w = &self.weight(weight).chunks[0].buf;
        let bind = self.d.bind(&pipe, &[(0, &x.buf), (1, w), (2, &y.buf), (3, &p)]);
        self.plan.push(Cmd::Dispatch { pipe, bind, grid: Grid::Rows { one_row: x.one_row }, kind: Kernel::RmsNorm });
        y
    }

    fn linear(&mut self, x: &Act, weight: &str, bias: Option<&str>) -> Act {
        let (ty, k, n) = {
            let w = self.weight(weight);
            (w.ty, w.k, w.rows)
        };
        let y = self.act(x, n);
        let mv = self.pipes.get(&self.d.dev, Kernel::Matvec, Some(ty));
        let mm = self.pipes.get(&self.d.dev, Kernel::Matmul, Some(ty));
        let w = &self.weights[weight];
        let b = bias.map(|b| &self.weights[b].chunks[0].buf).unwrap_or(&self.zero);
        let mut cmds = Vec::new();
        for c in &w.chunks {
            let p = self.d.uniform(&[
                k as u32,
                c.rows as u32,
                c.row0 as u32,
                n as u32,
                bias.is_some() as u32,
                x.one_row as u32,
                0,
                0,
            ]);
            let bv = self.d.bind(&mv, &[(0, &c.buf), (1, &x.buf), (2, &y.buf), (3, &p), (4, b), (5, &self.step)]);
            let bm = self.d.bind(&mm, &[(0, &c.buf), (1, &x.buf), (2, &y.buf), (3, &p), (4, b), (5, &self.step)]);
            cmds.push(Cmd::Linear {
                matvec: (mv.clone(), bv),
                matmul: (mm.clone(), bm),
                rows: c.rows as u32,
                rows_per_wg: 64 / self.pipes.matvec_tpr,
                one_row: x.one_row,
                ty,
                bytes: c.buf.size(),
            });
        }
        self.plan.extend(cmds);
        y
    }

    fn rope_and_cache(&mut self, layer: usize, q: &Act, k: &Act, v: &Act) {
        let c = &self.cfg;
        let pipe = self.pipes.get(&self.d.dev, Kernel::RopeCache, None);
        let half_split = (c.rope_style == RopeStyle::HalfSplit) as u32;
        let p = self.d.uniform(&[c.n_heads as u32, c.n_kv_heads as u32, c.head_dim as u32, half_split]);
        let bind = self.d.bind(
            &pipe,
            &[
                (0, &q.buf),
                (1, &k.buf),
                (2, &v.buf),
                (3, &p),
                (4, &self.rope),
                (5, &self.step),
                (6, &self.k_cache[layer]),
                (7, &self.v_cache[layer]),
            ],
        );
        let n = (c.n_heads + c.n_kv_heads) as u32;
        self.plan.push(Cmd::Dispatch { pipe, bind, grid: Grid::TokenHeads { n }, kind: Kernel::RopeCache });
    }

    fn attention(&mut self, layer: usize, q: &Act) -> Act {
        let out = self.act(q, q.cols);
        let c = &self.cfg;
        let pipe = self.pipes.get(&self.d.dev, Kernel::Attention, None);
        let scale = 1.0 / (c.head_dim as f32).sqrt();
        let p = self.d.uniform(&[c.n_heads as u32, c.n_kv_heads as u32, c.head_dim as u32, scale.to_bits()]);
        let bind = self.d.bind(
            &pipe,
            &[(0, &q.buf), (1, &self.k_cache[layer]), (2, &out.buf), (3, &p), (4, &self.v_cache[layer]), (5, &self.step)],
        );
        let n = c.n_heads as u32;
        self.plan.push(Cmd::Dispatch { pipe, bind, grid: Grid::HeadTokens { n }, kind: Kernel::Attention });
        out
    }

    fn silu_mul(&mut self, gate: &Act, up: &Act) -> Act {
        let y = self.act(gate, gate.cols);
        self.elementwise(0, gate, up, &y.buf.clone());
        y
    }

    fn add_into(&mut self, x: &Act, y: &Act) {
        // The add writes `a` in place; its output binding is never touched, so any buffer will do.
        let unused = self.zero.clone();
        self.elementwise(1, x, y, &unused);
    }

    fn last_row(&mut self, x: &Act) -> Act {
        let y = Act { buf: self.alloc(1, x.cols), cols: x.cols, rows: 1, one_row: true };
        self.plan.push(Cmd::CopyLastRow { src: x.buf.clone(), dst: y.buf.clone(), cols: x.cols as u64 });
        y
    }
}

impl Gpu {
    fn elementwise(&mut self, op: u32, a: &Act, b: &Act, y: &wgpu::Buffer) {
        let pipe = self.pipes.get(&self.d.dev, Kernel::Elementwise, None);
        let p = self.d.uniform(&[a.cols as u32, a.one_row as u32, op, 0]);
        let bind = self.d.bind(&pipe, &[(0, &a.buf), (1, &b.buf), (2, y), (3, &p), (5, &self.step)]);
        self.plan.push(Cmd::Dispatch { pipe, bind, grid: Grid::Elems { cols: a.cols as u32, one_row: a.one_row }, kind: Kernel::Elementwise });
    }
}

impl Engine for Gpu {
    fn config(&self) -> &Config {
        &self.cfg
    }
    fn pos(&self) -> usize {
        self.pos
    }
    fn truncate(&mut self, pos: usize) -> Result<()> {
        engine::check_truncate(pos, self.pos)?;
        self.pos = pos;
        Ok(())
    }
    async fn prefill(&mut self, tokens: &[u32]) -> Result<()> {
        engine::check_prefill(tokens, self.pos, self.ctx, self.cfg.vocab)?;
        for part in tokens.chunks(self.chunk) {
            self.d.queue.write_buffer(&self.ids, 0, bytemuck::cast_slice(part));
            self.run(part.len(), false);
            self.pos += part.len();
        }
        self.on_gpu = None;
        self.has_logits = true;
        self.d.check()
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        if !self.has_logits {
            return Err(Error::usage("no logits yet: prefill first"));
        }
        let bytes = (self.cfg.vocab * 4) as u64;
        let mut enc = self.d.dev.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&self.logits, 0, &self.logits_read, 0, bytes);
        self.d.submit(enc.finish());
        let b = self.d.read(&self.logits_read, bytes).await?;
        Ok(bytemuck::cast_slice(&b).to_vec())
    }
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        if !self.has_logits {
            return Err(Error::usage("sample before any prefill"));
        }
        self.write_sampler(p, u, mask)?;
        let mut enc = self.d.dev.create_command_encoder(&Default::default());
        self.encode_sample(&mut enc);
        self.d.submit(enc.finish());
        self.read_sampled().await
    }
    async fn decode_masked(&mut self, token: u32, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        engine::check_prefill(&[token], self.pos, self.ctx, self.cfg.vocab)?;
        if self.on_gpu != Some(token) {
            self.d.queue.write_buffer(&self.ids, 0, bytemuck::bytes_of(&token));
        }
        self.write_sampler(p, u, mask)?;
        self.run(1, true);
        self.pos += 1;
        self.has_logits = true;
        self.read_sampled().await
    }
    async fn verify(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        engine::check_prefill(tokens, self.pos, self.ctx, self.cfg.vocab)?;
        let mut out = Vec::with_capacity(tokens.len());
        let Some(rows) = self.check.as_ref().map(|c| c.rows) else {
            // No room for a check (a one-token chunk): one token at a time, as decode does.
            for (i, &t) in tokens.iter().enumerate() {
                out.push(self.decode_masked(t, masks.get(i).copied().flatten(), &SamplerParams::greedy(), 0.0).await?);
            }
            return Ok(out);
        };
        for (i, part) in tokens.chunks(rows).enumerate() {
            let at = (i * rows).min(masks.len());
            let m = &masks[at..(at + part.len()).min(masks.len())];
            out.extend(self.check(part, m).await?);
        }
        Ok(out)
    }
    fn batched_verify(&self) -> bool {
        self.check.is_some()
    }
    fn transfers(&self) -> Option<engine::Transfers> {
        Some(self.d.transfers())
    }
}

/// Runs the dequantization kernel over whole blocks of `ty` (tests compare it with the CPU).
pub async fn dequantize(d: &Device, ty: GgmlType, data: &[u8]) -> Result<Vec<f32>> {
    let (be, bb) = ty.block();
    let n = data.len() / bb * be;
    let units = (n / 32) as u32;
    let w = d.storage_init("w", &quant::to_gpu_layout(ty, data));
    let out = d.storage("out", (n * 4) as u64);
    let read = d.readback((n * 4) as u64);
    let p = d.uniform(&[units, 0, 0, 0]);
    let mut pipes = Pipelines::new(1);
    let pipe = pipes.get(&d.dev, Kernel::Dequant, Some(ty));
    let bind = d.bind(&pipe, &[(0, &w), (2, &out), (3, &p)]);
    let mut enc = d.dev.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipe);
        pass.set_bind_group(0, &bind, &[]);
        let g = units.div_ceil(64);
        pass.dispatch_workgroups(g.min(65535), g.div_ceil(65535), 1);
    }
    enc.copy_buffer_to_buffer(&out, 0, &read, 0, (n * 4) as u64);
    d.submit(enc.finish());
    let b = d.read(&read, (n * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&b).to_vec())
}
