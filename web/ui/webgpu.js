// What WebGPU this browser offers, and what that means for the agent: the engine's "auto" backend
// (crate/src/loader.rs) runs on a hardware adapter that can hold the model, and on the CPU backend
// (WebAssembly SIMD) without one or on a CPU emulation (SwiftShader, lavapipe).
import { mib } from './format.js';

/**
 * @typedef {{ ok: false, why: string } | { ok: true, fallback: boolean, name: string,
 *   maxBuffer: number, maxBinding: number }} Probe
 */

/** @returns {Promise<Probe>} */
export async function probeWebGPU() {
  const gpu = /** @type {any} */ (navigator).gpu;
  if (!gpu) return { ok: false, why: 'this browser has no navigator.gpu' };
  try {
    const a = await gpu.requestAdapter();
    if (!a) return { ok: false, why: 'the browser offers WebGPU but found no adapter (GPU blocklisted or disabled)' };
    const info = a.info || {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return { ok: true, fallback: !!info.isFallbackAdapter, name, maxBuffer: a.limits.maxBufferSize, maxBinding: a.limits.maxStorageBufferBindingSize };
  } catch (e) {
    return { ok: false, why: String(/** @type {Error} */ (e)?.message || e) };
  }
}

/**
 * One paragraph for the page: what runs where, and what to do for WebGPU. `level` is 'error'
 * without WebGPU, 'warn' on a CPU emulation, 'ok' otherwise.
 * @param {Probe} p
 * @returns {{ level: 'ok' | 'warn' | 'error', text: string }}
 */
export function describeWebGPU(p) {
  if ('why' in p) {
    return {
      level: 'error',
      text: `No WebGPU here (${p.why}): the model runs on the CPU backend (WebAssembly SIMD), more slowly for large models. ` +
        'For WebGPU use Chrome or Edge 113+ on Windows, macOS or ChromeOS; on Linux, Chrome with chrome://flags/#enable-unsafe-webgpu ' +
        'and #enable-vulkan; Safari 26+; or Firefox 141+ on Windows.',
    };
  }
  const limits = `largest buffer ${mib(p.maxBuffer)}, largest storage binding ${mib(p.maxBinding)}; a model whose tensors do not fit runs on the CPU backend`;
  if (p.fallback) {
    return {
      level: 'warn',
      text: `WebGPU runs on a CPU emulation here (${p.name}; ${limits}), about one token per second: “auto” uses the CPU backend ` +
        '(WebAssembly SIMD), which is faster here. For WebGPU use a machine with a GPU.',
    };
  }
  return { level: 'ok', text: `WebGPU adapter: ${p.name} (${limits}).` };
}
