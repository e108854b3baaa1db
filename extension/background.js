// Chromium service worker: opens the side panel from the toolbar button, keeps the offscreen
// document (the engine host) alive, and acts in tabs and keeps the task history for it. Messages
// are accepted only from the extension's own pages: the host's requests from the offscreen
// document, the host request from the panel.
import { api } from './api.js';
import * as relay from './relay.js';
import { remember } from './settings-store.js';

const OFFSCREEN = 'offscreen.html';

api.sidePanel?.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});

/** @type {Promise<void> | null} */
let creating = null;
async function hasHost() {
  const url = api.runtime.getURL(OFFSCREEN);
  const have = await api.runtime.getContexts({ contextTypes: [/** @type {chrome.runtime.ContextType} */ ('OFFSCREEN_DOCUMENT')], documentUrls: [url] });
  return have.length > 0;
}
async function ensureHost() {
  if (await hasHost()) return;
  creating ??= api.offscreen
    .createDocument({ url: OFFSCREEN, reasons: ['WORKERS'], justification: 'runs the shopping agent’s language model (WebGPU/wasm)' })
    .finally(() => (creating = null));
  await creating;
}

/** What the offscreen document asks for. @param {any} msg */
function hostRequest(msg) {
  switch (msg.op) {
    case 'snapshot': return relay.snapshot(msg.tabId);
    case 'act': return relay.act(msg.tabId, msg.cmd);
    case 'remember': return remember(msg.entry);
    default: return Promise.reject(new Error(`unknown op ${msg.op}`));
  }
}

api.runtime.onMessage.addListener((msg, sender, reply) => {
  if (sender.id !== api.runtime.id || !sender.url?.startsWith(api.runtime.getURL(''))) return false;
  if (msg?.to !== 'bg') return false;
  if (msg.op === 'ensure-host' || msg.op === 'has-host') {
    (msg.op === 'has-host' ? hasHost() : ensureHost().then(() => true)).then((value) => reply({ value }), (e) => reply({ error: e.message }));
    return true;
  }
  if (sender.url !== api.runtime.getURL(OFFSCREEN)) return false;
  hostRequest(msg).then((value) => reply({ value }), (e) => reply({ error: e?.message || String(e) }));
  return true;
});
