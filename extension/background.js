// Chromium service worker: opens the side panel from the toolbar button, keeps the offscreen
// document (the engine host) alive, and acts in tabs for it. Messages are accepted only from the
// extension's own pages: the relay from the offscreen document, the host request from the panel.
import { api } from './api.js';
import * as relay from './relay.js';

const OFFSCREEN = 'offscreen.html';

api.sidePanel?.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});

let creating = null;
async function ensureHost() {
  const url = api.runtime.getURL(OFFSCREEN);
  const have = await api.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [url] });
  if (have.length) return;
  creating ??= api.offscreen
    .createDocument({ url: OFFSCREEN, reasons: ['WORKERS'], justification: 'runs the shopping agent’s language model (WebGPU/wasm)' })
    .finally(() => (creating = null));
  await creating;
}

api.runtime.onMessage.addListener((msg, sender, reply) => {
  if (sender.id !== api.runtime.id || !sender.url?.startsWith(api.runtime.getURL(''))) return false;
  if (msg?.to === 'bg' && msg.op === 'ensure-host') {
    ensureHost().then(() => reply({ value: true }), (e) => reply({ error: e.message }));
    return true;
  }
  if (msg?.to === 'relay' && sender.url === api.runtime.getURL(OFFSCREEN)) {
    const run = msg.op === 'snapshot' ? relay.snapshot(msg.tabId) : msg.op === 'act' ? relay.act(msg.tabId, msg.cmd) : Promise.reject(new Error(`unknown op ${msg.op}`));
    run.then((value) => reply({ value }), (e) => reply({ error: e?.message || String(e) }));
    return true;
  }
  return false;
});
