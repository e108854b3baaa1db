// The demo page: the store (an iframe whose DOM the agent reads), the goal, and the shared views
// (ui/: model settings, the episode's turns, state and context chart). Everything MEM1 does
// happens in the wasm (`Demo`).
import { loadMem1 } from './pkg/load.js';
import { $, el } from './ui/dom.js';
import { ModelPicker } from './ui/model-picker.js';
import * as store from './ui/models.js';
import { useModel } from './ui/policy.js';
import { RunView } from './ui/run-view.js';
import { describeWebGPU, probeWebGPU } from './ui/webgpu.js';

/** @typedef {import('./ui/model-picker.js').Choice} Choice */

const st = {
  /** @type {any} the wasm `Demo` */
  demo: null,
  /** @type {{ index: number } | { indices: number[] } | { text: string }} */
  goal: { index: 0 },
  goalIndex: 0,
  /** @type {number[]} the shopping list's template goals */
  listIndices: [],
  goalKey: '',
  /** @type {string | null} what the engine holds: spec and backend */
  modelKey: null,
  running: false,
};
/** @type {ModelPicker} */
let picker;
/** @type {RunView} */
let view;

/** @param {string} msg @param {string} [cls] */
function status(msg, cls = '') {
  const s = $('status');
  s.textContent = msg;
  s.className = 'status ' + cls;
}
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));
const storeDoc = () => /** @type {Document} */ (/** @type {HTMLIFrameElement} */ ($('store')).contentDocument);

// The model choice lives in this browser (localStorage); the models themselves in the store.
const CHOICE_KEY = 'mem1-demo-model';
/** @returns {Promise<Choice>} */
async function loadChoice() {
  try {
    const c = JSON.parse(localStorage.getItem(CHOICE_KEY) || 'null');
    if (c?.model?.source) return c;
  } catch {}
  return { model: { source: 'bundled' }, backend: 'auto' };
}
/** A server's API key stays in this page's memory, never in its storage. @param {Choice} c */
async function saveChoice(c) {
  const model = c.model.source === 'remote' ? { ...c.model, key: '' } : c.model;
  localStorage.setItem(CHOICE_KEY, JSON.stringify({ ...c, model }));
}

// ---------------------------------------------------------------- goals
const goalKind = () => /** @type {HTMLInputElement} */ (document.querySelector('input[name=goal-kind]:checked')).value;
const listItems = () => Number(/** @type {HTMLSelectElement} */ ($('list-items')).value);

function showGoal() {
  const kind = goalKind();
  const typed = kind === 'typed';
  $('goal-input').hidden = !typed;
  $('goal-text').hidden = typed;
  input('random-goal').disabled = typed || st.running;
  let key;
  if (typed) {
    const text = input('goal-input').value.trim();
    st.goal = { text };
    key = 'typed:' + text;
  } else if (kind === 'list') {
    if (st.listIndices.length !== listItems()) st.listIndices = st.demo.randomList(Math.floor(Math.random() * 2 ** 32), listItems()).indices;
    st.goal = { indices: st.listIndices };
    key = 'list:' + st.listIndices.join(',');
    const l = st.demo.list(st.listIndices);
    $('goal-text').replaceChildren(
      el('div', { class: 'instr' }, l.instruction_text),
      el('div', { class: 'meta' }, `${l.items.length} template goals (#${l.indices.join(', #')}) · targets ${l.items.map((/** @type {any} */ g) => g.asin).join(', ')} · ` +
        'each item scored against the cart, averaged'),
    );
  } else {
    st.goal = { index: st.goalIndex };
    key = 'template:' + st.goalIndex;
    const g = st.demo.goal(st.goalIndex);
    const opts = Array.isArray(g.goal_options) ? g.goal_options : Object.entries(g.goal_options).map(([k, v]) => `${k}: ${v}`);
    $('goal-text').replaceChildren(
      el('div', { class: 'instr' }, g.instruction_text),
      el('div', { class: 'meta' }, `goal #${g.index} · target ${g.asin} · attributes: ${g.attributes.join(', ') || '–'} · options: ${opts.join(', ') || '–'}`),
    );
  }
  // A new goal starts on its search page; the same goal keeps the page the last episode left.
  const changed = key !== st.goalKey;
  if (changed) {
    st.goalKey = key;
    view.clearCurves();
  }
  if (changed && !st.running && (!typed || 'text' in st.goal && st.goal.text)) {
    try {
      st.demo.showStart(storeDoc(), st.goal);
      $('store-page').textContent = 'search';
    } catch (e) {
      status(String(/** @type {Error} */ (e).message || e), 'error');
    }
  }
}

function randomGoal() {
  const seed = Math.floor(Math.random() * 2 ** 32);
  if (goalKind() === 'list') st.listIndices = st.demo.randomList(seed, listItems()).indices;
  else st.goalIndex = st.demo.randomGoal(seed).index;
  showGoal();
}

/** A list needs about as many turns per item as a goal does (`mem1 run --items`). */
function goalKindChanged() {
  input('max-turns').value = String(goalKind() === 'list' ? 10 * listItems() : 10);
  view.maxTurns = Number(input('max-turns').value);
  showGoal();
}

// ---------------------------------------------------------------- the model
async function ensureModel() {
  // “auto” is resolved by the engine's loader (crate/src/loader.rs): WebGPU on a hardware adapter
  // that can hold the model, else the CPU backend; `info.backend` says which runs and why.
  const backend = picker.backend();
  const spec = await picker.resolve();
  const key = `${JSON.stringify(spec)}|${backend}`;
  if (st.modelKey === key && st.demo.hasModel()) return;
  st.modelKey = null;
  picker.progress(0, 'opening the model…');
  const t0 = performance.now();
  const { info, label } = await useModel(st.demo, spec, {
    base: location.href,
    keep: true,
    backend,
    // A served policy's trace counts tokens with the bundled model's tokenizer, its header read
    // over HTTP Range (not the whole file).
    tokenizer: async () => new URL('models/SmolLM2-135M-Instruct.Q4_1.gguf', location.href).href,
    progress: (frac, text) => picker.progress(frac, text),
  });
  picker.progress(1, info.arch === 'served' ? `ready: ${label} (checked in ${((performance.now() - t0) / 1000).toFixed(1)} s)`
    : `${label} ready on ${info.backend} (${info.arch}, ${info.layers} layers${info.adapter ? ', LoRA ' + info.adapter : ''}, ` +
      `KV cache ${info.ctx} tokens, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  st.modelKey = key;
}

async function loadRecorded() {
  try {
    const r = await fetch('data/baseline.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    view.setRecorded(await r.json());
  } catch (e) {
    view.setRecorded(null);
    $('chart-note').textContent = `No recorded baseline (data/baseline.json: ${/** @type {Error} */ (e).message}); run the “full history” mode to measure it live.`;
  }
}

// ---------------------------------------------------------------- the episode
async function run() {
  if (st.running) return;
  showGoal();
  if ('text' in st.goal && st.goal.text === '') return status('type a goal first', 'error');
  st.running = true;
  for (const id of ['run', 'random-goal', 'mode']) input(id).disabled = true;
  picker.disable(true);
  input('stop').disabled = false;
  delete document.body.dataset.episode;
  try {
    status('preparing the model…');
    await ensureModel();
    const mode = /** @type {HTMLSelectElement} */ ($('mode')).value;
    const opts = {
      mode,
      maxTurns: Number(input('max-turns').value) || 10,
      maxTokens: Number(input('max-tokens').value) || 224,
      constrain: input('constrain').checked,
      speculate: input('speculate').checked,
      seed: 0,
    };
    view.begin({ mode, maxTurns: opts.maxTurns });
    status('running…');
    const r = await st.demo.run(storeDoc(), st.goal, opts, (/** @type {any} */ ev) => {
      view.event(ev);
      if (ev.type === 'turn') {
        const d = storeDoc();
        $('store-page').textContent = d.querySelector('#thankyou') ? 'done' : (d.title || '').toLowerCase() || 'page';
      }
    });
    const end = view.finish(r);
    // A lost GPU device takes the model with it (the engine drops it): Run loads it again.
    if (end.state === 'error' && !st.demo.hasModel()) status('the model was lost with its GPU device: press Run to load it again', 'error');
    else status(r.stopped ? 'stopped' : 'episode finished', end.state === 'error' ? 'error' : 'ok');
    document.body.dataset.episode = 'done';
  } catch (e) {
    console.warn('mem1:', e);
    status(String(/** @type {Error} */ (e).message || e), 'error');
    document.body.dataset.episode = 'failed';
  } finally {
    st.running = false;
    for (const id of ['run', 'mode']) input(id).disabled = false;
    picker.disable(false);
    input('stop').disabled = true;
    showGoal();
  }
}

// ---------------------------------------------------------------- start
async function main() {
  const frame = /** @type {HTMLIFrameElement} */ ($('store'));
  // A standards-mode document to render the store's pages into.
  await new Promise((ok) => {
    frame.addEventListener('load', ok, { once: true });
    frame.srcdoc = '<!DOCTYPE html><html><head><title>store</title></head><body></body></html>';
  });
  // The agent drives the store: the visitor's clicks would leave this static page.
  for (const t of ['click', 'submit']) storeDoc().addEventListener(t, (e) => e.preventDefault(), true);

  // ?threads=N caps the CPU backend's threads (1: the one-thread build).
  const mem1 = await loadMem1({ threads: new URLSearchParams(location.search).get('threads') });
  st.demo = new mem1.pkg.Demo(0);
  globalThis.mem1 = st.demo; // for the console and the tests (e.g. mem1.simulateDeviceLoss())
  store.useHasher(() => new mem1.pkg.Sha256());
  view = new RunView($('live'), (text) => status(text));
  picker = new ModelPicker($('model-picker'), { load: loadChoice, save: saveChoice });
  await picker.refresh();
  const gpu = describeWebGPU(await probeWebGPU());
  if (gpu.level !== 'ok') {
    const b = $('banner');
    b.textContent = gpu.text;
    b.className = `banner ${gpu.level}`;
    b.hidden = false;
  }
  document.querySelectorAll('input[name=goal-kind]').forEach((r) => r.addEventListener('change', goalKindChanged));
  $('list-items').addEventListener('change', () => {
    /** @type {HTMLInputElement} */ (document.querySelector('input[name=goal-kind][value=list]')).checked = true;
    goalKindChanged();
  });
  $('goal-input').addEventListener('change', showGoal);
  $('random-goal').addEventListener('click', randomGoal);
  $('max-turns').addEventListener('change', () => {
    view.maxTurns = Number(input('max-turns').value) || 10;
    view.redraw();
  });
  $('run').addEventListener('click', run);
  $('stop').addEventListener('click', () => {
    st.demo.stop();
    status('stopping at the next token…');
  });
  // ?goal=N pins a template goal, ?list=I,J,… a shopping list of them (reproducible links and
  // tests); otherwise a random goal.
  const pinned = new URLSearchParams(location.search).get('goal');
  const list = new URLSearchParams(location.search).get('list');
  if (list !== null && /^\d+(,\d+)+$/.test(list)) {
    st.listIndices = list.split(',').map(Number);
    const items = /** @type {HTMLSelectElement} */ ($('list-items'));
    if (![...items.options].some((o) => o.value === String(st.listIndices.length))) items.add(new Option(String(st.listIndices.length)));
    items.value = String(st.listIndices.length);
    /** @type {HTMLInputElement} */ (document.querySelector('input[name=goal-kind][value=list]')).checked = true;
    goalKindChanged();
  } else if (pinned !== null && /^\d+$/.test(pinned) && Number(pinned) < st.demo.goalCount()) {
    st.goalIndex = Number(pinned);
    showGoal();
  } else randomGoal();
  await loadRecorded();
  status(`ready: ${st.demo.goalCount()} goals; ${mem1.cpu}; press Run`);
  document.body.dataset.ready = '1';
}

main().catch((e) => {
  console.error('mem1 demo failed to start:', e);
  status(`the demo failed to start: ${e.message || e}`, 'error');
});
