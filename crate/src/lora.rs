//! LoRA adapters, merged into the base model's weights as they stream in.
//!
//! An adapter is a GGUF in llama.cpp's layout (`general.type = adapter`, `adapter.type = lora`,
//! `adapter.lora.alpha`; for a base matrix `NAME` of `[cols, rows]` in GGUF order, the tensors
//! `NAME.lora_a` `[cols, r]` and `NAME.lora_b` `[r, rows]`), so adapters trained here
//! (`train/mem1_train.py`) and llama.cpp's converted ones load alike. The adapted weight is
//! `W + alpha/r · B·A`.
//!
//! [`Adapted`] is a [`ByteSource`] that serves a GGUF of the merged model: its header is the base's
//! with each adapted matrix retyped (Q8_0, or F32 for the f32 reference backend), and a read of
//! such a matrix's bytes dequantizes those rows of the base, adds the rows of `B·A` and quantizes
//! them again. Every loader (GPU, quantized CPU, reference; natively and in the browser) reads it
//! as it reads a file, row range by row range: the merged model is never whole in memory.
use crate::gguf::{self, ByteSource, Gguf, TensorInfo, Value};
use crate::quant::{self, GgmlType};
use crate::{Error, Result};
use half::f16;
use std::collections::BTreeMap;

/// One adapted matrix's low-rank factors, f32: `a` is `r × cols`, `b` is `rows × r`.
#[derive(Debug, Clone)]
struct Pair {
    a: Vec<f32>,
    b: Vec<f32>,
    rank: usize,
}

/// A LoRA adapter read whole (it is small: ranks × the model's widths).
#[derive(Debug, Clone)]
pub struct Adapter {
    pub architecture: String,
    pub name: Option<String>,
    pub alpha: Option<f32>,
    pairs: BTreeMap<String, Pair>,
}

impl Adapter {
    /// Reads and checks an adapter file.
    pub async fn read<S: ByteSource>(src: &mut S) -> Result<Adapter> {
        let g = gguf::read_header(src).await?;
        let kind = g.get("general.type").and_then(Value::as_str);
        let lora = g.get("adapter.type").and_then(Value::as_str);
        if kind != Some("adapter") || lora != Some("lora") {
            return Err(Error::gguf(format!(
                "not a LoRA adapter (general.type {kind:?}, adapter.type {lora:?}; expected \"adapter\" and \"lora\")"
            )));
        }
        let architecture = g.architecture()?.to_string();
        let alpha = g.get("adapter.lora.alpha").and_then(Value::as_f64).map(|a| a as f32);
        let mut halves: BTreeMap<String, (Option<&TensorInfo>, Option<&TensorInfo>)> = BTreeMap::new();
        for t in &g.tensors {
            let (base, which) = if let Some(b) = t.name.strip_suffix(".lora_a") {
                (b, 0)
            } else if let Some(b) = t.name.strip_suffix(".lora_b") {
                (b, 1)
            } else {
                return Err(Error::gguf(format!("adapter tensor '{}' is neither a .lora_a nor a .lora_b", t.name)));
            };
            let e = halves.entry(base.to_string()).or_default();
            if which == 0 {
                e.0 = Some(t)
            } else {
                e.1 = Some(t)
            }
        }
        if halves.is_empty() {
            return Err(Error::gguf("the adapter holds no tensors"));
        }
        let mut pairs = BTreeMap::new();
        for (base, (a, b)) in halves {
            let (Some(a), Some(b)) = (a, b) else {
                return Err(Error::gguf(format!("adapter tensor '{base}' has only one of lora_a and lora_b")));
            };
            if a.dims.len() != 2 || b.dims.len() != 2 || a.dims[1] != b.dims[0] {
                return Err(Error::gguf(format!(
                    "adapter tensor '{base}': lora_a {:?} and lora_b {:?} are not [cols, r] and [r, rows]",
                    a.dims, b.dims
                )));
            }
            let rank = a.dims[1] as usize;
            pairs.insert(base, Pair { a: tensor_f32(src, a).await?, b: tensor_f32(src, b).await?, rank });
        }
        let name = g.get("general.name").and_then(Value::as_str).map(str::to_string);
        Ok(Adapter { architecture, name, alpha, pairs })
    }

    /// The number of adapted matrices.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The factor on `B·A`: alpha / rank (llama.cpp's rule; 1 without alpha).
    fn scale(&self, p: &Pair) -> f32 {
        self.alpha.map(|a| a / p.rank as f32).unwrap_or(1.0)
    }
}

async fn tensor_f32<S: ByteSource>(src: &mut S, t: &TensorInfo) -> Result<Vec<f32>> {
    let n = t.n_elements() as usize;
    let bytes = src.read_at(t.offset, t.n_bytes as usize).await?;
    let mut out = vec![0f32; n];
    quant::dequantize(t.ty, &bytes, &mut out)?;
    Ok(out)
}

/// The type adapted matrices are merged into for a backend: F32 for the f32 reference (so it
/// stays exact), Q8_0 for the quantized backends.
pub fn merged_type(b: crate::loader::Backend) -> GgmlType {
    match b {
        crate::loader::Backend::Reference => GgmlType::F32,
        _ => GgmlType::Q8_0,
    }
}

/// Loads `src` (its header already read as `g`) into `backend` as [`AnyEngine::load`] does, with
/// `adapter` merged in if given: the one place the CLI and the browser both load through.
pub async fn load<S: ByteSource>(
    backend: crate::loader::Backend,
    src: &mut S,
    g: &Gguf,
    adapter: Option<Adapter>,
    ctx: usize,
    progress: impl FnMut(u64, u64),
) -> Result<crate::loader::AnyEngine> {
    use crate::loader::AnyEngine;
    match adapter {
        None => AnyEngine::load(backend, src, ctx, progress).await,
        Some(a) => {
            let mut merged = Adapted::new(src, g, a, merged_type(backend))?;
            AnyEngine::load(backend, &mut merged, ctx, progress).await
        }
    }
}

/// Quantizes rows of f32 into `ty`'s blocks: Q8_0 as ggml does (one f16 scale, max |x| / 127, per
/// 32 values, rounded half away from zero), or F32 as it is.
pub fn quantize(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) -> Result<()> {
    match ty {
        GgmlType::F32 => out.extend(x.iter().flat_map(|v| v.to_le_bytes())),
        GgmlType::Q8_0 => {
            if x.len() % 32 != 0 {
                return Err(Error::model(format!("Q8_0 needs whole blocks of 32 values, not {}", x.len())));
            }
            for blk in x.chunks_exact(32) {
                let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16::from_f32(d).to_le_bytes());
                out.extend(blk.iter().map(|v| (v * id).round() as i8 as u8));
            }
        }
        t => return Err(Error::Unsupported(format!("merging a LoRA adapter into {t:?} weights"))),
    }
    Ok(())
}

/// What one stretch of the merged file is made of.
#[derive(Debug, Clone)]
enum Part {
    /// A base tensor's bytes as they are, from this offset of the base file.
    Copy(u64),
    /// A base matrix with an adapter's update, written as `ty`.
    Merged { base: TensorInfo, pair: String, ty: GgmlType },
}

/// A [`ByteSource`] serving the base model with an adapter merged in (see the module doc).
pub struct Adapted<S> {
    base: S,
    adapter: Adapter,
    header: Vec<u8>,
    /// (start, length, part) in the merged file, in order.
    parts: Vec<(u64, u64, Part)>,
    len: u64,
}

/// Rows of a merged matrix made per step of a read, so a large matrix's f32 rows never all sit in
/// memory at once (about 16 MB of f32).
const ROWS_F32: usize = 4 << 20;

impl<S: ByteSource> Adapted<S> {
    /// The base model `base` (its header already read as `g`) with `adapter` merged; adapted
    /// matrices become `ty` (Q8_0 for the quantized backends, F32 for the reference).
    pub fn new(base: S, g: &Gguf, adapter: Adapter, ty: GgmlType) -> Result<Adapted<S>> {
        let arch = g.architecture()?;
        if adapter.architecture != arch {
            return Err(Error::usage(format!(
                "the LoRA adapter is for {} models, the model is {arch}",
                adapter.architecture
            )));
        }
        for (name, p) in &adapter.pairs {
            let t = g.tensor(name).ok_or_else(|| {
                Error::usage(format!("the LoRA adapter changes '{name}', which the model does not have (an adapter for another model?)"))
            })?;
            let (rows, cols) = t.rows_cols();
            if t.dims.len() != 2 || p.a.len() != p.rank * cols as usize || p.b.len() != p.rank * rows as usize {
                return Err(Error::usage(format!(
                    "the LoRA adapter does not fit this model: '{name}' is {:?} but the adapter's factors are {}×{} and {}×{} (an adapter for another base model?)",
                    t.dims,
                    p.rank,
                    p.a.len() / p.rank.max(1),
                    p.b.len() / p.rank.max(1),
                    p.rank
                )));
            }
            if cols % 32 != 0 && ty == GgmlType::Q8_0 {
                return Err(Error::Unsupported(format!("'{name}': rows of {cols} values cannot be Q8_0 blocks")));
            }
        }
        // The merged file's metadata: the base's, with a 32-byte alignment and the adapter named.
        let mut meta: Vec<(String, Value)> =
            g.metadata.iter().filter(|(k, _)| k.as_str() != "general.alignment").map(|(k, v)| (k.clone(), v.clone())).collect();
        meta.push(("mem1.lora".to_string(), Value::Str(adapter.name.clone().unwrap_or_else(|| "unnamed".into()))));
        let meta_ref: Vec<(&str, Value)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mut table = Vec::new();
        let mut kinds = Vec::new();
        for t in &g.tensors {
            if adapter.pairs.contains_key(&t.name) {
                let (rows, cols) = t.rows_cols();
                table.push((t.name.as_str(), t.dims.as_slice(), ty, rows * ty.row_bytes(cols as usize) as u64));
                kinds.push(Part::Merged { base: t.clone(), pair: t.name.clone(), ty });
            } else {
                table.push((t.name.as_str(), t.dims.as_slice(), t.ty, t.n_bytes));
                kinds.push(Part::Copy(t.offset));
            }
        }
        let (header, offsets) = gguf::write::header(&meta_ref, &table);
        let data = header.len() as u64;
        let parts: Vec<(u64, u64, Part)> = offsets.iter().zip(&table).zip(kinds).map(|((o, t), k)| (data + o, t.3, k)).collect();
        let len = parts.last().map(|(s, n, _)| s + n).unwrap_or(data);
        Ok(Adapted { base, adapter, header, parts, len })
    }

    /// Rows `r0..r1` of a merged matrix as `ty` bytes.
    async fn merged_rows(&mut self, base: &TensorInfo, pair: &str, ty: GgmlType, r0: usize, r1: usize) -> Result<Vec<u8>> {
        let (_, cols) = base.rows_cols();
        let cols = cols as usize;
        let file_row = base.ty.row_bytes(cols);
        let p = &self.adapter.pairs[pair];
        let scale = self.adapter.scale(p);
        let step = (ROWS_F32 / cols).max(1);
        let mut out = Vec::with_capacity((r1 - r0) * ty.row_bytes(cols));
        let mut r = r0;
        while r < r1 {
            let n = step.min(r1 - r);
            let bytes = self.base.read_at(base.offset + (r * file_row) as u64, n * file_row).await?;
            let mut w = vec![0f32; n * cols];
            quant::dequantize(base.ty, &bytes, &mut w)?;
            for (i, row) in w.chunks_exact_mut(cols).enumerate() {
                let b = &p.b[(r + i) * p.rank..(r + i + 1) * p.rank];
                for (k, &bk) in b.iter().enumerate() {
                    let c = scale * bk;
                    if c != 0.0 {
                        for (x, &a) in row.iter_mut().zip(&p.a[k * cols..(k + 1) * cols]) {
                            *x += c * a;
                        }
                    }
                }
            }
            quantize(ty, &w, &mut out)?;
            r += n;
        }
        Ok(out)
    }
}

impl<S: ByteSource> ByteSource for Adapted<S> {
    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| Error::gguf(format!("read of {len} bytes at {offset} past the end of the merged model ({} bytes)", self.len)))?;
        let mut out = vec![0u8; len];
        if offset < self.header.len() as u64 {
            let h = &self.header[offset as usize..(end as usize).min(self.header.len())];
            out[..h.len()].copy_from_slice(h);
        }
        // Tensors overlapping [offset, end); the gaps between them are zero padding.
        let first = self.parts.partition_point(|(s, n, _)| s + n <= offset);
        for i in first..self.parts.len() {
            let (start, n, part) = self.parts[i].clone();
            if start >= end {
                break;
            }
            let (lo, hi) = (offset.max(start), end.min(start + n));
            if lo >= hi {
                continue;
            }
            let dst = &mut out[(lo - offset) as usize..(hi - offset) as usize];
            match part {
                Part::Copy(from) => dst.copy_from_slice(&self.base.read_at(from + (lo - start), (hi - lo) as usize).await?),
                Part::Merged { base, pair, ty } => {
                    let row = ty.row_bytes(base.rows_cols().1 as usize) as u64;
                    let (r0, r1) = ((lo - start) / row, (hi - start).div_ceil(row));
                    let rows = self.merged_rows(&base, &pair, ty, r0 as usize, r1 as usize).await?;
                    let skip = (lo - start - r0 * row) as usize;
                    dst.copy_from_slice(&rows[skip..skip + (hi - lo) as usize]);
                }
            }
        }
        Ok(out)
    }
}
