// The web demo, end to end: serves web/dist (built by scripts/build-web.sh) with tests/serve.mjs,
// opens it in headless Chromium (WebGPU on SwiftShader, so "auto" runs the CPU backend), runs one episode with the bundled model
// until it ends (purchase or turn limit) and checks what a visitor would see: turns with actions
// and internal states, a point per turn on the context plot, the final reward panel, the store
// page the agent read, and no console errors. Saves a screenshot to tests/out/web_demo.png.
//
//   node tests/web_demo.mjs        (env: TURNS=2 TOKENS=24 BACKEND=gpu MODE=mem1 CHROMIUM=/usr/bin/chromium
//                                        TIMEOUT_S=900 DIST=web/dist)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const dist = path.resolve(root, process.env.DIST || 'web/dist');
const out = path.join(here, 'out');
const turns = process.env.TURNS || '3';
const tokens = process.env.TOKENS || '64';
const backend = process.env.BACKEND || 'auto';
const mode = process.env.MODE || 'mem1';
const timeoutMs = Number(process.env.TIMEOUT_S || 900) * 1000;

function fail(msg) {
  console.error(`web_demo: FAIL: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}

async function serve() {
  if (!fs.existsSync(path.join(dist, 'index.html'))) fail(`${dist}/index.html is missing: run scripts/build-web.sh first`);
  const p = spawn(process.execPath, [path.join(here, 'serve.mjs'), dist, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise((ok, no) => {
    let buf = '';
    p.stdout.on('data', (d) => {
      buf += d;
      const m = /listening (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
      if (m) ok(m[1] + '/');
    });
    p.on('exit', (c) => no(new Error(`serve.mjs exited (${c})`)));
  });
  return { url, stop: () => p.stdin.end() };
}

const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const server = await serve();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    if (process.env.VERBOSE) console.error(`[${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached', timeout: 60_000 });
  console.error(`web_demo: page ready after ${secs()} s (${server.url})`);
  const goal = await page.textContent('#goal-text .instr');
  if (!goal || goal.length < 10) fail(`no goal shown: ${JSON.stringify(goal)}`);
  const start = await page.evaluate(() => document.getElementById('store').contentDocument.querySelector('#search_input') !== null);
  if (!start) fail('the store iframe does not show the search page');

  await page.fill('#max-turns', turns);
  await page.fill('#max-tokens', tokens);
  await page.selectOption('#backend', backend);
  await page.selectOption('#mode', mode);
  const tRun = Date.now();
  await page.click('#run');
  // Say where the episode is now and then: on a CPU-emulated GPU a turn takes minutes.
  const tick = setInterval(() => page.textContent('#status').then((s) => console.error(`web_demo: [${secs()} s] ${s}`), () => {}), 30_000);
  await page
    .waitForSelector('body[data-episode]', { state: 'attached', timeout: timeoutMs })
    .catch(async (e) => {
      fs.mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'web_demo-failed.png') }).catch(() => {});
      fail(`no end of episode within ${timeoutMs / 1000} s (${await page.textContent('#status')}): ${e.message.split('\n')[0]}`);
    })
    .finally(() => clearInterval(tick));
  const runS = (Date.now() - tRun) / 1000;
  const state = await page.getAttribute('body', 'data-episode');
  const statusText = await page.textContent('#status');
  if (state !== 'done') fail(`the episode did not finish: ${statusText}`);

  const got = await page.evaluate(() => ({
    turns: [...document.querySelectorAll('#turns li.done')].map((li) => ({
      action: li.querySelector('.action')?.textContent || '',
      summary: li.querySelector('.summary')?.textContent || '',
      nums: li.querySelector('.nums')?.textContent || '',
    })),
    pending: document.querySelectorAll('#turns li.pending').length,
    livePoints: Number(document.getElementById('plot').dataset.livePoints || 0),
    plotPaths: document.querySelectorAll('#plot path.series').length,
    result: document.getElementById('result').hidden ? null : document.getElementById('result').innerText,
    progress: document.getElementById('progress-text').textContent,
    storeHtml: document.getElementById('store').contentDocument.body?.innerText.length || 0,
  }));
  console.error(`web_demo: episode ended after ${runS.toFixed(1)} s: ${JSON.stringify(got.turns.map((t) => t.action))}`);
  for (const t of [...got.turns].reverse()) console.error(`web_demo:   ${t.action} | ${t.summary} | ${t.nums}`);
  console.error(`web_demo: model: ${got.progress}`);
  console.error(`web_demo: result: ${got.result?.replace(/\s+/g, ' ')}`);
  if (got.turns.length < 1) fail('no turn was reported');
  if (got.turns.length > Number(turns)) fail(`${got.turns.length} turns reported, max ${turns}`);
  if (got.pending) fail(`${got.pending} turn(s) left pending`);
  for (const t of got.turns) if (!/^(search|click)\[.+\]$/.test(t.action.trim())) fail(`turn without a well-formed action: ${JSON.stringify(t)}`);
  if (got.livePoints !== got.turns.length) fail(`the plot has ${got.livePoints} live points for ${got.turns.length} turns`);
  if (got.plotPaths < 2) fail('the plot lacks the recorded baseline curves');
  if (!got.result || !/reward|turn limit|not scored/.test(got.result)) fail(`no final result panel: ${got.result}`);
  if (/error/.test(got.result)) fail(`the episode ended by an error: ${got.result}`);
  if (!got.storeHtml) fail('the store iframe is empty');
  // The page says which backend runs; on SwiftShader "auto" must have chosen the CPU backend.
  if (backend === 'auto' && !/ready on cpu: quantized, simd128/.test(got.progress)) fail(`auto did not pick the CPU backend: ${got.progress}`);

  fs.mkdirSync(out, { recursive: true });
  const shot = path.join(out, 'web_demo.png');
  await page.screenshot({ path: shot, fullPage: false });
  console.error(`web_demo: screenshot ${path.relative(root, shot)}`);
  if (errors.length) fail(`console errors:\n  ${errors.join('\n  ')}`);
  console.log(JSON.stringify({ ok: true, turns: got.turns.length, run_seconds: runS, total_seconds: Number(secs()) }));
} finally {
  await browser.close();
  server.stop();
}
