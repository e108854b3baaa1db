// The engine host: holds the wasm module and the loaded model, and runs episodes for the panel.
// Lives in the offscreen document (Chromium) or the background page (Firefox); the panel talks to
// it over a runtime port named "mem1-agent". `relay` acts in the tab: {snapshot(tabId),
// act(tabId, cmd)} (relay.js directly in Firefox, the service worker's copy in Chromium).
//
// Port messages in: {type: 'start', task, tabId, model: {source: 'bundled'|'cache', key}, backend,
// opts}, {type: 'stop'}, {type: 'confirm-reply', id, ok}. Out: {type: 'status', text},
// {type: 'load', done, total}, {type: 'loaded', info}, {type: 'event', ev} (the engine's turn
// events), {type: 'confirm', id, action, target, url}, {type: 'end', result}, {type: 'error', message}.
import { api } from './api.js';
import { loadMem1 } from './pkg/load.js';
import * as models from './models.js';

export const BUNDLED = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';
// The trained MEM1 policy: a LoRA adapter the engine merges into the bundled model as it loads.
export const BUNDLED_ADAPTER = 'models/mem1-smollm2-135m.lora.gguf';
// KV-cache size in tokens: a turn's prompt (task, state, a page within the observation budget
// of webapp.rs) plus its output.
const CTX = 3072;

export function startHost(relay) {
  let agent = null;
  let loaded = null; // "source:key:backend" of the model in the engine
  let running = null; // the port whose episode runs

  const ready = (async () => {
    const mem1 = await loadMem1();
    agent = mem1.pkg.Demo.forLivePages();
    console.info(`mem1: engine host ready (wasm loaded; WebGPU ${navigator.gpu ? 'present' : 'absent'}; ${mem1.cpu})`);
  })();
  ready.catch((e) => console.error(`mem1: the engine failed to start: ${e?.message || e}`));

  async function loadModel(port, model, backend) {
    const id = `${model.source}:${model.key || ''}:${backend}`;
    if (loaded === id && agent.hasModel()) return;
    loaded = null;
    let blob, adapter;
    if (model.source === 'bundled') {
      port.postMessage({ type: 'status', text: 'reading the bundled model' });
      const read = async (file) => {
        const res = await fetch(api.runtime.getURL(file));
        if (!res.ok) throw new Error(`the bundled ${file} is missing from the extension (${res.status})`);
        return res.blob();
      };
      [blob, adapter] = [await read(BUNDLED), await read(BUNDLED_ADAPTER)];
    } else {
      const got = await models.open(model.key);
      if (!got) throw new Error('the chosen model is not in the cache (download it in the settings)');
      blob = got.blob;
    }
    port.postMessage({ type: 'status', text: 'loading the model' });
    const info = await agent.loadModelBlob(blob, backend || 'auto', CTX, (done, total) => port.postMessage({ type: 'load', done, total }), adapter);
    loaded = id;
    port.postMessage({ type: 'loaded', info });
  }

  async function start(port, msg) {
    if (running) throw new Error('the agent is already running');
    if (!Number.isInteger(msg.tabId)) throw new Error('no tab to shop in');
    running = port;
    let cleanup = () => {};
    try {
      await ready;
      await loadModel(port, msg.model || { source: 'bundled' }, msg.backend);
      const tabId = msg.tabId;
      port.postMessage({ type: 'status', text: 'reading the page' });
      const first = await relay.snapshot(tabId);
      let nextId = 0;
      const pending = new Map();
      const onReply = (m) => {
        if (m?.type === 'confirm-reply' && pending.has(m.id)) {
          pending.get(m.id)(m.ok === true);
          pending.delete(m.id);
        }
      };
      // A closed panel answers every open question with no.
      const onGone = () => {
        for (const ok of pending.values()) ok(false);
        pending.clear();
      };
      port.onMessage.addListener(onReply);
      port.onDisconnect.addListener(onGone);
      cleanup = () => {
        port.onMessage.removeListener(onReply);
        port.onDisconnect.removeListener(onGone);
      };
      const confirm = (req) => new Promise((ok) => {
        const id = ++nextId;
        pending.set(id, ok);
        port.postMessage({ type: 'confirm', id, ...req });
      });
      const perform = (cmd) => relay.act(tabId, cmd);
      const result = await agent.runLive(msg.task, first, msg.opts || {}, perform, confirm, (ev) => port.postMessage({ type: 'event', ev }));
      port.postMessage({ type: 'end', result });
    } finally {
      cleanup();
      running = null;
    }
  }

  api.runtime.onConnect.addListener((port) => {
    if (port.name !== 'mem1-agent') return;
    // Only the extension's own pages (the panel) reach this; pages and content scripts cannot.
    const from = port.sender?.url || '';
    if (!from.startsWith(api.runtime.getURL('')) || port.sender?.id !== api.runtime.id) {
      port.disconnect();
      return;
    }
    port.onMessage.addListener((msg) => {
      if (msg?.type === 'start') {
        start(port, msg).catch((e) => port.postMessage({ type: 'error', message: e?.message || String(e) }));
      } else if (msg?.type === 'stop' && running === port) {
        agent?.stop();
      }
    });
    port.onDisconnect.addListener(() => {
      // The panel closed: a running episode stops (nobody could confirm a purchase).
      if (running === port) agent?.stop();
    });
    port.postMessage({ type: 'hello', busy: !!running });
  });
}
