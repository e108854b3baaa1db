// Models on disk (the origin-private file system): downloaded from a URL or copied from a local
// file, kept as numbered chunk files under models/<key>/ beside a meta.json that is written only
// once every byte is there and checked (size, and sha256 when known). A model without that meta,
// or whose chunks disagree with it, is never used: a half-written download is only ever resumed.
//
// Chunks make resuming cheap (an OPFS writable cannot append without copying the whole file) and
// the model is read back as one Blob of the chunk files, streamed by the engine.
import init, { Sha256 } from './pkg/mem1.js';

export const CHUNK = 16 * 1024 * 1024;
let wasm = null;
const hasher = async () => {
  wasm ??= init();
  await wasm;
  return new Sha256();
};

async function root() {
  const r = await navigator.storage.getDirectory();
  return r.getDirectoryHandle('models', { create: true });
}

/// A file-name-safe key for a source (URL, or a local file's name+size+date).
export function keyOf(source) {
  let h = 0x811c9dc5;
  for (const c of source) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const base = (source.split(/[?#]/)[0].split('/').pop() || 'model').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return `${base}-${h.toString(16).padStart(8, '0')}`;
}

const chunkName = (i) => String(i).padStart(6, '0');

async function readJson(dir, name) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
  } catch {
    return null;
  }
}

async function writeFile(dir, name, data) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

/// The chunk files present, in order, keeping only a prefix of whole chunks (a chunk is whole
/// when it is CHUNK bytes, or when it is the last one of a known total).
async function chunks(dir, total) {
  const files = [];
  for (let i = 0; ; i++) {
    let f;
    try {
      f = await (await dir.getFileHandle(chunkName(i))).getFile();
    } catch {
      break;
    }
    const last = total != null && i * CHUNK + f.size === total;
    if (f.size !== CHUNK && !last) break;
    files.push(f);
    if (last) break;
  }
  return files;
}

/// A cached, complete model as a Blob, or null.
export async function open(key) {
  const dir = await (await root()).getDirectoryHandle(key).catch(() => null);
  if (!dir) return null;
  const meta = await readJson(dir, 'meta.json');
  if (!meta?.complete) return null;
  const files = await chunks(dir, meta.size);
  const size = files.reduce((n, f) => n + f.size, 0);
  if (size !== meta.size) return null;
  return { key, blob: new Blob(files), meta };
}

/// Every cached model: [{key, name, source, size, complete, have}].
export async function list() {
  const out = [];
  for await (const [key, h] of (await root()).entries()) {
    if (h.kind !== 'directory') continue;
    const meta = (await readJson(h, 'meta.json')) || (await readJson(h, 'source.json')) || {};
    const have = (await chunks(h, meta.size ?? null)).reduce((n, f) => n + f.size, 0);
    out.push({ key, name: meta.name || key, source: meta.source || '', size: meta.size ?? null, complete: !!meta.complete, have });
  }
  return out;
}

export async function remove(key) {
  await (await root()).removeEntry(key, { recursive: true });
}

/// Downloads `url` into the cache (resuming what an earlier try left), reporting
/// progress(done, total); checks the size (`size` when given, else the server's) and `sha256`
/// when given. Resolves to {blob, meta}; a failed check deletes the download and throws.
export async function download(url, { sha256 = '', size = null, name = '', progress = () => {}, signal } = {}) {
  const key = keyOf(url);
  const done = await open(key);
  if (done) return done;
  const dir = await (await root()).getDirectoryHandle(key, { create: true });
  await writeFile(dir, 'source.json', JSON.stringify({ source: url, name: name || url.split('/').pop(), size }));
  let have = await chunks(dir, size);
  // Resume at a chunk boundary (a short last chunk is fetched again).
  if (have.length && have[have.length - 1].size !== CHUNK) have = have.slice(0, -1);
  let offset = have.length * CHUNK;
  const headers = offset ? { Range: `bytes=${offset}-` } : {};
  const res = await fetch(url, { headers, signal }).catch((e) => {
    throw new Error(`download of ${url} failed: ${e.message}`);
  });
  if (!res.ok) throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
  let total;
  if (res.status === 206) {
    const m = /\/(\d+)$/.exec(res.headers.get('content-range') || '');
    total = m ? Number(m[1]) : null;
  } else {
    // The server sent the whole file: start over.
    have = [];
    offset = 0;
    total = Number(res.headers.get('content-length')) || null;
  }
  if (size != null && total != null && total !== size) throw new Error(`${url} is ${total} bytes, expected ${size}`);
  total ??= size;
  const h = await hasher();
  for (const f of have) h.update(new Uint8Array(await f.arrayBuffer()));
  let index = have.length;
  let buf = new Uint8Array(CHUNK);
  let fill = 0;
  progress(offset, total);
  const reader = res.body.getReader();
  const flush = async () => {
    const data = buf.subarray(0, fill);
    h.update(data);
    await writeFile(dir, chunkName(index++), data);
    offset += fill;
    fill = 0;
    progress(offset, total);
  };
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    for (let p = 0; p < value.length; ) {
      const n = Math.min(value.length - p, CHUNK - fill);
      buf.set(value.subarray(p, p + n), fill);
      fill += n;
      p += n;
      if (fill === CHUNK) await flush();
    }
  }
  if (fill) await flush();
  return finish(dir, key, { source: url, name: name || url.split('/').pop(), size: size ?? total, sha256 }, offset, h);
}

/// Copies a local file (a File from a picker) into the cache, checked like a download.
export async function importFile(file, { sha256 = '', progress = () => {} } = {}) {
  const key = keyOf(`file:${file.name}:${file.size}:${file.lastModified}`);
  const done = await open(key);
  if (done) return done;
  const dir = await (await root()).getDirectoryHandle(key, { create: true });
  await writeFile(dir, 'source.json', JSON.stringify({ source: `file:${file.name}`, name: file.name, size: file.size }));
  const h = await hasher();
  let offset = 0;
  for (let i = 0; offset < file.size; i++) {
    const data = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
    h.update(data);
    await writeFile(dir, chunkName(i), data);
    offset += data.length;
    progress(offset, file.size);
  }
  return finish(dir, key, { source: `file:${file.name}`, name: file.name, size: file.size, sha256 }, offset, h);
}

async function finish(dir, key, want, got, h) {
  const digest = h.hex();
  h.free();
  const bad = (why) => {
    throw Object.assign(new Error(why), { key });
  };
  if (want.size != null && got !== want.size) {
    await remove(key);
    bad(`${want.name}: got ${got} bytes, expected ${want.size}`);
  }
  if (want.sha256 && digest !== want.sha256.toLowerCase()) {
    await remove(key);
    bad(`${want.name}: sha256 is ${digest}, expected ${want.sha256}: the download was discarded`);
  }
  await writeFile(dir, 'meta.json', JSON.stringify({ ...want, size: got, sha256: digest, complete: true, saved: new Date().toISOString() }));
  const r = await open(key);
  if (!r) bad(`${want.name}: the cached copy does not read back`);
  return r;
}
