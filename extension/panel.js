// The side panel (Chromium) / sidebar (Firefox): the shopper types what to buy and presses Go;
// each turn's action, the agent's internal state, tokens in context (MEM1 keeps it flat) and
// speed are shown live; purchases wait for the shopper's confirmation; Stop ends the episode.
//
// The agent acts in one tab: the active tab of this window when Go is pressed, or `?tab=ID` when
// the panel is opened as a page of its own.
import { api, hasOffscreen, shoppable } from './api.js';
import * as settings from './settings-store.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let port = null;
let points = [];

function state(s, text) {
  document.body.dataset.state = s;
  if (text != null) $('status').textContent = text;
}

async function targetTab() {
  if (params.has('tab')) return api.tabs.get(Number(params.get('tab')));
  const [tab] = await api.tabs.query({ active: true, currentWindow: true });
  return tab;
}

async function connect() {
  if (port) return port;
  if (hasOffscreen) {
    const r = await api.runtime.sendMessage({ to: 'bg', op: 'ensure-host' });
    if (r?.error) throw new Error(`the engine could not start: ${r.error}`);
  }
  port = api.runtime.connect({ name: 'mem1-agent' });
  port.onMessage.addListener(onMessage);
  port.onDisconnect.addListener(() => {
    port = null;
    // The host was closed (browser memory pressure, extension reload): the next Go starts a new
    // one and reloads the model from the cache.
    if (document.body.dataset.state === 'running') {
      running(false);
      state('error', 'The engine stopped unexpectedly. Press Go to start it again.');
    }
  });
  return port;
}

function running(on) {
  $('go').disabled = on;
  $('stop').disabled = !on;
  $('task').disabled = on;
}

function fmt(n, d = 0) {
  return Number.isFinite(n) ? n.toFixed(d) : '–';
}

function drawChart() {
  const svg = $('chart');
  const W = 300, H = 90, pad = 18;
  const maxY = Math.max(500, ...points.map((p) => p.y)) * 1.1;
  const maxX = Math.max(10, points.length);
  const x = (i) => pad + ((W - 2 * pad) * (i - 1)) / Math.max(1, maxX - 1);
  const y = (v) => H - pad + 4 - ((H - 2 * pad) * v) / maxY;
  const el = (tag, attrs, text) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text != null) e.textContent = text;
    return e;
  };
  svg.replaceChildren(
    el('text', { x: 2, y: 10 }, Math.round(maxY)),
    el('text', { x: 2, y: H - 2 }, 'turn 1'),
    el('text', { x: W - 40, y: H - 2 }, `turn ${maxX}`),
    el('polyline', { points: points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ') }),
    ...points.map((p) => el('circle', { cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: 2.5 })),
  );
  svg.dataset.points = String(points.length);
}

function addTurn(ev) {
  const li = document.createElement('li');
  li.className = 'done';
  const a = document.createElement('div');
  a.className = 'action' + (ev.valid ? '' : ' invalid');
  a.textContent = ev.action || '(no action)';
  const why = document.createElement('div');
  if (!ev.valid && ev.invalid_reason) {
    why.className = 'invalid';
    why.textContent = ev.invalid_reason;
  }
  const s = document.createElement('div');
  s.className = 'summary';
  s.textContent = ev.summary || '';
  const n = document.createElement('div');
  n.className = 'nums';
  n.textContent = `${ev.context_tokens} tokens in context · ${fmt(ev.prefill_tok_s)} prefill / ${fmt(ev.decode_tok_s, 1)} decode tok/s · ${fmt(ev.seconds, 1)} s`;
  li.append(a, why, s, n);
  $('turns').append(li);
}

let confirmId = null;
async function onMessage(msg) {
  switch (msg.type) {
    case 'status':
      $('status').textContent = msg.text;
      break;
    case 'load':
      $('load').hidden = false;
      $('load').max = msg.total || 1;
      $('load').value = msg.done;
      $('status').textContent = `Loading the model: ${Math.round((100 * msg.done) / (msg.total || 1))} %`;
      break;
    case 'loaded':
      $('load').hidden = true;
      $('model-name').textContent = msg.info.backend;
      $('model-name').title = JSON.stringify(msg.info);
      break;
    case 'event': {
      const ev = msg.ev;
      if (ev.type === 'turn_start') {
        $('turn').textContent = `${ev.turn}/${maxTurns}`;
        $('status').textContent = `Turn ${ev.turn}: reading the page (${ev.prompt_tokens} tokens)`;
      } else if (ev.type === 'prefill') {
        $('status').textContent = `Turn ${ev.turn}: reading the page, ${ev.done}/${ev.tokens} tokens`;
      } else if (ev.type === 'token') {
        $('speed').textContent = fmt(ev.tok_s, 1);
        $('status').textContent = `Turn ${ev.turn}: thinking (${ev.tokens} tokens)`;
      } else if (ev.type === 'turn') {
        $('context').textContent = String(ev.context_tokens);
        $('state').textContent = ev.summary || '(empty)';
        points.push({ x: ev.turn, y: ev.context_tokens });
        drawChart();
        addTurn(ev);
      }
      break;
    }
    case 'confirm': {
      const host = (() => {
        try {
          return new URL(msg.url).host;
        } catch {
          return msg.url;
        }
      })();
      if ((await settings.load()).autoConfirm) {
        port?.postMessage({ type: 'confirm-reply', id: msg.id, ok: true });
        $('status').textContent = `Auto-confirmed “${msg.target}” (settings)`;
        break;
      }
      confirmId = msg.id;
      $('confirm-text').textContent = `The agent wants to click “${msg.target}” on ${host}. This may buy something. Allow it?`;
      $('confirm').hidden = false;
      $('confirm-yes').focus();
      state('confirm', 'Waiting for your confirmation');
      break;
    }
    case 'end': {
      running(false);
      $('load').hidden = true;
      const r = msg.result;
      const ep = r.episode || {};
      const how = r.purchased ? 'Purchased (confirmed by you).' : r.declined ? 'You declined the purchase; nothing was bought.'
        : r.stopped ? 'Stopped.' : r.error ? `Ended by an error: ${r.error}` : `No purchase within ${ep.turns} turns.`;
      $('result').hidden = false;
      $('result').textContent = `${how} ${ep.turns ?? 0} turns, peak ${ep.peak_context_tokens ?? '–'} tokens in context, ${fmt(ep.seconds, 1)} s.`;
      state(r.purchased ? 'done' : r.error && !r.stopped ? 'error' : 'ended', how);
      break;
    }
    case 'error':
      running(false);
      $('load').hidden = true;
      state('error', msg.message);
      break;
  }
}

function answer(ok) {
  if (confirmId == null) return;
  port?.postMessage({ type: 'confirm-reply', id: confirmId, ok });
  confirmId = null;
  $('confirm').hidden = true;
  state('running', ok ? 'Confirmed: buying' : 'Declined');
}

let maxTurns = 10;
async function go(e) {
  e.preventDefault();
  const task = $('task').value.trim();
  if (!task || $('go').disabled) return;
  // The panel leaves the last episode's state at once (a second press cannot start a second run,
  // and nothing reads the old result as this run's); `data-run` counts the runs started.
  running(true);
  state('starting', 'Starting');
  const run = String(Number(document.body.dataset.run || 0) + 1);
  document.body.dataset.run = run;
  $('result').hidden = true;
  $('turns').replaceChildren();
  $('state').textContent = '–';
  points = [];
  drawChart();
  try {
    const tab = await targetTab();
    if (!tab || !shoppable(tab.url)) throw new Error('Open a shop’s page (http or https) in this tab first.');
    // Chromium grants the manifest's host permissions at install; Firefox may not have them yet.
    const origins = [`${new URL(tab.url).origin}/*`];
    if (!(await api.permissions.contains({ origins }))) {
      const ok = await api.permissions.request({ origins }).catch(() => false);
      if (!ok) throw new Error(`The extension may not read ${new URL(tab.url).host} yet: allow it in the add-on’s permissions, then press Go again.`);
    }
    const s = await settings.load();
    maxTurns = s.maxTurns;
    // Stopped before it started (or stopped and started again: that later press runs).
    if (document.body.dataset.state !== 'starting' || document.body.dataset.run !== run) return;
    state('running', 'Starting the engine');
    const p = await connect();
    p.postMessage({
      type: 'start', task, tabId: tab.id, model: s.model, backend: s.backend,
      opts: { mode: 'mem1', maxTurns: s.maxTurns, maxTokens: s.maxTokens, constrain: true },
    });
  } catch (err) {
    running(false);
    state('error', err.message);
  }
}

$('ask').addEventListener('submit', go);
$('stop').addEventListener('click', () => {
  if (document.body.dataset.state === 'starting') {
    running(false);
    state('ended', 'Stopped before it started.');
    return;
  }
  port?.postMessage({ type: 'stop' });
  answer(false);
  $('status').textContent = 'Stopping…';
});
$('confirm-yes').addEventListener('click', () => answer(true));
$('confirm-no').addEventListener('click', () => answer(false));
settings.load().then((s) => ($('model-name').textContent = s.model.source === 'bundled' ? 'bundled MEM1 policy (SmolLM2-135M + LoRA)' : s.model.name || s.model.key));
drawChart();
if (!navigator.gpu) $('model-name').title = 'No WebGPU here: the agent runs on the CPU backend.';
state('idle');
