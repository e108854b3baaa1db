// Acting in the shopper's tab: injects content.js and calls it through scripting.executeScript.
// Runs in the Chromium service worker (for the engine in the offscreen document, which has no tabs
// API) and in Firefox's background page.
import { api, shoppable } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MAX_HTML = 64 * 1024 * 1024;

/// A content script's answer comes from the page's process: its shape is checked before anything
/// uses it.
function checked(snap) {
  if (typeof snap?.doc !== 'string' || typeof snap.url !== 'string' || typeof snap.html !== 'string') {
    throw new Error('the page answered with something that is not a snapshot');
  }
  if (!shoppable(snap.url)) throw new Error(`the tab shows ${snap.url.slice(0, 200)}, not a web page`);
  if (snap.html.length > MAX_HTML) throw new Error(`the page is too large to read (${Math.round(snap.html.length / 2 ** 20)} MB)`);
  return { doc: snap.doc, url: snap.url, title: String(snap.title ?? '').slice(0, 500), html: snap.html };
}

/// Only these commands reach the content script: a click on a snapshot id (with the text and
/// destination the agent saw), a search typed into one (with the form action it saw), or a
/// choice selected in a menu.
function command(cmd) {
  const node = String(cmd?.node ?? '');
  const text = (x) => typeof x === 'string' && x.length <= 2000;
  const maybe = (x) => x == null || text(x);
  const ok = /^\d{1,9}$/.test(node) && ((cmd.kind === 'click' && text(cmd.key) && text(cmd.text) && maybe(cmd.target))
    || (cmd.kind === 'search' && text(cmd.text) && maybe(cmd.action))
    || (cmd.kind === 'select' && text(cmd.key)));
  if (!ok) throw new Error(`refused a malformed command: ${JSON.stringify(cmd)?.slice(0, 200)}`);
  if (cmd.kind === 'click') return { kind: 'click', node, key: cmd.key, text: cmd.text, target: cmd.target ?? null };
  if (cmd.kind === 'search') return { kind: 'search', node, text: cmd.text, action: cmd.action ?? null };
  return { kind: 'select', node, key: cmd.key };
}

async function call(tabId, func, args = []) {
  const [r] = await api.scripting.executeScript({ target: { tabId }, func, args });
  // Firefox reports an exception in the injected function as `error` (Chromium rejects).
  const error = /** @type {any} */ (r)?.error;
  if (error) throw new Error(String(error.message || error));
  return r?.result;
}

async function inject(tabId) {
  const tab = await api.tabs.get(tabId);
  if (!shoppable(tab.url)) throw new Error(`the tab shows ${tab.url || 'nothing'}, not a web page`);
  await api.scripting.executeScript({ target: { tabId }, files: ['content.js'] });
}

/// The page in the tab now, once it has loaded: {doc, url, title, html}.
export async function snapshot(tabId) {
  await settle(tabId);
  await inject(tabId);
  return checked(await call(tabId, () => globalThis.__mem1.snapshot()));
}

/// Whether the tab's page can be read: loaded, or its document parsed for a while already (a page
/// whose images or ads never finish loading is still read).
async function ready(tabId, since) {
  const tab = await api.tabs.get(tabId);
  if (tab.status === 'complete') return true;
  if (Date.now() - since < 3000) return false;
  const state = await call(tabId, () => document.readyState).catch(() => 'loading');
  return state === 'interactive' || state === 'complete';
}

/// Waits until the tab's page can be read.
async function settle(tabId, ms = 30_000) {
  const t0 = Date.now();
  while (!(await ready(tabId, t0))) {
    if (Date.now() - t0 > ms) throw new Error(`the page did not load in ${ms / 1000} s`);
    await sleep(100);
  }
}

/// Carries out a command (see `command`) and returns the snapshot of the page it led to:
/// a new document when the action navigated (waited for until it has loaded), else the same page
/// after a moment (a script may have changed it).
export async function act(tabId, cmd) {
  const before = await call(tabId, (c) => globalThis.__mem1.act(c), [command(cmd)]);
  if (typeof before?.doc !== 'string') throw new Error('the page did not confirm the action');
  const t0 = Date.now();
  for (;;) {
    await sleep(150);
    if (await ready(tabId, t0)) {
      await inject(tabId);
      const doc = await call(tabId, () => globalThis.__mem1.doc());
      // Injected into the page it led to (or the same page, a moment later): read it.
      if (doc !== before.doc || Date.now() - t0 > 1500) return checked(await call(tabId, () => globalThis.__mem1.snapshot()));
    } else if (Date.now() - t0 > 30_000) {
      throw new Error('the page did not finish loading in 30 s');
    }
  }
}
