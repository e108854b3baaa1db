// The Chromium extension, end to end (run scripts/build-extension.sh first): headless Chromium with
// extension/dist/chrome loaded unpacked, the panel opened as a page (panel.html?tab=ID, the side
// panel's own page, aimed at one tab), the bundled model, and real pages:
//
//  1. The project's store (`mem1 shop serve`): the panel is given a session's goal and Go, with
//     the bundled policy (SmolLM2-135M and the trained LoRA adapter); after the first turn the
//     panel is closed and another opened on the same tab: it must reattach to the run (the turns
//     so far shown) while the run goes on. The agent's actions must reach the shop tab (its URL
//     changes: search, results, item, ...), the panel must show each turn with what the model
//     read and wrote, the internal state and the context chart, and its Buy Now must first raise
//     the confirmation with the tab still on the item page; confirmed, the tab reaches the
//     store's done page, and the task is in the panel's history. A second run is stopped with
//     Stop after its first turn; a third, with "buy without asking" set for this store, buys
//     without the question and the panel says so.
//  2. A model downloaded into the extension's cache from a local server: interrupted after two
//     chunks (kept as a partial, never opened), resumed from there, verified by sha256; a copy with
//     a wrong sha256 is refused and deleted. The next part runs on the cached copy.
//  3. A checkout page (tests/pages/, served by tests/serve.mjs): the agent's “Place order” click
//     must first raise the confirmation dialog with the page untouched; declining ends the episode
//     with nothing bought (Enter on the dialog, whose default is Cancel, and Escape; "buy without
//     asking", set for the demo store, is ignored here and the panel says so); a run confirmed
//     with a click places the order (the tab reaches ordered.html).
//
//  4. Real Amazon and eBay pages (../shared/webshop/pages, served locally; their absence fails
//     the test): observed through the content script within the live-page budget (cut visibly,
//     search box found), and one agent turn on Amazon's results page that stays on the site.
//  5. The panel's history holds every task above, newest first, and Clear empties it.
//  6. A policy served by llama.cpp's server (llama-cpp-python from scripts/llama-venv.sh, the base
//     model with the shipped LoRA), chosen in the settings: one turn on the store from the panel,
//     which names the served model and its GBNF constraint; an unreachable server is said so.
//
// Parts 3 and 4 use the zero-shot base model from the cache with TURNS turns of TOKENS tokens;
// the store episode gets STORE_TURNS turns of 224 tokens (the trained policy's turns are ~100).
// Screenshots in tests/out/extension-*.png.
//
//   node tests/extension.mjs  (env: SESSION=fixed_0 STORE_TURNS=8 TURNS=3 TOKENS=64
//                              CHROMIUM=/usr/bin/chromium MEM1=target/release/mem1 TIMEOUT_S=600 VERBOSE=1)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { server, withExtension } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const ext = path.join(root, 'extension/dist/chrome');
const out = path.join(here, 'out');
const session = process.env.SESSION || 'fixed_0';
const turns = Number(process.env.TURNS || 3);
const storeTurns = Number(process.env.STORE_TURNS || 8);
const tokens = Number(process.env.TOKENS || 64);
const timeoutMs = Number(process.env.TIMEOUT_S || 600) * 1000;
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const log = (m) => console.error(`extension: [${secs()} s] ${m}`);

function fail(msg) {
  console.error(`extension: FAIL: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}

if (!fs.existsSync(path.join(ext, 'manifest.json'))) fail(`${ext} is missing: run scripts/build-extension.sh first`);
const bin = path.resolve(root, process.env.MEM1 || 'target/release/mem1');
if (!fs.existsSync(bin)) fail(`${bin} is missing: cargo build --release`);
const shop = await server(bin, ['shop', 'serve', '--port', '0'], /on (http:\/\/127\.0\.0\.1:\d+)\//, 'stderr');
// tests/pages plus, under real/, copies of the real shop pages (with .html names, so they are
// served as HTML).
const pagesRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'mem1-pages-'));
for (const f of fs.readdirSync(path.join(here, 'pages'))) fs.copyFileSync(path.join(here, 'pages', f), path.join(pagesRoot, f));
const realDir = path.join(pagesRoot, 'real');
fs.mkdirSync(realDir);
const pages = await server(process.execPath, [path.join(here, 'serve.mjs'), pagesRoot, '0'], /listening (http:\/\/127\.0\.0\.1:\d+)/, 'stdout');
const modelHost = await server(process.execPath, [path.join(here, 'serve.mjs'), path.join(root, '.cache/models'), '0'], /listening (http:\/\/127\.0\.0\.1:\d+)/, 'stdout');
log(`store at ${shop.url}, checkout pages at ${pages.url}`);
const { context, profile } = await withExtension(ext, 'mem1-ext-');
const errors = [];
try {
  const sw = context.serviceWorkers()[0] || (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
  const id = new URL(sw.url()).host;
  log(`extension ${id} loaded`);
  await sw.evaluate((s) => chrome.storage.local.set(s), { maxTurns: storeTurns, maxTokens: 224 });
  // The keyboard shortcut that opens the side panel (the manifest's _execute_action command).
  const commands = await sw.evaluate(() => chrome.commands.getAll());
  const shortcut = commands.find((x) => x.name === '_execute_action')?.shortcut;
  if (!/Alt\+Shift\+M/.test(shortcut || '')) fail(`no Alt+Shift+M shortcut for the side panel: ${JSON.stringify(commands)}`);
  fs.mkdirSync(out, { recursive: true });

  /// A shop tab at `url`, its id as the extension sees it, and the URLs it visits.
  async function openTab(url) {
    const tab = await context.newPage();
    const visited = [];
    tab.on('framenavigated', (f) => f === tab.mainFrame() && visited.push(f.url()));
    // Not waiting for `load`: offline, a real shop page's images and scripts never finish.
    await tab.goto(url, { waitUntil: 'domcontentloaded' });
    const tabId = await sw.evaluate(async (u) => (await chrome.tabs.query({})).find((t) => t.url === u)?.id, tab.url());
    if (!Number.isInteger(tabId)) fail(`the tab ${url} is not visible to the extension`);
    return { tab, tabId, visited };
  }

  async function openPanel(tabId) {
    const panel = await context.newPage();
    panel.on('console', (m) => {
      if (m.type() === 'error') errors.push(`panel console: ${m.text()}`);
      if (process.env.VERBOSE) console.error(`[panel ${m.type()}] ${m.text()}`);
    });
    panel.on('pageerror', (e) => errors.push(`panel error: ${e.message}`));
    await panel.goto(`chrome-extension://${id}/panel.html?tab=${tabId}`);
    return panel;
  }

  /// Types the task, presses Go and waits until `until` (a page predicate) holds.
  async function go(panel, task, until = () => ['done', 'ended', 'error'].includes(document.body.dataset.state)) {
    await panel.fill('#task', task);
    const run = Number((await panel.getAttribute('body', 'data-run')) || 0) + 1;
    await panel.click('#go');
    const tick = setInterval(() => panel.textContent('#status').then((s) => log(`  ${s}`), () => {}), 30_000);
    // This run's outcome, not the one the panel still shows from the run before: the panel counts
    // the run and leaves the old state in the same click handler. A press that did not start the
    // run (seen once in CI, right after a declined purchase) is repeated, at most twice; a press
    // during a run is ignored by the panel (Go is disabled), so this cannot start two runs.
    // Every wait on the panel polls on a timer: Playwright's default, requestAnimationFrame, does
    // not run while the panel's tab is in the background or its renderer is busy.
    for (let i = 0; ; i++) {
      const started = await panel.waitForFunction((run) => Number(document.body.dataset.run) === run, run, { timeout: 10_000, polling: 250 }).then(() => true, () => false);
      if (started) break;
      if (i === 2) fail(`Go did not start run ${run}: ${await panel.textContent('#status')}`);
      log(`  Go did not start run ${run}; pressing it again`);
      await panel.click('#go', { timeout: 5_000 }).catch(() => {});
    }
    await panel
      .waitForFunction(until, null, { timeout: timeoutMs, polling: 250 })
      .catch(async () => fail(`no progress within ${timeoutMs / 1000} s: ${await panel.textContent('#status')}`))
      .finally(() => clearInterval(tick));
  }

  async function shown(panel) {
    return panel.evaluate(() => ({
      state: document.body.dataset.state,
      status: document.getElementById('status').textContent,
      turns: [...document.querySelectorAll('#turns li.done .action')].map((a) => a.textContent),
      read: [...document.querySelectorAll('#turns li.done')].map((li) => [li.querySelector('details .obs')?.textContent.length || 0,
        li.querySelector('details pre.out')?.textContent.length || 0]),
      points: Number(document.getElementById('chart').dataset.livePoints || 0),
      memory: document.getElementById('state').textContent,
      result: document.getElementById('result').hidden ? '' : document.getElementById('result').textContent,
      notes: [...document.querySelectorAll('#turns li.note')].map((li) => li.textContent),
      history: [...document.querySelectorAll('#history li')].map((li) => [...li.children].map((c) => c.textContent).join(' | ')),
    }));
  }

  // --- 1. the store ------------------------------------------------------------------------
  const goal = await (await fetch(`${shop.url}/api/goal/${session}`)).json();
  const store = await openTab(`${shop.url}/${session}`);
  const first = await openPanel(store.tabId);
  log(`store task: ${goal.instruction_text}`);
  const asked = () => !document.getElementById('confirm').hidden || ['done', 'ended', 'error'].includes(document.body.dataset.state);
  // The first turn in this panel, then the panel closes; another one opened on the tab reattaches.
  await go(first, goal.instruction_text, () => document.querySelectorAll('#turns li.done').length >= 1 || ['done', 'ended', 'error'].includes(document.body.dataset.state));
  const before = await shown(first);
  if (before.state !== 'running' || before.turns.length < 1) fail(`the store run did not get past its first turn: ${JSON.stringify(before)}`);
  await first.close();
  const panel = await openPanel(store.tabId);
  await panel.waitForFunction(() => document.body.dataset.state === 'running' || !document.getElementById('confirm').hidden, null, { timeout: 30_000, polling: 250 })
    .catch(async () => fail(`a panel opened during the run did not reattach to it: ${JSON.stringify(await shown(panel))}`));
  const again = await shown(panel);
  log(`  closed the panel after turn ${before.turns.length}; a new panel reattached showing ${again.turns.length} turn(s): ${again.status}`);
  if (again.turns.length < before.turns.length || again.turns[0] !== before.turns[0]) fail(`the reattached panel does not show the turns so far: ${JSON.stringify(again.turns)} (before: ${JSON.stringify(before.turns)})`);
  if ((await panel.inputValue('#task')) !== goal.instruction_text) fail('the reattached panel does not show the task');
  await panel.waitForFunction(asked, null, { timeout: timeoutMs, polling: 250 })
    .catch(async () => fail(`no purchase question within ${timeoutMs / 1000} s: ${await panel.textContent('#status')}`));
  let s = await shown(panel);
  for (const t of s.turns) log(`  turn: ${t}`);
  // The manifest makes extension pages cross-origin isolated, so with several cores the CPU
  // backend runs the threaded build in the offscreen document.
  const engine = await panel.textContent('#model-name');
  const cores = await panel.evaluate(() => navigator.hardwareConcurrency);
  log(`  engine: ${engine}`);
  if (!/LoRA mem1-smollm2-135m\.lora\.gguf \(sha256 [0-9a-f]{8}\)/.test(engine)) fail(`the panel does not name the shipped policy: ${engine}`);
  if (/on cpu/.test(engine) && cores > 1 && !engine.includes(`simd128, ${Math.min(cores, 8)} threads`)) fail(`the CPU backend does not run on every core: ${engine}`);
  await panel.screenshot({ path: path.join(out, 'extension-panel.png'), fullPage: true });
  await store.tab.screenshot({ path: path.join(out, 'extension-store.png') });
  if (s.state === 'error') fail(`the store episode failed: ${s.status}`);
  if (!(await panel.isVisible('#confirm'))) fail(`the policy did not reach Buy Now in ${storeTurns} turns: ${s.state} ${s.result} ${s.turns.join(' | ')}`);
  const question = await panel.textContent('#confirm-text');
  log(`  asked: ${question} (the tab is on ${new URL(store.tab.url()).pathname})`);
  if (!/buy now/i.test(question)) fail(`the dialog does not name Buy Now: ${question}`);
  if (!/^\/item_page\//.test(new URL(store.tab.url()).pathname)) fail(`the purchase was asked for off the item page: ${store.tab.url()}`);
  await panel.click('#confirm-yes');
  await panel.waitForFunction(() => ['done', 'ended', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000, polling: 250 });
  s = await shown(panel);
  log(`  confirmed: ${s.state}: ${s.result}`);
  if (s.state !== 'done') fail(`the confirmed purchase did not end the episode as done: ${s.state} ${s.status}`);
  if (!/^\/done\//.test(new URL(store.tab.url()).pathname)) fail(`the store's done page was not reached: ${store.tab.url()}`);
  await store.tab.screenshot({ path: path.join(out, 'extension-store-done.png') });
  if (s.turns.length < 3 || s.turns.length > storeTurns) fail(`${s.turns.length} turns shown, expected 3..${storeTurns}`);
  for (const t of s.turns) if (!/^(search|click)\[.+\]$/.test(t)) fail(`a turn without a well-formed action: ${t}`);
  if (s.points !== s.turns.length) fail(`the chart has ${s.points} points for ${s.turns.length} turns`);
  if (!s.memory || s.memory === '–') fail('no internal state shown');
  // What the model read and wrote, on demand (a closed <details> under each turn).
  if (s.read.some(([obs, outText]) => obs < 20 || outText < 10)) fail(`a turn does not show what the model read and wrote: ${JSON.stringify(s.read)}`);
  await panel.waitForFunction(() => document.querySelectorAll('#history li').length >= 1, null, { timeout: 10_000, polling: 250 })
    .catch(() => fail('the finished task is not in the panel\'s history'));
  s = await shown(panel);
  log(`  history: ${s.history[0]}`);
  if (!s.history[0].includes(goal.instruction_text) || !/Purchased/.test(s.history[0]) || !s.history[0].includes(s.turns[0])) fail(`the history does not hold the task, its result and its actions: ${s.history[0]}`);
  const moved = store.visited.slice(1).filter((u) => u.startsWith(shop.url));
  if (!moved.length) fail(`no action reached the shop tab (it stayed on ${store.visited.join(', ')})`);
  if (store.visited.some((u) => !u.startsWith(shop.url))) fail(`the shop tab left the store: ${store.visited.join(', ')}`);
  const storeTurnsTaken = s.turns.length;
  log(`  the shop tab went through ${moved.length} pages: ${moved.map((u) => new URL(u).pathname.split('/')[1]).join(', ')}`);

  // Stop: a second run (from the session's start page again), stopped once its first turn is reported.
  await store.tab.goto(`${shop.url}/${session}`, { waitUntil: 'domcontentloaded' });
  await go(panel, goal.instruction_text, () => document.querySelectorAll('#turns li.done').length >= 1);
  await panel.click('#stop');
  await panel.waitForFunction(() => ['done', 'ended', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000, polling: 250 });
  s = await shown(panel);
  log(`  stopped run: ${s.state}: ${s.result}`);
  if (s.state !== 'ended' || !/Stopped/.test(s.result)) fail(`Stop did not end the run: ${s.state} ${s.status} ${s.result}`);
  if (s.turns.length >= storeTurns) fail(`Stop came after the last turn (${s.turns.length} turns)`);

  // "Buy without asking", on the demo store it names: the purchase goes through unasked, and the
  // panel says so. (Part 3 shows it ignored on another site.)
  await sw.evaluate((s) => chrome.storage.local.set(s), { autoConfirm: true, demoStore: shop.url });
  await store.tab.goto(`${shop.url}/${session}`, { waitUntil: 'domcontentloaded' });
  await go(panel, goal.instruction_text);
  s = await shown(panel);
  log(`  bought without asking on the demo store: ${s.state}: ${s.notes.join(' | ')}`);
  if (s.state !== 'done' || !/^\/done\//.test(new URL(store.tab.url()).pathname)) fail(`the demo store's purchase did not go through unasked: ${s.state} ${s.status} ${store.tab.url()}`);
  if (!s.notes.some((n) => /Bought without asking/.test(n))) fail(`the panel does not say it bought without asking: ${JSON.stringify(s.notes)}`);
  await sw.evaluate((s) => chrome.storage.local.set(s), { maxTurns: turns, maxTokens: tokens });

  // --- 2. a model downloaded into the cache: interrupted, resumed, verified -----------------------
  const settingsPage = await context.newPage();
  settingsPage.on('pageerror', (e) => errors.push(`settings error: ${e.message}`));
  await settingsPage.goto(`chrome-extension://${id}/settings.html`);
  const dl = await settingsPage.evaluate(async ({ url, sha, store }) => {
    const m = await import(store);
    const seen = [];
    // Interrupted after two chunks (the abort lands in the middle of the stream).
    const abort = new AbortController();
    const first = await m.download(url, { sha256: sha, signal: abort.signal, progress: (d) => (seen.push(d), d >= 2 * m.CHUNK && abort.abort()) })
      .then(() => 'finished', (e) => e.name);
    const partial = (await m.list()).find((x) => x.source === url);
    const unusable = (await m.open(m.keyOf(url))) === null;
    const resumed = [];
    const got = await m.download(url, { sha256: sha, progress: (d) => resumed.push(d) });
    const bad = await m.download(url + '?copy', { sha256: '0'.repeat(64) }).then(() => 'accepted', (e) => e.message);
    const badLeft = (await m.list()).some((x) => x.source === url + '?copy');
    return { first, partialHave: partial?.have, partialComplete: partial?.complete, unusable, resumedFrom: resumed[0], size: got.blob.size,
      meta: got.meta, key: got.key, bad, badLeft, chunk: m.CHUNK };
  }, { url: `${modelHost.url}/SmolLM2-135M-Instruct.Q4_1.gguf`, sha: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53', store: './ui/models.js' });
  log(`download: interrupted (${dl.first}) at ${dl.partialHave} bytes, resumed from ${dl.resumedFrom}, ${dl.size} bytes verified; wrong sha256: ${dl.bad}`);
  if (dl.first !== 'AbortError' || dl.partialComplete || dl.partialHave !== 2 * dl.chunk) fail(`the interrupted download is not kept as a partial: ${JSON.stringify(dl)}`);
  if (!dl.unusable) fail('an incomplete download could be opened');
  if (dl.resumedFrom !== 2 * dl.chunk) fail(`the download did not resume where it stopped (from ${dl.resumedFrom})`);
  if (dl.size !== fs.statSync(path.join(root, '.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf')).size || !dl.meta.complete) fail(`wrong cached model: ${JSON.stringify(dl.meta)}`);
  if (!/sha256/.test(dl.bad) || dl.badLeft) fail(`a download with the wrong sha256 was kept: ${dl.bad}`);
  // The rest of the test runs on the cached copy.
  await sw.evaluate((model) => chrome.storage.local.set({ model }), { source: 'cache', key: dl.key, name: dl.meta.name });

  // --- 3. purchase confirmation on a checkout page (with the cached model) -------------------------------------------
  // "Buy without asking" is still on, for the demo store: here, another site, it is ignored (the
  // panel says so) and the shopper is asked. The dialog's default is Cancel: Enter declines, and
  // so does Escape; only a click on Confirm places the order.
  const checkout = await openTab(`${pages.url}/checkout.html`);
  const cpanel = await openPanel(checkout.tabId);
  const task = 'Place the order for the sneakers in my cart.';
  for (const key of ['Enter', 'Escape']) {
    await go(cpanel, task, asked);
    if (!(await cpanel.isVisible('#confirm'))) fail(`the agent did not try to place the order: ${JSON.stringify(await shown(cpanel))}`);
    s = await shown(cpanel);
    log(`  asked: ${await cpanel.textContent('#confirm-text')} (${await cpanel.textContent('#confirm-why')}); ${s.notes.join(' | ')}`);
    if (!/Place order/i.test(await cpanel.textContent('#confirm-text'))) fail('the dialog does not name the button');
    if (!s.notes.some((n) => /ignored here/.test(n))) fail(`the panel does not say "buy without asking" was ignored: ${JSON.stringify(s.notes)}`);
    if (key === 'Enter') await cpanel.screenshot({ path: path.join(out, 'extension-confirm.png'), fullPage: true });
    if (!checkout.tab.url().endsWith('/checkout.html') || checkout.visited.length !== 1) fail(`the page changed before the confirmation: ${checkout.visited.join(', ')}`);
    if ((await cpanel.evaluate(() => document.activeElement?.id)) !== 'confirm-no') fail('the dialog\'s default button is not Cancel');
    await cpanel.keyboard.press(key);
    await cpanel.waitForFunction(() => ['done', 'ended', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000, polling: 250 });
    s = await shown(cpanel);
    log(`  ${key}: ${s.state}: ${s.result}`);
    if (s.state !== 'ended' || !/declined/.test(s.result)) fail(`${key} did not decline: ${s.state} ${s.result}`);
    await new Promise((r) => setTimeout(r, 1000));
    if (checkout.visited.length !== 1) fail(`the order was placed although declined with ${key}: ${checkout.visited.join(', ')}`);
  }

  await go(cpanel, task, asked);
  if (!(await cpanel.isVisible('#confirm'))) fail(`the second run did not ask to place the order: ${JSON.stringify(await shown(cpanel))}`);
  await cpanel.click('#confirm-yes');
  await cpanel.waitForFunction(() => ['done', 'ended', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000, polling: 250 });
  s = await shown(cpanel);
  log(`  confirmed: ${s.state}: ${s.result}`);
  if (s.state !== 'done') fail(`the confirmed purchase did not end the episode as done: ${s.state} ${s.status}`);
  if (!/\/ordered\.html/.test(checkout.tab.url())) fail(`the order page was not reached: ${checkout.tab.url()}`);
  if (!/Order placed/.test(await checkout.tab.textContent('body'))) fail('the order page does not say the order was placed');
  await checkout.tab.screenshot({ path: path.join(out, 'extension-ordered.png') });

  // --- 4. real shops' pages (../shared/webshop/pages, served locally) ----------------------------
  // Observed through the content script's snapshot and the Rust observer within the live-page
  // budget (cut visibly), and one turn of the agent on Amazon's results page: a well-formed action,
  // carried out or refused with a reason (their links lead to amazon.com), never an error.
  const real = {};
  for (const name of ['mock_parse_results_amz', 'mock_parse_item_page_amz', 'mock_parse_results_ebay', 'mock_parse_item_page_ebay']) {
    const src = path.join(root, '../shared/webshop/pages', name);
    if (!fs.existsSync(src)) fail(`${src} is missing: the real shop pages come from ../shared/webshop (beside the repository)`);
    fs.copyFileSync(src, path.join(realDir, `${name}.html`));
  }
  const realPages = fs.readdirSync(realDir);
  for (const file of realPages) {
    const t = await openTab(`${pages.url.replace(/\/$/, '')}/real/${file}`);
    const snap = await sw.evaluate(async (tabId) => {
      await chrome.scripting.executeScript({ target: { tabId }, files: ['content.js'] });
      const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.__mem1.snapshot() });
      return r.result.html;
    }, t.tabId);
    const o = await settingsPage.evaluate(async (html) => {
      const w = await import('./pkg/mem1.js');
      await w.default();
      return w.Demo.observeSnapshot(html);
    }, snap);
    real[file] = { html_kb: Math.round(snap.length / 1024), text_chars: o.text.length, actions: o.actions.length };
    log(`  ${file}: snapshot ${real[file].html_kb} KB → ${o.text.length} chars, ${o.actions.length} actions, cut: ${/\[page cut here/.test(o.text)}`);
    if (o.actions[0] !== 'search[...]') fail(`${file}: no search box observed`);
    if (o.actions.length > 61 || o.text.length > 3300) fail(`${file}: the observation is over its budget`);
    if (!/\[page cut here: \d+ more characters not shown\]/.test(o.text)) fail(`${file}: a long page is not cut visibly`);
    if (/function\s*\(|<script/.test(o.text)) fail(`${file}: script text in the observation`);
    // A label is what a reader sees: Amazon's off-screen copy of "Sponsored" is not read twice.
    if (o.actions.some((x) => /sponsoredsponsored/.test(x))) fail(`${file}: a label joins a hidden copy to the visible text: ${o.actions.filter((x) => /sponsored/.test(x))}`);
    if (file === 'mock_parse_results_amz.html' && !o.actions.includes('click[sponsored]')) fail(`${file}: no click[sponsored] among ${o.actions.slice(0, 12)}`);
    await t.tab.close();
  }
  await sw.evaluate(() => chrome.storage.local.set({ maxTurns: 1 }));
  const amz = await openTab(`${pages.url.replace(/\/$/, '')}/real/mock_parse_results_amz.html`);
  const apanel = await openPanel(amz.tabId);
  await go(apanel, 'Find me a pair of wireless headphones under 50 dollars.');
  s = await shown(apanel);
  log(`  amazon turn: ${s.state}: ${s.turns.join(' | ')} (${s.result})`);
  if (s.state !== 'ended' || s.turns.length !== 1 || !/^(search|click)\[.+\]$/.test(s.turns[0])) fail(`the agent did not take one sensible turn on the Amazon page: ${JSON.stringify(s)}`);
  if (amz.visited.some((u) => !u.startsWith(pages.url))) fail(`the agent left the site: ${amz.visited.join(', ')}`);
  real.amazon_turn = s.turns[0];

  // --- 5. the history of past tasks: every run above, newest first; Clear empties it -----------
  await apanel.waitForFunction(() => document.querySelector('#history li')?.textContent.includes('wireless headphones'), null, { timeout: 10_000, polling: 250 })
    .catch(() => {});
  s = await shown(apanel);
  log(`  history: ${s.history.length} tasks, newest: ${s.history[0]}`);
  if (s.history.length < 7 || !s.history[0].includes('wireless headphones')) fail(`the history does not hold the runs: ${JSON.stringify(s.history)}`);
  await apanel.click('#past > summary');
  await apanel.click('#history-clear');
  await apanel.waitForFunction(() => document.querySelectorAll('#history li').length === 0, null, { timeout: 10_000, polling: 250 })
    .catch(() => fail('Clear did not empty the history'));
  if ((await sw.evaluate(async () => (await chrome.storage.local.get('history')).history)) !== undefined) fail('the history is still stored after Clear');

  // --- 6. a policy served by llama.cpp's server (llama-cpp-python: scripts/llama-venv.sh) ----------
  // Chosen in the settings as a user does (the server's URL and the model's name); one turn on the
  // store from the panel, its tokens streamed; an unreachable server is a clear error.
  const py = path.join(root, '.cache/llama-venv/bin/python');
  if (!fs.existsSync(py)) fail(`${py} is missing: run scripts/llama-venv.sh (scripts/test.sh does)`);
  const port = await new Promise((ok) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = /** @type {import('node:net').AddressInfo} */ (srv.address()).port;
      srv.close(() => ok(p));
    });
  });
  const llama = spawn(py, ['-m', 'llama_cpp.server', '--model', path.join(root, '.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf'),
    '--lora_path', path.join(root, 'models/mem1-smollm2-135m.lora.gguf'), '--model_alias', 'mem1-smollm2', '--host', '127.0.0.1',
    '--port', String(port), '--n_ctx', '4096', '--n_threads', '2', '--verbose', 'false'], { stdio: 'ignore' });
  try {
    const served = `http://127.0.0.1:${port}/v1`;
    const t = Date.now();
    while (!(await fetch(`${served}/models`).then((r) => r.ok, () => false))) {
      if (Date.now() - t > 120_000) fail('llama-cpp-python\'s server did not answer in 120 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    /** Chooses a server in the settings page's model picker, as a user does. @param {string} url */
    const useServer = async (url) => {
      await settingsPage.reload();
      await settingsPage.waitForSelector('#model-choice option[value="remote"]', { state: 'attached' });
      await settingsPage.selectOption('#model-choice', 'remote');
      await settingsPage.fill('#remote-url', url);
      await settingsPage.fill('#remote-model', 'mem1-smollm2');
      await settingsPage.click('#remote-use');
      await settingsPage.waitForFunction(() => /served at/.test(document.getElementById('model-status').textContent), null, { timeout: 10_000, polling: 250 });
    };
    await useServer(served);
    await sw.evaluate(() => chrome.storage.local.set({ maxTurns: 1 }));
    const stored = /** @type {any} */ (await sw.evaluate(async () => (await chrome.storage.local.get('model')).model));
    if (stored?.source !== 'remote' || stored.url !== served) fail(`the settings did not keep the server: ${JSON.stringify(stored)}`);
    const st2 = await openTab(`${shop.url}/${session}`);
    const spanel = await openPanel(st2.tabId);
    // Every count of tokens the panel showed while the turn was written, seen by the panel itself
    // (a poll from here misses a turn a fast server writes between two polls, as CI's did).
    await spanel.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.writing = [];
      const status = /** @type {HTMLElement} */ (document.getElementById('status'));
      new MutationObserver(() => {
        const m = /writing, (\d+) tokens/.exec(status.textContent || '');
        if (m && document.querySelectorAll('#turns li.done').length === 0) w.writing.push(Number(m[1]));
      }).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await go(spanel, goal.instruction_text);
    /** @type {number[]} */
    const writing = await spanel.evaluate(() => /** @type {any} */ (window).writing);
    s = await shown(spanel);
    const engineLine = await spanel.textContent('#model-name');
    const speed = await spanel.textContent('#speed');
    log(`  served turn: ${s.state}: ${s.turns.join(' | ')} (${engineLine}); ${writing.length} token counts shown while it wrote (${writing.slice(0, 4).join(', ')} … ${writing.at(-1)}); ${speed} tokens/s`);
    if (s.state !== 'ended' || s.turns.length !== 1 || !/^(search|click)\[.+\]$/.test(s.turns[0])) fail(`no turn through the server: ${JSON.stringify(s)}`);
    if (!/served "mem1-smollm2" at .* \(llama\.cpp, constraint gbnf\)/.test(engineLine)) fail(`the panel does not name the served model and its constraint: ${engineLine}`);
    if (!st2.visited.slice(1).some((u) => u.startsWith(shop.url))) fail('the served turn did not act in the shop tab');
    // Streamed: the count grew as the tokens came, before the turn was over; the turn's speed is
    // counted from the stream where the server sends no usage.
    if (new Set(writing).size < 3) fail(`no tokens were shown as they came: ${JSON.stringify(writing)}`);
    if (!(Number(speed) > 0)) fail(`the served turn's speed is not shown: ${speed} tokens/s`);
    // Nothing listens: the panel says so.
    await useServer(`http://127.0.0.1:${port + 1}/v1`);
    await go(spanel, goal.instruction_text);
    s = await shown(spanel);
    log(`  unreachable server: ${s.state}: ${s.status}`);
    if (s.state !== 'error' || !/cannot reach the server/.test(s.status)) fail(`an unreachable server is not said so: ${s.state} ${s.status}`);
    real.served_turn = s.turns[0];
  } finally {
    llama.kill();
  }

  if (errors.length) fail(`console errors:\n  ${errors.join('\n  ')}`);
  console.log(JSON.stringify({ ok: true, real, store_turns: storeTurnsTaken, store_pages: moved.length, seconds: Number(secs()) }));
} finally {
  await context.close();
  shop.stop();
  pages.stop();
  modelHost.stop();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(pagesRoot, { recursive: true, force: true });
}
