// The shipped policy and how a page opens the model it is told to run. The bundled files sit in
// models/ beside the page (the demo's folder, the extension's package), described by
// models/policy.json (files, sizes, sha256; written by the build, scripts/policy-manifest.mjs).
import * as store from './models.js';
import { mib, shortSha } from './format.js';

/** KV-cache size in tokens, for every page: a MEM1 turn (task, state, a page within the live
 * budget, the output) takes 0.4–1.9 k; a full-history episode grows past that, up to this. */
export const KV_TOKENS = 4096;

/**
 * What to run: the shipped policy (`bundled`: the base model with the trained LoRA adapter), the
 * same base zero-shot (`bundled-base`), a model in the store (`cache`, by key), or a model served by
 * an OpenAI-compatible server (`remote`: its base URL, the model's name, an API key, the kind of
 * server; crate/src/agent/remote).
 * @typedef {{ source: 'bundled' | 'bundled-base' } | { source: 'cache', key: string, name?: string }
 *   | { source: 'remote', url: string, model?: string, key?: string, kind?: string }} ModelSpec
 * @typedef {{ file: string, size: number, sha256: string }} BundledFile
 * @typedef {{ model: BundledFile, adapter: BundledFile }} Manifest
 */

/** @type {Record<string, string>} */
export const BUNDLED_LABELS = {
  bundled: 'MEM1 policy: SmolLM2-135M + the trained LoRA adapter (bundled)',
  'bundled-base': 'SmolLM2-135M-Instruct zero-shot (bundled, no adapter)',
};

/** @param {string} base the folder holding models/ (a URL ending in /) @returns {Promise<Manifest>} */
export async function manifest(base) {
  const url = new URL('models/policy.json', base).href;
  const r = await fetch(url);
  if (!r.ok) throw new Error(`the bundled policy's description ${url} is missing (HTTP ${r.status}): rebuild the page`);
  return r.json();
}

/** A one-line name for a spec, before it is loaded (never its key). @param {ModelSpec} spec */
export function specName(spec) {
  if (spec.source === 'cache') return spec.name || spec.key;
  if (spec.source === 'remote') return `${spec.model || 'the model'} served at ${spec.url}`;
  return BUNDLED_LABELS[spec.source] || spec.source;
}

/**
 * The model (and adapter) a spec names, as Blobs for `loadModelBlob`, with a line saying what
 * they are. `base`: where models/ is. `keep`: keep the bundled base model in the store (the demo
 * downloads it; the extension has it in its package and reads it there). `progress(done, total,
 * what)` reports the download.
 * @param {ModelSpec} spec
 * @param {{ base: string, keep: boolean, progress?: (done: number, total: number | null, what: string) => void, signal?: AbortSignal }} o
 * @returns {Promise<{ blob: Blob, adapter: Blob | undefined, label: string }>}
 */
export async function openModel(spec, { base, keep, progress = () => {}, signal }) {
  if (spec.source === 'cache') {
    const got = await store.open(spec.key);
    if (!got) throw new Error(`the chosen model (${spec.name || spec.key}) is not complete in this browser's store: download it again in the model settings`);
    return { blob: got.blob, adapter: undefined, label: `${got.meta.name} (${mib(got.meta.size)}, sha256 ${shortSha(got.meta.sha256)})` };
  }
  if (spec.source !== 'bundled' && spec.source !== 'bundled-base') throw new Error(`unknown model source ${JSON.stringify(/** @type {any} */ (spec).source)}`);
  const m = await manifest(base);
  const url = new URL(m.model.file, base).href;
  const name = m.model.file.split('/').pop() || m.model.file;
  const opts = { sha256: m.model.sha256, size: m.model.size, name, signal, progress: (/** @type {number} */ d, /** @type {number | null} */ t) => progress(d, t, name) };
  let blob;
  if (!keep) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`the bundled ${m.model.file} is missing (HTTP ${r.status})`);
    blob = await r.blob();
  } else {
    blob = ((await store.available()) ? await store.download(url, opts) : await store.fetchWhole(url, opts)).blob;
  }
  if (spec.source === 'bundled-base') return { blob, adapter: undefined, label: `${name}, zero-shot (no adapter)` };
  // The adapter is small and changes when the policy is retrained: read each time, and checked.
  const r = await fetch(new URL(m.adapter.file, base).href);
  if (!r.ok) throw new Error(`the bundled ${m.adapter.file} is missing (HTTP ${r.status})`);
  const adapter = await r.blob();
  const sha = await store.sha256Of(adapter);
  if (sha !== m.adapter.sha256) throw new Error(`the bundled ${m.adapter.file} has sha256 ${sha}, expected ${m.adapter.sha256}`);
  return { blob, adapter, label: `${name} + LoRA ${m.adapter.file.split('/').pop()} (sha256 ${shortSha(sha)})` };
}

/**
 * Readies `agent` (the wasm `Demo`) to run `spec` on `backend`: a model loaded into the engine
 * (`openModel`, then `loadModelBlob` with a KV cache of KV_TOKENS), or a served policy
 * (`useRemote`: the server is asked for its models first; the bundled model lends its tokenizer,
 * from `tokenizer`, a Blob or a URL read with Range requests). `progress(frac, text)` tells how
 * far it got. Resolves to the engine's info and a line naming what runs.
 * @param {any} agent
 * @param {ModelSpec} spec
 * @param {{ base: string, keep: boolean, backend: string, tokenizer: () => Promise<Blob | string>,
 *   progress: (frac: number, text: string) => void }} o
 */
export async function useModel(agent, spec, { base, keep, backend, tokenizer, progress }) {
  if (spec.source === 'remote') {
    progress(0, `asking the server at ${spec.url} for its models…`);
    const info = await agent.useRemote({ url: spec.url, model: spec.model || null, key: spec.key || null, kind: spec.kind || null }, await tokenizer());
    return { info, label: info.backend };
  }
  const m = await openModel(spec, {
    base,
    keep,
    progress: (done, total, what) => progress(total ? done / total : 0, `downloading ${what} into this browser's model store: ${mib(done)}${total ? ' of ' + mib(total) : ''}`),
  });
  const where = backend === 'auto' ? 'automatic backend' : backend === 'cpu' ? 'CPU backend' : 'WebGPU';
  const info = await agent.loadModelBlob(m.blob, backend, KV_TOKENS,
    (/** @type {number} */ done, /** @type {number} */ total) => progress(total ? done / total : 0, `loading ${m.label} (${where}): ${Math.round((100 * done) / (total || 1))}%`),
    m.adapter);
  return { info, label: m.label };
}
