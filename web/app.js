// The demo page: the store (an iframe whose DOM the agent reads), the agent panel, the model
// download/cache and the context-size plot. Everything MEM1 does happens in the wasm (`Demo`).
import { loadMem1 } from './pkg/load.js';

const $ = (id) => document.getElementById(id);
const BUNDLED = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';
// The trained MEM1 policy: a LoRA adapter the engine merges into the bundled model as it loads.
const BUNDLED_ADAPTER = 'models/mem1-smollm2-135m.lora.gguf';
const CACHE = 'mem1-models-v1';
const KV_TOKENS = 4096; // room for a full-history episode of SmolLM2 (its context is 8192)

const st = {
  demo: null,
  goal: null, // {index} | {text}
  goalKey: '',
  modelKey: null,
  running: false,
  live: {}, // mode -> [{turn, prompt_tokens, context_tokens}] for the current goal
  recorded: null, // web/data/baseline.json
  webgpu: null,
};

// ---------------------------------------------------------------- small helpers
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k));
  return e;
}
const fmt = (x, d = 1) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : '–');
const mib = (n) => (n / 1048576).toFixed(1) + ' MiB';
function status(msg, cls = '') {
  const s = $('status');
  s.textContent = msg;
  s.className = 'status ' + cls;
}
function progress(frac, text) {
  $('progress-bar').style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  $('progress-text').textContent = text;
}
function banner(html, cls = 'warn') {
  const b = $('banner');
  b.innerHTML = html;
  b.className = 'banner ' + cls;
  b.hidden = false;
}
function storeDoc() {
  return $('store').contentDocument;
}

// ---------------------------------------------------------------- WebGPU check
async function checkWebGPU() {
  if (!('gpu' in navigator)) return { ok: false, why: 'this browser has no navigator.gpu' };
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { ok: false, why: 'the browser offers WebGPU but found no adapter (GPU blocklisted or disabled)' };
    const info = a.info || {};
    return { ok: true, fallback: !!info.isFallbackAdapter, name: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') };
  } catch (e) {
    return { ok: false, why: String(e && e.message || e) };
  }
}

function explainWebGPU(g) {
  if (!g.ok) {
    banner(
      `<b>No WebGPU here</b> (${g.why}). The model runs on the CPU backend instead (“auto” picks it), ` +
        'more slowly for large models. For WebGPU use Chrome or Edge 113+ on Windows, macOS or ChromeOS; on Linux, Chrome with ' +
        '<code>chrome://flags/#enable-unsafe-webgpu</code> and <code>#enable-vulkan</code>; Safari 26+; or Firefox 141+ on Windows.',
      'error',
    );
  } else if (g.fallback) {
    banner(
      `WebGPU runs on a <b>CPU emulation</b> here (${g.name || 'fallback adapter'}), about one token per second: ` +
        '“auto” uses the CPU backend (WebAssembly SIMD), which is faster here. For WebGPU open the page on a machine with a GPU.',
      'warn',
    );
  }
}

// ---------------------------------------------------------------- goals
function showGoal() {
  const typed = document.querySelector('input[name=goal-kind]:checked').value === 'typed';
  $('goal-input').hidden = !typed;
  $('goal-text').hidden = typed;
  $('random-goal').disabled = typed || st.running;
  let key;
  if (typed) {
    const text = $('goal-input').value.trim();
    st.goal = { text };
    key = 'typed:' + text;
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
    st.live = {};
    drawPlot();
  }
  if (changed && !st.running) {
    try {
      if (!typed || st.goal.text) {
        st.demo.showStart(storeDoc(), st.goal);
        $('store-page').textContent = 'search';
      }
    } catch (e) {
      status(String(e.message || e), 'error');
    }
  }
}

function randomGoal() {
  const g = st.demo.randomGoal(Math.floor(Math.random() * 2 ** 32));
  st.goalIndex = g.index;
  showGoal();
}

// ---------------------------------------------------------------- model download + cache
// The Cache API entry is keyed by URL and size and written only once the whole file has arrived
// (cache.put stores a complete response or nothing), so a half-written model is never used.
async function download(url, onProgress) {
  const abs = new URL(url, location.href).href;
  // The size first, with a one-byte ranged GET (HEAD is often refused cross-origin); a server
  // that ignores Range sends the whole file, which then is the download.
  let size = null;
  let resp = null;
  try {
    const r0 = await fetch(abs, { headers: { Range: 'bytes=0-0' } });
    if (r0.status === 206) {
      size = Number((r0.headers.get('content-range') || '').split('/')[1]) || null;
      await r0.arrayBuffer();
    } else if (r0.ok) resp = r0;
    else throw new Error(`GET ${url}: HTTP ${r0.status} ${r0.statusText}`);
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${e.message} (offline, wrong URL, or the server does not allow CORS?)`);
  }
  const cache = 'caches' in self ? await caches.open(CACHE).catch(() => null) : null;
  const keyOf = (n) => `${abs}${abs.includes('?') ? '&' : '?'}mem1-cache-bytes=${n}`;
  if (cache && size && !resp) {
    const hit = await cache.match(keyOf(size));
    if (hit) {
      const blob = await hit.blob();
      if (blob.size === size) return { blob, cached: true };
      await cache.delete(keyOf(size));
    }
  }
  resp ||= await fetch(abs);
  if (!resp.ok) throw new Error(`GET ${url}: HTTP ${resp.status} ${resp.statusText}`);
  const total = Number(resp.headers.get('content-length')) || size || 0;
  const reader = resp.body.getReader();
  const chunks = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.byteLength;
    onProgress(got, total);
  }
  if (total && got !== total) throw new Error(`download of ${url} stopped at ${got} of ${total} bytes`);
  const blob = new Blob(chunks);
  if (cache) {
    try {
      for (const k of await cache.keys()) if (k.url.startsWith(abs) && k.url !== keyOf(blob.size)) await cache.delete(k);
      await cache.put(keyOf(blob.size), new Response(blob, { headers: { 'content-length': String(blob.size) } }));
    } catch (e) {
      console.warn('mem1: could not cache the model:', e);
    }
  }
  return { blob, cached: false };
}

async function ensureModel() {
  const choice = $('model-choice').value;
  // “auto” is resolved by the engine's loader (crate/src/loader.rs): WebGPU on a hardware adapter that
  // can hold the model, else the CPU backend; `info.backend` says which runs and why.
  const backend = $('backend').value;
  let source, label, adapterUrl;
  if (choice === 'bundled') [source, label, adapterUrl] = [BUNDLED, 'MEM1 policy (SmolLM2-135M + LoRA)', BUNDLED_ADAPTER];
  else if (choice === 'bundled-base') [source, label] = [BUNDLED, 'SmolLM2-135M-Instruct Q4_1 (zero-shot)'];
  else if (choice === 'url') {
    source = $('model-url').value.trim();
    if (!source) throw new Error('type a GGUF URL first');
    label = source.split('/').pop();
  } else {
    const f = $('model-file').files[0];
    if (!f) throw new Error('pick a GGUF file first');
    [source, label] = [f, f.name];
  }
  const key = `${choice}|${backend}|${typeof source === 'string' ? source : source.name + ':' + source.size}`;
  if (st.modelKey === key && st.demo.hasModel()) return;
  st.modelKey = null;
  let blob;
  if (typeof source === 'string') {
    progress(0, `downloading ${label}…`);
    const r = await download(source, (got, total) =>
      progress(total ? got / total : 0, `downloading ${label}: ${mib(got)}${total ? ' of ' + mib(total) : ''}`),
    );
    blob = r.blob;
    progress(1, `${label}: ${mib(blob.size)} ${r.cached ? 'from the browser cache' : 'downloaded (cached for next time)'}`);
  } else blob = source;
  // The adapter is small and changes when the policy is retrained (same size): fetched, not cached by size.
  let adapter;
  if (adapterUrl) {
    const r = await fetch(adapterUrl);
    if (!r.ok) throw new Error(`GET ${adapterUrl}: HTTP ${r.status} ${r.statusText}`);
    adapter = await r.blob();
  }
  const t0 = performance.now();
  const info = await st.demo.loadModelBlob(blob, backend, KV_TOKENS, (done, total) =>
    progress(total ? done / total : 0, `loading ${label} (${backend === 'auto' ? 'automatic backend' : backend === 'cpu' ? 'CPU backend' : 'WebGPU'}): ${Math.round((100 * done) / (total || 1))}%`),
    adapter,
  );
  progress(1, `${label} ready on ${info.backend} (${info.arch}, ${info.layers} layers${info.adapter ? ', LoRA ' + info.adapter : ''}, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  st.modelKey = key;
}

// ---------------------------------------------------------------- plot
function drawPlot() {
  const svg = $('plot');
  const W = 520, H = 220, L = 48, R = 150, T = 12, B = 30;
  const series = [];
  const modeName = { mem1: 'MEM1', full: 'full history' };
  for (const [mode, pts] of Object.entries(st.live)) {
    if (pts.length) series.push({ label: `${modeName[mode]}, this run (live)`, cls: `live-${mode}`, pts: pts.map((p) => [p.turn, p.prompt_tokens]) });
  }
  const rec = st.recorded;
  if (rec) {
    for (const r of rec.runs) {
      series.push({ label: `${modeName[r.mode]}, recorded`, cls: `rec-${r.mode}`, pts: r.per_turn.map((y, i) => [i + 1, y]) });
    }
  }
  const maxX = Math.max(3, ...series.flatMap((s) => s.pts.map((p) => p[0])), Number($('max-turns').value) || 3);
  const maxY = Math.max(500, ...series.flatMap((s) => s.pts.map((p) => p[1])));
  const niceY = Math.ceil(maxY / 500) * 500;
  const x = (t) => L + ((t - 1) / Math.max(1, maxX - 1)) * (W - L - R);
  const y = (v) => H - B - (v / niceY) * (H - T - B);
  const parts = [];
  for (let v = 0; v <= niceY; v += niceY / 4) {
    parts.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/><text class="ax" x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (let t = 1; t <= maxX; t++) parts.push(`<text class="ax" x="${x(t)}" y="${H - B + 14}" text-anchor="middle">${t}</text>`);
  parts.push(`<text class="ax" x="${(L + W - R) / 2}" y="${H - 2}" text-anchor="middle">turn</text>`);
  parts.push(`<text class="ax" transform="translate(11 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">prompt tokens</text>`);
  series.forEach((s, i) => {
    const d = s.pts.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path class="series ${s.cls}" d="${d}"/>`);
    for (const p of s.pts) parts.push(`<circle class="pt ${s.cls}" cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="2.5"/>`);
    const ly = T + 10 + i * 16;
    parts.push(`<line class="series ${s.cls}" x1="${W - R + 8}" x2="${W - R + 26}" y1="${ly - 4}" y2="${ly - 4}"/><text class="legend" x="${W - R + 30}" y="${ly}">${s.label}</text>`);
  });
  svg.innerHTML = parts.join('');
  svg.dataset.livePoints = String(Object.values(st.live).reduce((n, p) => n + p.length, 0));
}

async function loadRecorded() {
  try {
    const r = await fetch('data/baseline.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    st.recorded = await r.json();
    const rec = st.recorded;
    $('plot-note').replaceChildren(
      'Recorded curves: a measurement, not this run — ',
      el('code', {}, rec.command),
      ` (${rec.model}, ${rec.backend}, ${rec.date}) on the goal “${rec.goal}”. `,
      'Live curves: this page, as it runs; pick “full history” and Run again to measure the baseline live on your goal.',
    );
  } catch (e) {
    $('plot-note').textContent = `No recorded baseline (data/baseline.json: ${e.message}); run the “full history” mode to measure it live.`;
  }
  drawPlot();
}

// ---------------------------------------------------------------- the episode
function turnItem(n) {
  let li = document.querySelector(`#turns li[data-turn="${n}"]`);
  if (!li) {
    li = el('li', { 'data-turn': String(n), class: 'pending' }, el('div', { class: 'head' }, `turn ${n}: thinking…`));
    $('turns').prepend(li);
  }
  return li;
}

function onEvent(ev) {
  if (ev.type === 'turn_start') {
    st.turnT0 = performance.now();
    turnItem(ev.turn);
    status(`turn ${ev.turn}: reading the page (${ev.prompt_tokens} prompt tokens, ${ev.actions.length} actions)…`);
  } else if (ev.type === 'prefill') {
    status(`turn ${ev.turn}: reading the prompt — ${ev.done} of ${ev.tokens} new tokens (${fmt((performance.now() - st.turnT0) / 1000, 0)} s)`);
  } else if (ev.type === 'token') {
    status(`turn ${ev.turn}: generating — ${ev.tokens} tokens, ${fmt(ev.tok_s)} tok/s`);
  } else if (ev.type === 'turn') {
    const li = turnItem(ev.turn);
    li.className = ev.valid ? 'done' : 'done invalid';
    li.replaceChildren(
      el('div', { class: 'head' }, el('span', { class: 'n' }, `turn ${ev.turn}`), el('code', { class: 'action' }, ev.action || '(no action)'),
        ev.valid ? '' : el('span', { class: 'bad' }, ` invalid: ${ev.invalid_reason || ''}`)),
      el('div', { class: 'summary' }, el('b', {}, 'internal state: '), ev.summary || '(none)'),
      el('div', { class: 'nums' },
        `on the ${ev.page} page · ${ev.prompt_tokens} prompt tokens · ${ev.context_tokens} in context at the end · ` +
          `prefill ${ev.prefill_tokens} (${fmt(ev.prefill_tok_s)} tok/s) · generated ${ev.decode_tokens} (${fmt(ev.decode_tok_s)} tok/s) · ${fmt(ev.seconds)} s` +
          (ev.problems.length ? ` · repaired: ${ev.problems.join(', ')}` : '')),
      el('details', {}, el('summary', {}, 'what the model read and wrote'),
        el('div', { class: 'obs' }, el('b', {}, 'observation: '), ev.observation),
        el('pre', { class: 'out' }, ev.output)),
    );
    const mode = st.runMode;
    (st.live[mode] ||= []).push({ turn: ev.turn, prompt_tokens: ev.prompt_tokens, context_tokens: ev.context_tokens });
    drawPlot();
    const d = storeDoc();
    $('store-page').textContent = d.querySelector('#thankyou') ? 'done' : (d.title || '').toLowerCase() || 'page';
  }
}

function showResult(r) {
  const box = $('result');
  const ep = r.episode;
  const kids = [];
  let headline;
  if (r.error && !r.stopped) headline = el('div', { class: 'reward bad' }, `episode ended by an error: ${r.error}`);
  else if (r.stopped) headline = el('div', { class: 'reward' }, `stopped after ${ep.turns} turn(s)`);
  else if (!ep.done) headline = el('div', { class: 'reward' }, `turn limit (${ep.turns}) reached without buying: reward ${fmt(ep.reward, 2)}`);
  else if (!r.scored) headline = el('div', { class: 'reward' }, 'bought — a typed goal has no target product, so the purchase is not scored');
  else headline = el('div', { class: 'reward' }, `reward ${fmt(r.reward, 3)} `, el('span', { class: ep.success ? 'ok' : 'meh' }, ep.success ? '(success)' : '(partial)'));
  kids.push(headline);
  kids.push(el('div', { class: 'meta' },
    `${ep.mode} mode · ${ep.turns} turns · peak context ${ep.peak_context_tokens} tokens · ${ep.invalid_actions} invalid actions · ${fmt(ep.seconds)} s · ${r.model.backend}`));
  if (r.purchased) {
    kids.push(el('div', { class: 'meta' }, `bought ${r.purchased.asin} “${r.purchased.title}” with ${r.purchased.options.map((o) => o.join(': ')).join(', ') || 'no options'}`));
  }
  if (r.reward_info) {
    const rows = Object.entries(r.reward_info).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, typeof v === 'number' ? fmt(v, 3) : String(v))));
    kids.push(el('table', { class: 'breakdown' }, el('caption', {}, 'reward breakdown (WebShop: type factor × matched attributes, options and price)'), ...rows));
  }
  box.replaceChildren(...kids);
  box.hidden = false;
}

async function run() {
  if (st.running) return;
  showGoal();
  if (st.goal.text === '') return status('type a goal first', 'error');
  st.running = true;
  for (const id of ['run', 'random-goal', 'model-choice', 'backend']) $(id).disabled = true;
  $('stop').disabled = false;
  $('result').hidden = true;
  $('turns').replaceChildren();
  try {
    status('preparing the model…');
    await ensureModel();
    st.runMode = $('mode').value;
    st.live[st.runMode] = [];
    drawPlot();
    const opts = {
      mode: st.runMode,
      maxTurns: Number($('max-turns').value) || 10,
      maxTokens: Number($('max-tokens').value) || 128,
      constrain: $('constrain').checked,
      seed: 0,
    };
    status('running…');
    const r = await st.demo.run(storeDoc(), st.goal, opts, onEvent);
    showResult(r);
    // A lost GPU device takes the model with it (the engine drops it): Run loads it again.
    if (r.error && !r.stopped && !st.demo.hasModel()) status('the model was lost with its GPU device: press Run to load it again', 'error');
    else status(r.stopped ? 'stopped' : 'episode finished', r.error && !r.stopped ? 'error' : 'ok');
    document.body.dataset.episode = 'done';
  } catch (e) {
    console.warn('mem1:', e);
    status(String(e.message || e), 'error');
    document.body.dataset.episode = 'failed';
  } finally {
    st.running = false;
    for (const id of ['run', 'model-choice', 'backend']) $(id).disabled = false;
    $('stop').disabled = true;
    showGoal();
  }
}

// ---------------------------------------------------------------- start
async function main() {
  const frame = $('store');
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
  st.webgpu = await checkWebGPU();
  explainWebGPU(st.webgpu);
  document.querySelectorAll('input[name=goal-kind]').forEach((r) => r.addEventListener('change', showGoal));
  $('goal-input').addEventListener('change', showGoal);
  $('random-goal').addEventListener('click', randomGoal);
  $('model-choice').addEventListener('change', () => {
    $('model-url').hidden = $('model-choice').value !== 'url';
    $('model-file').hidden = $('model-choice').value !== 'file';
  });
  $('max-turns').addEventListener('change', drawPlot);
  $('run').addEventListener('click', run);
  $('stop').addEventListener('click', () => {
    st.demo.stop();
    status('stopping at the next token…');
  });
  // ?goal=N pins a template goal (reproducible links and tests); otherwise a random one.
  const pinned = new URLSearchParams(location.search).get('goal');
  if (pinned !== null && /^\d+$/.test(pinned) && Number(pinned) < st.demo.goalCount()) {
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
