//! GGUF v2/v3 reader: header, metadata, tensor table, alignment.
//!
//! Parsing works on a prefix of the file: [`parse`] either succeeds or says how many bytes it needs,
//! so the same code serves a local file and a browser `fetch` of byte ranges, and the tensor data
//! itself is never read here (the loaders stream it tensor by tensor from a [`ByteSource`]).
//! Every length read from the file is checked against the file's size before anything is allocated.
use crate::quant::GgmlType;
use crate::{Error, Result};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            Value::Bool(b) => Some(b as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: `dims[0]` is the contiguous (row) length.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute offset of the tensor's bytes in the file.
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// (rows, row length) viewing the tensor as a matrix of `dims[0]`-long rows.
    pub fn rows_cols(&self) -> (u64, u64) {
        let cols = self.dims.first().copied().unwrap_or(1);
        (self.n_elements() / cols.max(1), cols)
    }
}

#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset where the tensor data section begins.
    pub data_offset: u64,
    pub file_len: u64,
}

/// Outcome of parsing a prefix of the file.
pub enum Parse {
    Done(Gguf),
    /// The header continues past the prefix: read at least this many bytes from the start.
    NeedBytes(u64),
}

impl Gguf {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
    pub fn architecture(&self) -> Result<&str> {
        self.get("general.architecture")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::gguf("missing general.architecture"))
    }
}

/// Reads the header from a growing prefix of `source`, then returns the parsed file.
pub async fn read_header<S: ByteSource>(source: &mut S) -> Result<Gguf> {
    let file_len = source.len();
    let mut want = (1u64 << 20).min(file_len);
    loop {
        let prefix = source.read_at(0, want as usize).await?;
        match parse(&prefix, file_len)? {
            Parse::Done(g) => return Ok(g),
            Parse::NeedBytes(n) => {
                // Grow geometrically so a header of size H costs O(H) reads in total.
                let next = n.max(want * 2).min(file_len);
                if next <= want {
                    return Err(Error::gguf(format!("truncated header: file is only {file_len} bytes")));
                }
                want = next;
            }
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    file_len: u64,
}

/// Internal: a read past the prefix (but within the file) asks for more bytes.
enum Short {
    More(u64),
    Bad(Error),
}

impl From<Error> for Short {
    fn from(e: Error) -> Self {
        Short::Bad(e)
    }
}

type R<T> = std::result::Result<T, Short>;

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> R<&'a [u8]> {
        let end = (self.pos as u64).saturating_add(n);
        if end > self.file_len {
            return Err(Short::Bad(Error::gguf(format!(
                "truncated file: need byte {end} but the file has {} bytes",
                self.file_len
            ))));
        }
        if end > self.buf.len() as u64 {
            return Err(Short::More(end));
        }
        let s = &self.buf[self.pos..end as usize];
        self.pos = end as usize;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self) -> R<String> {
        let n = self.u64()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Short::Bad(Error::gguf("string is not valid UTF-8")))
    }
    fn value(&mut self, ty: u32, depth: u32) -> R<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8()?),
            1 => Value::I8(self.u8()? as i8),
            2 => Value::U16(self.u16()?),
            3 => Value::I16(self.u16()? as i16),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(self.u32()? as i32),
            6 => Value::F32(f32::from_bits(self.u32()?)),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err(Short::Bad(Error::gguf("metadata arrays nested too deeply")));
                }
                let ety = self.u32()?;
                let n = self.u64()?;
                // Each element takes at least one byte: a count larger than the rest of the file is a lie.
                let left = self.file_len.saturating_sub(self.pos as u64);
                if n > left {
                    return Err(Short::Bad(Error::gguf(format!("array of {n} elements cannot fit in the {left} bytes left"))));
                }
                let mut v = Vec::with_capacity((n as usize).min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(ety, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            t => return Err(Short::Bad(Error::gguf(format!("unknown metadata value type {t}")))),
        })
    }
}

/// Parses the header from `prefix` (the first bytes of a file of `file_len` bytes).
pub fn parse(prefix: &[u8], file_len: u64) -> Result<Parse> {
    let mut c = Cursor { buf: prefix, pos: 0, file_len };
    match parse_inner(&mut c) {
        Ok(g) => Ok(Parse::Done(g)),
        Err(Short::More(n)) => Ok(Parse::NeedBytes(n)),
        Err(Short::Bad(e)) => Err(e),
    }
}

fn parse_inner(c: &mut Cursor) -> R<Gguf> {
    let magic = c.take(4)?;
    if magic != MAGIC {
        return Err(Short::Bad(Error::gguf(format!("wrong magic {:02x?}: not a GGUF file", magic))));
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(Short::Bad(Error::gguf(format!("unsupported GGUF version {version} (2 and 3 are supported)"))));
    }
    let n_tensors = c.u64()?;
    let n_kv = c.u64()?;
    if n_tensors > c.file_len / 24 || n_kv > c.file_len / 12 {
        return Err(Short::Bad(Error::gguf(format!(
            "implausible counts for a {}-byte file: {n_tensors} tensors, {n_kv} metadata keys (truncated or corrupt)",
            c.file_len
        ))));
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = c.string()?;
        let ty = c.u32()?;
        let v = c.value(ty, 0)?;
        metadata.insert(key, v);
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 16 => a,
            _ => return Err(Short::Bad(Error::gguf(format!("bad general.alignment {v:?}")))),
        },
    };
    let mut raw = Vec::with_capacity(n_tensors as usize);
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..n_tensors {
        let name = c.string()?;
        // Two tensors of one name: which one a reader takes would decide the shapes it trusts.
        if !names.insert(name.clone()) {
            return Err(Short::Bad(Error::gguf(format!("tensor '{name}' appears twice"))));
        }
        let n_dims = c.u32()?;
        if n_dims == 0 || n_dims > 4 {
            return Err(Short::Bad(Error::gguf(format!("tensor '{name}': {n_dims} dimensions (1 to 4 supported)"))));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(c.u64()?);
        }
        let ty_id = c.u32()?;
        let offset = c.u64()?;
        raw.push((name, dims, ty_id, offset));
    }
    let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
    let mut tensors = Vec::with_capacity(raw.len());
    for (name, dims, ty_id, offset) in raw {
        let ty = GgmlType::from_id(ty_id)
            .ok_or_else(|| Error::Unsupported(format!("tensor '{name}' has unknown quantization type id {ty_id}")))?;
        let n = dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::gguf(format!("tensor '{name}': bad dimensions {dims:?}")))?;
        let (be, bb) = ty.block();
        if dims[0] % be as u64 != 0 {
            return Err(Short::Bad(Error::gguf(format!(
                "tensor '{name}': row length {} is not a multiple of the {ty:?} block size {be}",
                dims[0]
            ))));
        }
        // Checked: a tensor of 2^63 f32 elements would wrap to a few bytes and pass the size check.
        let n_bytes = (n / be as u64)
            .checked_mul(bb as u64)
            .ok_or_else(|| Error::gguf(format!("tensor '{name}' ({ty:?} {dims:?}) is larger than any file")))?;
        if offset % alignment != 0 {
            return Err(Short::Bad(Error::gguf(format!("tensor '{name}': offset {offset} is not {alignment}-aligned"))));
        }
        let abs = data_offset
            .checked_add(offset)
            .filter(|a| a.checked_add(n_bytes).is_some_and(|end| end <= c.file_len))
            .ok_or_else(|| {
                Error::gguf(format!(
                    "tensor '{name}' ({ty:?} {dims:?}, {n_bytes} bytes at data offset {offset}) extends past the end of the file ({} bytes): truncated file?",
                    c.file_len
                ))
            })?;
        tensors.push(TensorInfo { name, dims, ty, offset: abs, n_bytes });
    }
    Ok(Gguf { version, metadata, tensors, alignment, data_offset, file_len: c.file_len })
}

/// Where model bytes come from: a file natively, HTTP ranges or a `Blob` in the browser.
#[allow(async_fn_in_trait)]
pub trait ByteSource {
    fn len(&self) -> u64;
    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

/// A source borrowed (a loader wrapped around a source its caller keeps).
impl<S: ByteSource> ByteSource for &mut S {
    fn len(&self) -> u64 {
        (**self).len()
    }
    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        (**self).read_at(offset, len).await
    }
}

/// A whole file in memory (tests, small models).
impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset as usize + len;
        self.get(offset as usize..end)
            .map(|s| s.to_vec())
            .ok_or_else(|| Error::gguf(format!("read past end: {end} > {}", self.as_slice().len())))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::usage(format!("cannot open model '{}': {e}", path.display())))?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        if offset + len as u64 > self.len {
            return Err(Error::gguf(format!("read of {len} bytes at {offset} past the end of the file ({} bytes)", self.len)));
        }
        let mut buf = vec![0u8; len];
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }
}

/// Builds a GGUF file in memory (tests, synthetic models, fuzz seeds).
pub mod write {
    use super::Value;
    use crate::quant::GgmlType;

    pub struct Tensor {
        pub name: String,
        pub dims: Vec<u64>,
        pub ty: GgmlType,
        pub data: Vec<u8>,
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    fn put_value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::U8(x) => out.push(*x),
            Value::I8(x) => out.push(*x as u8),
            Value::U16(x) => out.extend(x.to_le_bytes()),
            Value::I16(x) => out.extend(x.to_le_bytes()),
            Value::U32(x) => out.extend(x.to_le_bytes()),
            Value::I32(x) => out.extend(x.to_le_bytes()),
            Value::F32(x) => out.extend(x.to_le_bytes()),
            Value::Bool(x) => out.push(*x as u8),
            Value::Str(s) => put_str(out, s),
            Value::Array(a) => {
                let ety = a.first().map(type_id).unwrap_or(4);
                out.extend(ety.to_le_bytes());
                out.extend((a.len() as u64).to_le_bytes());
                for x in a {
                    put_value(out, x);
                }
            }
            Value::U64(x) => out.extend(x.to_le_bytes()),
            Value::I64(x) => out.extend(x.to_le_bytes()),
            Value::F64(x) => out.extend(x.to_le_bytes()),
        }
    }

    fn type_id(v: &Value) -> u32 {
        match v {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// A GGUF v3 header with 32-byte alignment for tensors of the given names, dims, types and byte
    /// sizes, padded to where the data begins; and each tensor's offset in the data section.
    pub fn header(metadata: &[(&str, Value)], tensors: &[(&str, &[u64], GgmlType, u64)]) -> (Vec<u8>, Vec<u64>) {
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((metadata.len() as u64).to_le_bytes());
        for (k, v) in metadata {
            put_str(&mut out, k);
            out.extend(type_id(v).to_le_bytes());
            put_value(&mut out, v);
        }
        let mut off = 0u64;
        let mut offsets = Vec::new();
        for (name, dims, ty, n_bytes) in tensors {
            put_str(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims.iter() {
                out.extend(d.to_le_bytes());
            }
            out.extend((*ty as u32).to_le_bytes());
            out.extend(off.to_le_bytes());
            offsets.push(off);
            off = (off + n_bytes).div_ceil(32) * 32;
        }
        while out.len() % 32 != 0 {
            out.push(0);
        }
        (out, offsets)
    }

    /// Serializes a GGUF v3 file with 32-byte alignment.
    pub fn gguf(metadata: &[(&str, Value)], tensors: &[Tensor]) -> Vec<u8> {
        let table: Vec<(&str, &[u64], GgmlType, u64)> =
            tensors.iter().map(|t| (t.name.as_str(), t.dims.as_slice(), t.ty, t.data.len() as u64)).collect();
        let (mut out, offsets) = header(metadata, &table);
        let base = out.len();
        for (t, o) in tensors.iter().zip(offsets) {
            out.resize(base + o as usize, 0);
            out.extend(&t.data);
        }
        while out.len() % 32 != 0 {
            out.push(0);
        }
        out
    }
}
