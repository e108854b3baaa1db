// Chromium: the engine lives in this offscreen document (WebGPU and wasm, kept alive while the
// browser runs); it reaches the tab, and storage, through the service worker (an offscreen
// document has no tabs or storage API).
import { api } from './api.js';
import { startHost } from './host.js';

/** @param {string} op @param {any} [args] */
async function ask(op, args = {}) {
  const r = await api.runtime.sendMessage({ to: 'bg', op, ...args });
  if (!r || r.error) throw new Error(r?.error || 'the extension did not answer');
  return r.value;
}

startHost(
  { snapshot: (tabId) => ask('snapshot', { tabId }), act: (tabId, cmd) => ask('act', { tabId, cmd }) },
  (entry) => ask('remember', { entry }),
);
