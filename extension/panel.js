// The side panel (Chromium) / sidebar (Firefox): the shopper types what to buy and presses Go;
// the shared run view (ui/run-view.js, as in the demo) shows each turn's action, the agent's
// internal state, what the model read and wrote, tokens in context (MEM1 keeps it flat) and
// speed; purchases wait for the shopper's confirmation; Stop ends the episode. The run belongs to
// the engine host: a panel closed and opened again reattaches and shows it. Past tasks are kept
// (settings-store.js) and listed below, clearable.
//
// The agent acts in one tab: the active tab of this window when Go is pressed, or `?tab=ID` when
// the panel is opened as a page of its own.
import { api, hasOffscreen, shoppable } from './api.js';
import * as settings from './settings-store.js';
import { $, el } from './ui/dom.js';
import { specName } from './ui/policy.js';
import { RunView } from './ui/run-view.js';

const params = new URLSearchParams(location.search);
/** @type {chrome.runtime.Port | null} */
let port = null;
/** @type {number | null} */
let confirmId = null;
const view = new RunView($('live'), (text) => ($('status').textContent = text));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));

/** @param {string} s @param {string} [text] */
function state(s, text) {
  document.body.dataset.state = s;
  if (text != null) $('status').textContent = text;
}

function running(/** @type {boolean} */ on) {
  input('go').disabled = on;
  input('stop').disabled = !on;
  input('task').disabled = on;
}

async function targetTab() {
  if (params.has('tab')) return api.tabs.get(Number(params.get('tab')));
  const [tab] = await api.tabs.query({ active: true, currentWindow: true });
  return tab;
}

/** The port to the engine host, started first where it lives in an offscreen document. */
async function connect() {
  if (port) return port;
  if (hasOffscreen) {
    const r = await api.runtime.sendMessage({ to: 'bg', op: 'ensure-host' });
    if (r?.error) throw new Error(`the engine could not start: ${r.error}`);
  }
  const p = api.runtime.connect({ name: 'mem1-agent' });
  p.onMessage.addListener(onMessage);
  p.onDisconnect.addListener(() => {
    port = null;
    // The host was closed (browser memory pressure, extension reload): the next Go starts a new
    // one and reloads the model.
    if (['running', 'confirm'].includes(document.body.dataset.state || '')) {
      running(false);
      state('error', 'The engine stopped unexpectedly. Press Go to start it again.');
    }
  });
  port = p;
  return p;
}

/** Shows a run the host holds (this panel's own, or one started before this panel opened). @param {any} run */
function show(run) {
  input('task').value = run.task;
  view.begin({ mode: run.opts?.mode || 'mem1', maxTurns: run.opts?.maxTurns || 10 });
  for (const msg of run.log) onMessage(msg);
}

/** @param {any} msg */
function onMessage(msg) {
  switch (msg.type) {
    case 'hello':
      if (msg.run) {
        // Reattached to a run started before this panel opened.
        show(msg.run);
        running(true);
        state('running', 'The agent is running; this panel reattached to it.');
        if (msg.run.confirm) onMessage(msg.run.confirm);
      } else if (msg.last && document.body.dataset.state === 'idle') {
        show(msg.last);
        const end = view.finish(msg.last.result);
        state(end.state, `The last task: ${end.how}`);
      }
      break;
    case 'status':
      $('status').textContent = msg.text;
      break;
    case 'load': {
      const bar = /** @type {HTMLProgressElement} */ ($('load'));
      bar.hidden = false;
      bar.max = msg.total || 1;
      bar.value = msg.done;
      $('status').textContent = `Loading the model: ${Math.round((100 * msg.done) / (msg.total || 1))} %`;
      break;
    }
    case 'loaded':
      $('load').hidden = true;
      $('model-name').textContent = msg.info.arch === 'served' ? msg.label : `${msg.label} on ${msg.info.backend}`;
      $('model-name').title = JSON.stringify(msg.info);
      break;
    case 'event':
      view.event(msg.ev);
      break;
    case 'confirm':
      confirmAsked(msg);
      break;
    case 'confirmed':
      // Answered (here or in another panel).
      if (confirmId === msg.id) {
        confirmId = null;
        $('confirm').hidden = true;
        state('running', msg.ok ? 'Confirmed: buying' : 'Declined');
      }
      break;
    case 'end': {
      running(false);
      $('load').hidden = true;
      $('confirm').hidden = true;
      confirmId = null;
      const end = view.finish(msg.result);
      state(end.state, end.how);
      break;
    }
    case 'error':
      running(false);
      $('load').hidden = true;
      state('error', msg.message);
      break;
  }
}

/** The purchase question: Cancel is the default (Enter on it, or Escape, declines). @param {any} msg */
function confirmAsked(msg) {
  let host = msg.url;
  try {
    host = new URL(msg.url).host;
  } catch {}
  confirmId = msg.id;
  $('confirm-text').textContent = `The agent wants to ${msg.action?.startsWith('search[') ? 'run' : 'click'} “${msg.target}” on ${host}. This may buy something. Allow it?`;
  $('confirm-why').textContent = `${msg.reason || ''}${msg.url ? ` — it leads to ${msg.url}` : ''}`;
  $('confirm').hidden = false;
  input('confirm-no').focus();
  state('confirm', 'Waiting for your confirmation');
}

/** @param {boolean} ok */
function answer(ok) {
  if (confirmId == null) return;
  port?.postMessage({ type: 'confirm-reply', id: confirmId, ok });
}

/** The match pattern of a page's site, as permissions name it (scheme and host: any port). @param {string} url */
function sitePattern(url) {
  const u = new URL(url);
  return `${u.protocol}//${u.hostname}/*`;
}

/**
 * The tab the agent would shop in (`origin`: its site's match pattern), and whether the extension
 * may read its site, kept current so
 * that Go can ask for the site's permission inside the click itself (Firefox allows
 * `permissions.request` only there, before anything is awaited).
 * @type {{ id: number, url: string, origin: string | null, granted: boolean } | null}
 */
let target = null;

async function watchTarget() {
  const tab = await targetTab().catch(() => null);
  const url = tab?.url || '';
  const origin = shoppable(url) ? sitePattern(url) : null;
  const granted = origin ? await api.permissions.contains({ origins: [origin] }).catch(() => false) : false;
  target = tab && Number.isInteger(tab.id) ? { id: /** @type {number} */ (tab.id), url, origin, granted } : null;
}

/** Go: asks for the site's permission first if needed (inside the click), then starts. @param {SubmitEvent} e */
function go(e) {
  e.preventDefault();
  const task = input('task').value.trim();
  if (!task || input('go').disabled) return;
  const asked = target?.origin && !target.granted ? api.permissions.request({ origins: [target.origin] }) : null;
  start(task, asked);
}

/** @param {string} task @param {Promise<boolean> | null} asked the permission request Go made */
async function start(task, asked) {
  // The panel leaves the last episode's state at once (a second press cannot start a second run,
  // and nothing reads the old result as this run's); `data-run` counts the runs started.
  running(true);
  state('starting', 'Starting');
  const run = String(Number(document.body.dataset.run || 0) + 1);
  document.body.dataset.run = run;
  try {
    if (asked && !(await asked.catch((err) => { throw new Error(`The site's permission could not be asked for: ${err.message}`); }))) {
      throw new Error(`You did not allow the extension to read ${new URL(/** @type {string} */ (target?.url)).host}: press Go again to be asked again.`);
    }
    const tab = await targetTab();
    if (!tab || !shoppable(tab.url)) throw new Error('Open a shop’s page (http or https) in this tab first.');
    const origins = [sitePattern(/** @type {string} */ (tab.url))];
    if (!(await api.permissions.contains({ origins }))) {
      // The tab changed to a site not asked for (or the request came too late): ask from the next click.
      await watchTarget();
      throw new Error(`The extension may not read ${new URL(/** @type {string} */ (tab.url)).host} yet: press Go to be asked for it.`);
    }
    const s = await settings.load();
    // Stopped before it started (or stopped and started again: that later press runs).
    if (document.body.dataset.state !== 'starting' || document.body.dataset.run !== run) return;
    const opts = { mode: 'mem1', maxTurns: s.maxTurns, maxTokens: s.maxTokens, constrain: true, autoConfirm: s.autoConfirm, demoStore: s.demoStore };
    view.begin(opts);
    state('running', 'Starting the engine');
    const p = await connect();
    p.postMessage({ type: 'start', task, tabId: tab.id, model: s.model, backend: s.backend, opts });
  } catch (err) {
    running(false);
    state('error', /** @type {Error} */ (err).message);
  }
}

async function showHistory() {
  const past = await settings.history();
  $('history').replaceChildren(...past.map((h) => el('li', {},
    el('div', {}, el('b', {}, h.task)),
    el('div', { class: 'meta' }, `${new Date(h.ended).toLocaleString()} · ${h.url ? new URL(h.url).host + ' · ' : ''}${h.outcome}`),
    el('div', { class: 'meta' }, h.actions.length ? `${h.actions.length} actions: ` : 'no actions', ...h.actions.flatMap((a, i) => [i ? ' → ' : '', el('code', {}, a)])))));
  input('history-clear').disabled = !past.length;
  $('past').dataset.count = String(past.length);
}

$('ask').addEventListener('submit', go);
$('stop').addEventListener('click', () => {
  if (document.body.dataset.state === 'starting') {
    running(false);
    state('ended', 'Stopped before it started.');
    return;
  }
  port?.postMessage({ type: 'stop' });
  $('status').textContent = 'Stopping…';
});
$('confirm-yes').addEventListener('click', () => answer(true));
$('confirm-no').addEventListener('click', () => answer(false));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('confirm').hidden) {
    e.preventDefault();
    answer(false);
  }
});
$('history-clear').addEventListener('click', () => settings.forget());
watchTarget();
api.tabs.onActivated.addListener(() => watchTarget());
api.tabs.onUpdated.addListener((_id, change) => change.url && watchTarget());
api.permissions.onAdded.addListener(() => watchTarget());
api.permissions.onRemoved.addListener(() => watchTarget());
api.storage.onChanged.addListener((changes, area) => area === 'local' && 'history' in changes && showHistory());
settings.load().then((s) => ($('model-name').textContent = specName(s.model)));
if (!(/** @type {any} */ (navigator).gpu)) $('model-name').title = 'No WebGPU here: the agent runs on the CPU backend.';
state('idle');
showHistory();
// A run the engine host holds (started before this panel opened) is shown at once. In Chromium the
// host lives in an offscreen document that exists only once an agent has run: none, no run.
(async () => {
  const up = !hasOffscreen || (await api.runtime.sendMessage({ to: 'bg', op: 'has-host' }))?.value;
  if (up) await connect();
})().catch((e) => console.warn(`mem1: could not reach the engine host: ${e?.message || e}`));
