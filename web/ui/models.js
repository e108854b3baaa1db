// The model store shared by the demo and the extension: models on disk (the origin-private file
// system), downloaded from a URL or copied from a local file, kept as numbered chunk files under
// models/<key>/ beside a meta.json that is written only once every byte is there and checked
// (size, and sha256 when known). A model without that meta, or whose chunks disagree with it, is
// never used: a half-written download is only ever resumed.
//
// Chunks make resuming cheap (an OPFS writable cannot append without copying the whole file) and
// the model is read back as one Blob of the chunk files, streamed by the engine.
//
// Where the browser has no OPFS (or no writable files in it), `fetchWhole` downloads into memory
// for this page only, with the same size and sha256 checks.

export const CHUNK = 16 * 1024 * 1024;

/** @typedef {{ update(chunk: Uint8Array): void, hex(): string, free(): void }} Hasher */
/** @typedef {{ source: string, name: string, size: number, sha256: string, complete: boolean, saved?: string }} Meta */
/** @typedef {{ key: string, blob: Blob, meta: Meta }} Stored */

/** @type {() => Promise<Hasher>} */
let hasher = async () => {
  // The one-thread wasm build beside this folder; a page that has the engine loaded already
  // hands its Sha256 over with `useHasher` instead of loading a second copy.
  const w = await import('../pkg/mem1.js');
  await w.default();
  return new w.Sha256();
};

/** Hash with the engine a page has loaded: `useHasher(() => new pkg.Sha256())`. @param {() => Hasher} make */
export function useHasher(make) {
  hasher = async () => make();
}

/** A Blob's sha256 as lowercase hex, read a chunk at a time. @param {Blob} blob */
export async function sha256Of(blob) {
  const h = await hasher();
  for (let o = 0; o < blob.size; o += CHUNK) h.update(new Uint8Array(await blob.slice(o, o + CHUNK).arrayBuffer()));
  const hex = h.hex();
  h.free();
  return hex;
}

/** Whether models can be kept on disk here (OPFS with writable files). */
export async function available() {
  try {
    await navigator.storage.getDirectory();
    return typeof FileSystemFileHandle !== 'undefined' && 'createWritable' in FileSystemFileHandle.prototype;
  } catch {
    return false;
  }
}

async function root() {
  const r = await navigator.storage.getDirectory();
  return r.getDirectoryHandle('models', { create: true });
}

/** A file-name-safe key for a source (URL, or a local file's name+size+date). @param {string} source */
export function keyOf(source) {
  let h = 0x811c9dc5;
  for (const c of source) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const base = (source.split(/[?#]/)[0].split('/').pop() || 'model').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return `${base}-${h.toString(16).padStart(8, '0')}`;
}

/** @param {number} i */
const chunkName = (i) => String(i).padStart(6, '0');

/** @param {FileSystemDirectoryHandle} dir @param {string} name */
async function readJson(dir, name) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
  } catch {
    return null;
  }
}

/** @param {FileSystemDirectoryHandle} dir @param {string} name @param {BufferSource | string} data */
async function writeFile(dir, name, data) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

/**
 * The chunk files present, in order, keeping only a prefix of whole chunks (a chunk is whole
 * when it is CHUNK bytes, or when it is the last one of a known total).
 * @param {FileSystemDirectoryHandle} dir
 * @param {number | null} total
 */
async function chunks(dir, total) {
  /** @type {File[]} */
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

/** A cached, complete model, or null. @param {string} key @returns {Promise<Stored | null>} */
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

/**
 * Every cached model, complete or not.
 * @returns {Promise<{ key: string, name: string, source: string, size: number | null, complete: boolean, have: number }[]>}
 */
export async function list() {
  const out = [];
  for await (const [key, h] of /** @type {any} */ (await root()).entries()) {
    if (h.kind !== 'directory') continue;
    const meta = (await readJson(h, 'meta.json')) || (await readJson(h, 'source.json')) || {};
    const have = (await chunks(h, meta.size ?? null)).reduce((n, f) => n + f.size, 0);
    out.push({ key, name: meta.name || key, source: meta.source || '', size: meta.size ?? null, complete: !!meta.complete, have });
  }
  return out;
}

/** @param {string} key */
export async function remove(key) {
  await (await root()).removeEntry(key, { recursive: true });
}

/**
 * @typedef {{ sha256?: string, size?: number | null, name?: string,
 *   progress?: (done: number, total: number | null) => void, signal?: AbortSignal }} FetchOptions
 */

/**
 * Downloads `url` into the store (resuming what an earlier try left), reporting
 * progress(done, total); checks the size (`size` when given, else the server's) and `sha256`
 * when given. A complete copy whose sha256 is not the one asked for is downloaded again. Resolves
 * to {key, blob, meta}; a failed check deletes the download and throws.
 * @param {string} url
 * @param {FetchOptions} [opts]
 * @returns {Promise<Stored>}
 */
export async function download(url, { sha256 = '', size = null, name = '', progress = () => {}, signal } = {}) {
  const key = keyOf(url);
  const done = await open(key);
  if (done && (!sha256 || done.meta.sha256 === sha256.toLowerCase())) return done;
  if (done) await remove(key);
  const dir = await (await root()).getDirectoryHandle(key, { create: true });
  const label = name || url.split(/[?#]/)[0].split('/').pop() || url;
  await writeFile(dir, 'source.json', JSON.stringify({ source: url, name: label, size }));
  let have = await chunks(dir, size);
  // Resume at a chunk boundary (a short last chunk is fetched again).
  if (have.length && have[have.length - 1].size !== CHUNK) have = have.slice(0, -1);
  let offset = have.length * CHUNK;
  /** @type {Record<string, string>} */
  const headers = offset ? { Range: `bytes=${offset}-` } : {};
  const res = await fetch(url, { headers, signal }).catch((e) => {
    if (e?.name === 'AbortError') throw e;
    throw new Error(`download of ${url} failed: ${e.message} (offline, wrong URL, or the server does not allow CORS?)`);
  });
  if (!res.ok) throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
  /** @type {number | null} */
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
  const buf = new Uint8Array(CHUNK);
  let fill = 0;
  progress(offset, total);
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
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
  return finish(dir, key, { source: url, name: label, size: size ?? total, sha256 }, offset, h);
}

/**
 * Copies a local file (a File from a picker) into the store, checked like a download.
 * @param {File} file
 * @param {FetchOptions} [opts]
 * @returns {Promise<Stored>}
 */
export async function importFile(file, { sha256 = '', progress = () => {} } = {}) {
  const key = keyOf(`file:${file.name}:${file.size}:${file.lastModified}`);
  const done = await open(key);
  if (done && (!sha256 || done.meta.sha256 === sha256.toLowerCase())) return done;
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

/**
 * Where there is no store: `url` downloaded into memory for this page, checked the same way.
 * @param {string} url
 * @param {FetchOptions} [opts]
 * @returns {Promise<Stored>}
 */
export async function fetchWhole(url, { sha256 = '', size = null, name = '', progress = () => {}, signal } = {}) {
  const res = await fetch(url, { signal }).catch((e) => {
    if (e?.name === 'AbortError') throw e;
    throw new Error(`download of ${url} failed: ${e.message} (offline, wrong URL, or the server does not allow CORS?)`);
  });
  if (!res.ok) throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || size;
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  const h = await hasher();
  /** @type {BlobPart[]} */
  const parts = [];
  let got = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    h.update(value);
    parts.push(/** @type {Uint8Array<ArrayBuffer>} */ (value)); // a fetch body chunk, never shared memory
    got += value.length;
    progress(got, total);
  }
  const label = name || url.split(/[?#]/)[0].split('/').pop() || url;
  const digest = h.hex();
  h.free();
  if (size != null && got !== size) throw new Error(`${label}: got ${got} bytes, expected ${size}`);
  if (sha256 && digest !== sha256.toLowerCase()) throw new Error(`${label}: sha256 is ${digest}, expected ${sha256}`);
  return { key: keyOf(url), blob: new Blob(parts), meta: { source: url, name: label, size: got, sha256: digest, complete: true } };
}

/**
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} key
 * @param {{ source: string, name: string, size: number | null, sha256: string }} want
 * @param {number} got
 * @param {Hasher} h
 * @returns {Promise<Stored>}
 */
async function finish(dir, key, want, got, h) {
  const digest = h.hex();
  h.free();
  /** @param {string} why @returns {never} */
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
  if (!r) return bad(`${want.name}: the stored copy does not read back`);
  return r;
}
