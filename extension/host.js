// The engine host: holds the wasm module and the loaded model, and runs episodes for the panel.
// Lives in the offscreen document (Chromium) or the background page (Firefox); panels talk to it
// over runtime ports named "mem1-agent". A run belongs to the host, not to a panel: closing the
// panel leaves it running (a purchase waits for a yes), and a panel that opens later reattaches
// and is shown the run so far.
//
// Port messages in: {type: 'start', task, tabId, model, backend, opts}, {type: 'stop'},
// {type: 'confirm-reply', id, ok}. Out: {type: 'hello', run, last} (on connect: the run now, or
// the last one, each {task, tabId, log, confirm, result}), {type: 'status', text}, {type: 'load',
// done, total}, {type: 'loaded', info, label}, {type: 'event', ev} (the engine's turn events),
// {type: 'confirm', id, action, target, url}, {type: 'end', result, outcome}, {type: 'error',
// message}.
//
// `tabs`: {snapshot(tabId), act(tabId, cmd)} (relay.js directly in Firefox, the service worker's
// copy in Chromium); `record(entry)` keeps a finished task in the panel's history.
import { api } from './api.js';
import { loadMem1 } from './pkg/load.js';
import * as store from './ui/models.js';
import { useModel } from './ui/policy.js';
import { outcome } from './ui/run-view.js';

/**
 * @typedef {{ task: string, tabId: number, opts: any, started: string, log: any[], confirm: any, result: any,
 *   outcome?: { state: string, how: string } }} Run
 */

/**
 * @param {{ snapshot: (tabId: number) => Promise<any>, act: (tabId: number, cmd: any) => Promise<any> }} tabs
 * @param {(entry: any) => Promise<void>} record
 */
export function startHost(tabs, record) {
  /** @type {any} the wasm Demo, for live pages */
  let agent = null;
  let loaded = ''; // the spec and backend of the model in the engine
  /** @type {Run | null} */
  let run = null;
  /** @type {Run | null} */
  let last = null;
  /** @type {Set<chrome.runtime.Port>} */
  const ports = new Set();
  /** @type {Map<number, (ok: boolean) => void>} */
  const pending = new Map();

  const ready = (async () => {
    const mem1 = await loadMem1();
    agent = mem1.pkg.Demo.forLivePages();
    store.useHasher(() => new mem1.pkg.Sha256());
    console.info(`mem1: engine host ready (wasm loaded; WebGPU ${/** @type {any} */ (navigator).gpu ? 'present' : 'absent'}; ${mem1.cpu})`);
  })();
  ready.catch((e) => console.error(`mem1: the engine failed to start: ${e?.message || e}`));

  /** To every panel attached; what a panel opened later needs is kept in the run's log. @param {any} msg */
  function send(msg) {
    if (run && (msg.type === 'loaded' || (msg.type === 'event' && (['turn_start', 'turn', 'note'].includes(msg.ev.type))))) run.log.push(msg);
    for (const p of ports) {
      try {
        p.postMessage(msg);
      } catch {
        ports.delete(p);
      }
    }
  }

  /** @param {any} spec @param {string} backend */
  async function loadModel(spec, backend) {
    const id = `${JSON.stringify(spec)}:${backend}`;
    if (loaded === id && agent.hasModel()) return;
    loaded = '';
    send({ type: 'status', text: spec.source === 'remote' ? 'Asking the server for its models' : 'Reading the model' });
    const { info, label } = await useModel(agent, spec, {
      base: api.runtime.getURL(''),
      keep: false,
      backend: backend || 'auto',
      // A served policy's trace counts tokens with the bundled model's tokenizer.
      tokenizer: async () => (await fetch(api.runtime.getURL('models/SmolLM2-135M-Instruct.Q4_1.gguf'))).blob(),
      progress: (frac) => send({ type: 'load', done: frac, total: 1 }),
    });
    loaded = id;
    send({ type: 'loaded', info, label });
  }

  /** @param {any} msg */
  async function start(msg) {
    if (run) throw new Error('the agent is already running');
    if (!Number.isInteger(msg.tabId)) throw new Error('no tab to shop in');
    run = { task: String(msg.task), tabId: msg.tabId, opts: msg.opts || {}, started: new Date().toISOString(), log: [], confirm: null, result: null };
    let result;
    try {
      await ready;
      await loadModel(msg.model || { source: 'bundled' }, msg.backend);
      send({ type: 'status', text: 'Reading the page' });
      const first = await tabs.snapshot(run.tabId);
      let nextId = 0;
      /** @param {any} req */
      const confirm = (req) => new Promise((ok) => {
        const id = ++nextId;
        pending.set(id, ok);
        const ask = { type: 'confirm', id, ...req };
        if (run) run.confirm = ask;
        send(ask);
      });
      const tabId = run.tabId;
      result = await agent.runLive(run.task, first, run.opts, (/** @type {any} */ cmd) => tabs.act(tabId, cmd), confirm,
        (/** @type {any} */ ev) => send({ type: 'event', ev }));
    } catch (e) {
      result = { episode: null, purchased: false, declined: false, stopped: false, error: /** @type {Error} */ (e)?.message || String(e) };
    }
    const done = /** @type {Run} */ (run);
    done.result = result;
    done.confirm = null;
    done.outcome = outcome(result);
    last = done;
    run = null;
    send({ type: 'end', result, outcome: done.outcome });
    const actions = done.log.filter((m) => m.type === 'event' && m.ev.type === 'turn').map((m) => m.ev.action);
    await record({ task: done.task, started: done.started, ended: new Date().toISOString(), url: result.url || '', actions, outcome: done.outcome.how, state: done.outcome.state })
      .catch((e) => console.warn(`mem1: the task was not kept in the history: ${e?.message || e}`));
  }

  /** @param {any} msg */
  function answer(msg) {
    const ok = pending.get(msg.id);
    if (!ok) return;
    pending.delete(msg.id);
    if (run) run.confirm = null;
    ok(msg.ok === true);
    send({ type: 'confirmed', id: msg.id, ok: msg.ok === true });
  }

  api.runtime.onConnect.addListener((port) => {
    if (port.name !== 'mem1-agent') return;
    // Only the extension's own pages (the panel) reach this; pages and content scripts cannot.
    const from = port.sender?.url || '';
    if (!from.startsWith(api.runtime.getURL('')) || port.sender?.id !== api.runtime.id) {
      port.disconnect();
      return;
    }
    ports.add(port);
    port.onMessage.addListener((msg) => {
      if (msg?.type === 'start') {
        // The first error of a start that never became a run goes to the panel that asked.
        if (run) port.postMessage({ type: 'error', message: 'the agent is already running (in another panel?)' });
        else start(msg).catch((e) => port.postMessage({ type: 'error', message: e?.message || String(e) }));
      } else if (msg?.type === 'stop' && run) {
        agent?.stop();
        // A question still open is answered no: stopping never buys.
        for (const id of [...pending.keys()]) answer({ id, ok: false });
      } else if (msg?.type === 'confirm-reply') {
        answer(msg);
      }
    });
    // A closed panel leaves the run going: a purchase waits until a panel says yes or no.
    port.onDisconnect.addListener(() => ports.delete(port));
    port.postMessage({ type: 'hello', run, last });
  });
}
