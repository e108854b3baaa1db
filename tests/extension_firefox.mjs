// The Firefox build, end to end (run scripts/build-extension.sh first):
//  1. `web-ext lint` must report no errors and no warnings.
//  2. Headless Firefox ESR through a real WebDriver session (geckodriver, driven by npm's
//     selenium-webdriver) with extension/dist/firefox installed as a temporary add-on:
//     a. the toolbar button opens the sidebar and a second click closes it;
//     b. the site permission, revoked the way about:addons' toggle revokes it, is asked for from
//        Go's click (the permission prompt appears and is accepted with its button, as a user
//        does), after which the run goes on;
//     c. the panel (its page opened as a tab, aimed at the store's tab) runs the bundled policy
//        on the store (`mem1 shop serve`) goal SESSION: its Buy Now raises the confirmation while
//        the tab is still on the item page, and confirmed, the tab reaches the store's done page;
//     d. Stop ends a second run.
//  It prints `firefox episode: reward R, turns T, purchase confirmed` — the facts the Chromium test
//  checks — and a JSON line.
//
//   node tests/extension_firefox.mjs  (env: FIREFOX=/usr/bin/firefox-esr GECKODRIVER=geckodriver
//                                      MEM1=target/release/mem1 SESSION=fixed_0 STORE_TURNS=8 TIMEOUT_S=600 VERBOSE=1)
import { execFileSync, execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Builder, By, until } from 'selenium-webdriver';
import firefox from 'selenium-webdriver/firefox.js';
import { Command } from 'selenium-webdriver/lib/command.js';
import { server } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const dir = path.join(root, 'extension/dist/firefox');
const webext = path.join(here, 'node_modules/.bin/web-ext');
const binary = process.env.FIREFOX || '/usr/bin/firefox-esr';
const session = process.env.SESSION || 'fixed_0';
const storeTurns = Number(process.env.STORE_TURNS || 8);
const timeoutMs = Number(process.env.TIMEOUT_S || 600) * 1000;
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const log = (m) => console.error(`extension_firefox: [${secs()} s] ${m}`);

function fail(msg) {
  console.error(`extension_firefox: FAIL: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}

/** The geckodriver to use: GECKODRIVER, else the one on PATH or in cargo's bin folder. */
function geckodriver() {
  for (const c of [process.env.GECKODRIVER, execSync('command -v geckodriver || true', { shell: '/bin/bash' }).toString().trim(),
    path.join(process.env.CARGO_HOME || path.join(process.env.HOME || '', '.cargo'), 'bin/geckodriver')]) {
    if (c && fs.existsSync(c)) return c;
  }
  return fail('geckodriver is missing: scripts/setup.sh installs it (cargo install geckodriver)');
}

if (!fs.existsSync(path.join(dir, 'manifest.json'))) fail(`${dir} is missing: run scripts/build-extension.sh first`);
if (!fs.existsSync(webext)) fail(`${webext} is missing: (cd tests && npm ci)`);
if (!fs.existsSync(binary)) fail(`${binary} is missing: apt-get install firefox-esr`);
const bin = path.resolve(root, process.env.MEM1 || 'target/release/mem1');
if (!fs.existsSync(bin)) fail(`${bin} is missing: cargo build --release`);

// --- 1. lint (addons-linter): errors and warnings fail ------------------------------------------
/** @type {any} */
let lint;
try {
  lint = JSON.parse(execFileSync(webext, ['lint', '--source-dir', dir, '--output', 'json', '--self-hosted'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
} catch (e) {
  lint = JSON.parse(/** @type {any} */ (e).stdout || '{}');
}
const c = lint.summary ?? {};
for (const w of lint.warnings || []) log(`lint warning: ${w.code}: ${w.message} (${w.file || ''})`);
log(`lint: ${c.errors ?? '?'} errors, ${c.warnings ?? '?'} warnings, ${c.notices ?? '?'} notices`);
if (!lint.summary) fail('web-ext lint gave no report');
if (c.errors || c.warnings) fail(`lint errors or warnings:\n  ${[...lint.errors, ...lint.warnings].map((e) => `${e.code}: ${e.message} (${e.file || ''})`).join('\n  ')}`);
const addonId = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).browser_specific_settings.gecko.id;

// --- 2. the add-on in headless Firefox, through WebDriver -----------------------------------------
const shop = await server(bin, ['shop', 'serve', '--port', '0'], /on (http:\/\/127\.0\.0\.1:\d+)\//, 'stderr');
const options = new firefox.Options().setBinary(binary).addArguments('-headless')
  .setPreference('dom.webgpu.enabled', true).setPreference('gfx.webgpu.ignore-blocklist', true)
  // The quiet network of a test machine: no update checks, telemetry or safe-browsing lists.
  .setPreference('app.update.enabled', false).setPreference('browser.safebrowsing.downloadMD5', false)
  .setPreference('datareporting.policy.dataSubmissionEnabled', false).setPreference('devtools.console.stdout.content', !!process.env.VERBOSE);
// System access: the browser's own UI (the toolbar button, the sidebar, the permission prompt,
// about:addons' permission store) is reached in WebDriver's chrome context.
const service = new firefox.ServiceBuilder(geckodriver()).addArguments('--allow-system-access');
const driver = await new Builder().forBrowser('firefox').setFirefoxOptions(options).setFirefoxService(service).build();
/** Runs `script` (a function body) in the browser's chrome, with `args` as `arguments`. @param {string} script @param {...any} args */
async function chrome(script, ...args) {
  await driver.setContext('chrome');
  try {
    return await driver.executeScript(script, ...args);
  } finally {
    await driver.setContext('content');
  }
}
/** Polls `check` (an async function) until it returns something truthy. */
async function waitFor(what, check, ms = timeoutMs) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) return fail(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
try {
  // Installed from the folder, by path (no upload of the 100 MB model).
  const id = await driver.execute(new Command('install addon').setParameter('path', dir).setParameter('temporary', true));
  if (id !== addonId) fail(`installed ${id}, not ${addonId}`);
  const uuid = await chrome('return WebExtensionPolicy.getByID(arguments[0]).mozExtensionHostname', addonId);
  log(`add-on ${addonId} installed (moz-extension://${uuid})`);

  // a. The toolbar button toggles the sidebar.
  const widget = `${addonId.toLowerCase().replace(/[^a-z0-9_-]/g, '_')}-browser-action`;
  const sidebar = 'const w = Services.wm.getMostRecentWindow("navigator:browser"); const s = w.SidebarController || w.SidebarUI; return s.isOpen ? s.currentID : null;';
  // Pinned to the toolbar first, as a user pins it (new add-ons' buttons start in the extensions menu).
  const click = `const w = Services.wm.getMostRecentWindow("navigator:browser");
    if (!w.CustomizableUI.getPlacementOfWidget(arguments[0])?.area?.includes("nav-bar")) w.CustomizableUI.addWidgetToArea(arguments[0], w.CustomizableUI.AREA_NAVBAR);
    const node = w.CustomizableUI.getWidget(arguments[0]).forWindow(w).node;
    const button = node?.querySelector(".unified-extensions-item-action-button");
    if (!button) return 'no toolbar button';
    button.click();
    return 'clicked';`;
  const opened = await chrome(click, widget);
  if (opened !== 'clicked') fail(`the toolbar button: ${opened}`);
  const open = await waitFor('the sidebar opening from the toolbar button', () => chrome(sidebar), 10_000);
  if (!String(open).includes('sidebar-action')) fail(`the toolbar button opened ${open}, not the add-on's sidebar`);
  await chrome(click, widget);
  await waitFor('the sidebar closing on a second click', async () => (await chrome(sidebar)) === null, 10_000);
  log(`the toolbar button opens the sidebar (${open}) and closes it`);
  // The keyboard shortcut (the manifest's commands) is registered for the sidebar.
  const key = await chrome(`const w = Services.wm.getMostRecentWindow("navigator:browser");
    const k = w.document.getElementById(arguments[0]);
    return k && [k.getAttribute("key"), k.getAttribute("modifiers")].join(" ");`, `ext-key-id-${widget.replace(/-browser-action$/, '')}-sidebar-action`);
  if (!key || !/^M /i.test(key) || !/alt/.test(key) || !/shift/.test(key)) fail(`no Alt+Shift+M shortcut for the sidebar: ${key}`);
  log(`the sidebar's shortcut is registered: ${key}`);

  // The store, and the panel's page in a tab of its own, aimed at the store's tab.
  await driver.get(`${shop.url}/${session}`);
  const storeHandle = await driver.getWindowHandle();
  await chrome(`const w = Services.wm.getMostRecentWindow("navigator:browser");
    w.gBrowser.selectedTab = w.gBrowser.addTab(arguments[0], { triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal() });`,
  `moz-extension://${uuid}/panel.html`);
  const panelHandle = await waitFor('the panel tab', async () => (await driver.getAllWindowHandles()).find((h) => h !== storeHandle), 10_000);
  await driver.switchTo().window(panelHandle);
  await driver.wait(until.elementLocated(By.css('body[data-state="idle"]')), 30_000);
  const storeTab = await driver.executeScript(`return browser.tabs.query({}).then((t) => t.find((x) => x.url.startsWith(arguments[0]))?.id)`, shop.url);
  if (!Number.isInteger(storeTab)) fail('the store tab is not visible to the add-on');
  await driver.executeScript(`return browser.storage.local.set({ maxTurns: arguments[0], maxTokens: 224 })`, storeTurns);
  await driver.executeScript(`location.search = '?tab=' + arguments[0]`, storeTab);
  await driver.wait(until.elementLocated(By.css('body[data-state="idle"]')), 30_000);
  const page = async () => driver.executeScript(`return {
    state: document.body.dataset.state, run: Number(document.body.dataset.run || 0), status: document.getElementById('status').textContent,
    asked: !document.getElementById('confirm').hidden, question: document.getElementById('confirm-text').textContent,
    turns: [...document.querySelectorAll('#turns li.done .action')].map((a) => a.textContent),
    points: Number(document.getElementById('chart').dataset.livePoints || 0), memory: document.getElementById('state').textContent,
    result: document.getElementById('result').hidden ? '' : document.getElementById('result').textContent,
    nums: [...document.querySelectorAll('#turns li.done .nums')].map((n) => n.textContent),
    engine: document.getElementById('model-name').textContent }`);
  const storeUrl = async () => driver.executeScript(`return browser.tabs.get(arguments[0]).then((t) => t.url)`, storeTab);

  // b. The site permission, revoked as about:addons' toggle does, is asked for from Go's click.
  const origin = `http://${new URL(shop.url).hostname}/*`;
  const has = () => driver.executeScript(`return browser.permissions.contains({ origins: [arguments[0]] })`, origin);
  // Granted at install (the manifest's host permissions), which the add-on may see a moment later.
  await waitFor(`the add-on granted ${origin} at install`, has, 15_000);
  await chrome(`const { ExtensionPermissions } = ChromeUtils.importESModule("resource://gre/modules/ExtensionPermissions.sys.mjs");
    return ExtensionPermissions.remove(arguments[0], { permissions: [], origins: ["http://*/*", "https://*/*"] }, WebExtensionPolicy.getByID(arguments[0]).extension);`, addonId);
  await waitFor('the revoked permission to show', async () => !(await has()), 10_000);
  log(`revoked ${origin} (about:addons' way); Go must ask for it`);
  const goal = await (await fetch(`${shop.url}/api/goal/${session}`)).json();
  const task = await driver.findElement(By.id('task'));
  await task.clear();
  await task.sendKeys(goal.instruction_text);
  await driver.findElement(By.id('go')).click();
  // The prompt, accepted with its button.
  if (process.env.VERBOSE) {
    await new Promise((r) => setTimeout(r, 3000));
    log(`after Go: ${JSON.stringify(await page())}; notifications: ${await chrome(`const w = Services.wm.getMostRecentWindow("navigator:browser"); return JSON.stringify(w.PopupNotifications._currentNotifications.map((n) => n.id));`)}`);
  }
  const prompt = await waitFor('the permission prompt after Go', () => chrome(`const w = Services.wm.getMostRecentWindow("navigator:browser");
    const n = w.PopupNotifications.getNotification("addon-webext-permissions");
    if (!n) return null;
    const el = w.PopupNotifications.panel.querySelector("popupnotification");
    const text = el?.textContent || "";
    el ? el.button.click() : n.mainAction.callback();
    return text || "accepted";`), 15_000);
  log(`Go asked for the site: prompt “${String(prompt).replace(/\s+/g, ' ').trim().slice(0, 120)}”, accepted`);
  await waitFor('the permission granted from the prompt', has, 10_000);

  // c. The store episode, to Buy Now's question.
  let s = await waitFor('the purchase question', async () => {
    const p = await page();
    if (['error', 'ended', 'done'].includes(p.state)) fail(`the store run ended without asking: ${p.state} ${p.status} ${p.result} ${p.turns.join(' | ')}`);
    return p.asked && p;
  });
  const at = new URL(await storeUrl()).pathname;
  log(`asked: ${s.question} (the tab is on ${at}); turns: ${s.turns.join(' | ')}; engine: ${s.engine}`);
  if (!/buy now/i.test(s.question)) fail(`the dialog does not name Buy Now: ${s.question}`);
  if (!/^\/item_page\//.test(at)) fail(`the purchase was asked for off the item page: ${at}`);
  await driver.findElement(By.id('confirm-yes')).click();
  s = await waitFor('the end of the confirmed run', async () => {
    const p = await page();
    return ['done', 'ended', 'error'].includes(p.state) && p;
  }, 120_000);
  const done = await storeUrl();
  if (s.state !== 'done') fail(`the confirmed purchase did not end the episode as done: ${s.state} ${s.status}`);
  if (!/^\/done\//.test(new URL(done).pathname)) fail(`the store's done page was not reached: ${done}`);
  if (s.turns.length < 3 || s.turns.length > storeTurns) fail(`${s.turns.length} turns shown, expected 3..${storeTurns}`);
  if (s.points !== s.turns.length) fail(`the chart has ${s.points} points for ${s.turns.length} turns`);
  if (!s.memory || s.memory === '–') fail('no internal state shown');
  await driver.switchTo().window(storeHandle);
  const reward = Number(await driver.findElement(By.css('#reward pre')).getText());
  await driver.switchTo().window(panelHandle);
  if (!Number.isFinite(reward)) fail('no reward on the done page');
  const turnsTaken = s.turns.length;
  const engine = s.engine;
  // Each turn's speed, as the panel shows it: `read N (P tokens/s) · wrote M (D tokens/s) · S s`.
  const speed = s.nums.map((n) => (/wrote \d+ \(([\d.]+) tokens\/s\) · ([\d.]+) s/.exec(n) || []).slice(1).map(Number));
  const mean = (i) => Number((speed.reduce((a, x) => a + (x[i] || 0), 0) / Math.max(1, speed.length)).toFixed(1));
  const perTurn = { decode_tok_s: mean(0), seconds: mean(1) };
  log(`engine: ${engine}; per turn: ${JSON.stringify(perTurn)}`);

  // d. Stop ends a second run.
  await driver.executeScript(`return browser.tabs.update(arguments[0], { url: arguments[1] })`, storeTab, `${shop.url}/${session}`);
  await waitFor('the store to load again', async () => new URL(await storeUrl()).pathname === `/${session}`, 30_000);
  const before = (await page()).run;
  await driver.findElement(By.id('go')).click();
  await waitFor('the second run\'s first turn', async () => {
    const p = await page();
    return p.run > before && p.state === 'running' && p.turns.length >= 1;
  });
  await driver.findElement(By.id('stop')).click();
  s = await waitFor('the stopped run\'s end', async () => {
    const p = await page();
    return ['done', 'ended', 'error'].includes(p.state) && p;
  }, 120_000);
  if (s.state !== 'ended' || !/Stopped/.test(s.result)) fail(`Stop did not end the run: ${s.state} ${s.status} ${s.result}`);
  log(`stopped the second run after ${s.turns.length} turn(s)`);

  console.log(`firefox episode: reward ${reward}, turns ${turnsTaken}, purchase confirmed`);
  console.log(JSON.stringify({ ok: true, lint: c, reward, turns: turnsTaken, engine, per_turn: perTurn, seconds: Number(secs()) }));
} finally {
  await driver.quit().catch(() => {});
  shop.stop();
}
