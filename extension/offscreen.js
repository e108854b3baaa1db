// Chromium: the engine lives in this offscreen document (WebGPU and wasm, kept alive while the
// browser runs); it reaches the tab through the service worker, which has the tabs API.
import { api } from './api.js';
import { startHost } from './host.js';

async function relay(op, tabId, cmd) {
  const r = await api.runtime.sendMessage({ to: 'relay', op, tabId, cmd });
  if (!r || r.error) throw new Error(r?.error || 'the extension did not answer');
  return r.value;
}

startHost({ snapshot: (tabId) => relay('snapshot', tabId), act: (tabId, cmd) => relay('act', tabId, cmd) });
