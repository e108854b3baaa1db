// The web demo, end to end: serves web/dist (built by scripts/build-web.sh) with tests/serve.mjs,
// opens it in headless Chromium (WebGPU on SwiftShader), runs episodes with the bundled model
// until it ends (purchase or turn limit) and checks what a visitor would see: turns with actions
// and internal states, a point per turn on the context plot, the final reward panel, the store
// page the agent read, and no console errors. Saves screenshots to tests/out/ (web_demo.png after
// the first episode, web_demo-gpu.png after the second).
//
// Episodes on the same pinned goal: one with backend “auto” (TURNS turns, TOKENS free tokens per
// turn); where that ran on the CPU with several cores (the threaded build), the same episode in a
// page on the one-thread build, which must come out the same; and one on WebGPU (GPU_TURNS,
// GPU_TOKENS; GPU_TURNS=0 skips it: on SwiftShader a prompt is read at ~1.4 tokens/s, so it is
// kept to one short turn). Besides, a shopping list of two template goals (LIST) runs to its
// checkout in a page of its own.
//
//   node tests/web_demo.mjs   (env: TURNS=3 TOKENS=32 GPU_TURNS=1 GPU_TOKENS=8 MODE=mem1 GOAL=0 LIST=0,5000
//                              CHROMIUM=/usr/bin/chromium TIMEOUT_S=900 DIST=web/dist VERBOSE=1)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const dist = path.resolve(root, process.env.DIST || 'web/dist');
const out = path.join(here, 'out');
const turns = process.env.TURNS || '3';
const tokens = process.env.TOKENS || '32';
const gpuTurns = process.env.GPU_TURNS ?? '1';
const gpuTokens = process.env.GPU_TOKENS || '8';
const mode = process.env.MODE || 'mem1';
const goalIndex = process.env.GOAL || '0';
const listGoals = process.env.LIST || '0,5000';
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
  // A demo page, its errors collected; `query` is added to the URL.
  async function open(query = '') {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      if (process.env.VERBOSE) console.error(`[${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // A cancelled request (net::ERR_ABORTED) is not an error: Chromium reports the fully read model
    // download so; anything else (404, refused, CORS) is.
    page.on('requestfailed', (r) => r.failure()?.errorText === 'net::ERR_ABORTED' || errors.push(`request failed: ${r.method()} ${r.url()} ${r.headers().range || ''} ${r.failure()?.errorText}`));
    if (process.env.VERBOSE) page.on('requestfinished', (r) => console.error(`finished ${r.method()} ${r.url()} ${r.headers().range || ''}`));
    await page.goto(`${server.url}?goal=${goalIndex}${query}`);
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached', timeout: 60_000 });
    console.error(`web_demo: page${query} ready after ${secs()} s (${server.url}): ${await page.textContent('#status')}`);
    return page;
  }
  const page = await open();
  const goal = await page.textContent('#goal-text .instr');
  if (!goal || goal.length < 10) fail(`no goal shown: ${JSON.stringify(goal)}`);
  const start = await page.evaluate(() => /** @type {HTMLIFrameElement} */ (document.getElementById('store')).contentDocument.querySelector('#search_input') !== null);
  if (!start) fail('the store iframe does not show the search page');

  // One episode as a visitor runs it; returns what the panel shows afterwards.
  async function episode(label, { backend, turns, tokens, mode, speculate = true }, on = page) {
    const page = on;
    await page.evaluate(() => delete document.body.dataset.episode);
    await page.setChecked('#speculate', speculate);
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
        fail(`${label}: no end of episode within ${timeoutMs / 1000} s (${await page.textContent('#status')}): ${e.message.split('\n')[0]}`);
      })
      .finally(() => clearInterval(tick));
    const runS = (Date.now() - tRun) / 1000;
    const state = await page.getAttribute('body', 'data-episode');
    const statusText = await page.textContent('#status');
    if (state !== 'done') fail(`${label}: the episode did not finish: ${statusText}`);
    const got = await page.evaluate(() => ({
      turns: [...document.querySelectorAll('#turns li.done')].map((li) => ({
        action: li.querySelector('.action')?.textContent || '',
        summary: li.querySelector('.summary')?.textContent || '',
        nums: li.querySelector('.nums')?.textContent || '',
        read: li.querySelector('details .obs')?.textContent.length || 0,
        wrote: li.querySelector('details pre.out')?.textContent.length || 0,
      })),
      pending: document.querySelectorAll('#turns li.pending').length,
      livePoints: Number(document.getElementById('chart').dataset.livePoints || 0),
      plotPaths: document.querySelectorAll('#chart path.series').length,
      result: document.getElementById('result').hidden ? null : document.getElementById('result').innerText,
      progress: document.getElementById('progress-text').textContent,
      storeText: /** @type {HTMLIFrameElement} */ (document.getElementById('store')).contentDocument.body?.innerText.length || 0,
    }));
    console.error(`web_demo: ${label}: episode ended after ${runS.toFixed(1)} s`);
    for (const t of got.turns) console.error(`web_demo:   ${t.action} | ${t.summary} | ${t.nums}`);
    console.error(`web_demo:   model: ${got.progress}`);
    console.error(`web_demo:   result: ${got.result?.replace(/\s+/g, ' ')}`);
    if (got.turns.length < 1) fail(`${label}: no turn was reported`);
    if (got.turns.length > Number(turns)) fail(`${label}: ${got.turns.length} turns reported, max ${turns}`);
    if (got.pending) fail(`${label}: ${got.pending} turn(s) left pending`);
    for (const t of got.turns) if (!/^(search|click)\[.+\]$/.test(t.action.trim())) fail(`${label}: turn without a well-formed action: ${JSON.stringify(t)}`);
    // What the model read and wrote, on demand under each turn.
    for (const t of got.turns) if (t.read < 20 || t.wrote < 10) fail(`${label}: a turn does not show what the model read and wrote: ${JSON.stringify(t)}`);
    if (!got.result || !/reward|turn limit|not scored/i.test(got.result)) fail(`${label}: no final result panel: ${got.result}`);
    if (/error/.test(got.result)) fail(`${label}: the episode ended by an error: ${got.result}`);
    if (!got.storeText) fail(`${label}: the store iframe is empty`);
    return { ...got, runS };
  }

  // 1. The visitor's default: backend “auto” (the CPU backend where WebGPU is a CPU emulation, as
  //    here), a few turns, the full flow.
  const a = await episode('auto', { backend: 'auto', turns, tokens, mode });
  const fallback = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter())?.info?.isFallbackAdapter);
  if (fallback && !/on cpu: quantized, simd128/.test(a.progress)) fail(`auto on a fallback adapter should use the CPU backend: ${a.progress}`);
  // The bundled choice is the trained policy: the base model with its LoRA adapter merged at load.
  if (!/LoRA mem1-(sft|grpo) /.test(a.progress)) fail(`the bundled policy's LoRA adapter was not loaded: ${a.progress}`);
  const adapterSha = crypto.createHash('sha256').update(fs.readFileSync(path.join(root, 'models/mem1-smollm2-135m.lora.gguf'))).digest('hex');
  if (!a.progress.includes(`LoRA mem1-smollm2-135m.lora.gguf (sha256 ${adapterSha.slice(0, 8)})`)) fail(`the model line does not name the shipped adapter and its sha256: ${a.progress}`);
  // The bundled model went through the model store the extension uses (OPFS, checked by sha256).
  // (A module of the page, named in a variable: it is the page's, not this script's.)
  const kept = await page.evaluate(async (store) => (await import(store)).list(), './ui/models.js');
  const base = kept.find((m) => m.name === 'SmolLM2-135M-Instruct.Q4_1.gguf');
  if (!base?.complete || base.size !== fs.statSync(path.join(dist, 'models/SmolLM2-135M-Instruct.Q4_1.gguf')).size) fail(`the bundled model is not in the browser's model store: ${JSON.stringify(kept)}`);
  if (a.livePoints !== a.turns.length) fail(`the plot has ${a.livePoints} live points for ${a.turns.length} turns`);
  if (a.plotPaths < 3) fail('the plot lacks the live curve or the recorded baseline curves');
  const times = { auto_seconds: a.runS };

  // 1b. serve.mjs sends COOP/COEP, so the page is cross-origin isolated and, with more than one
  //     core, the CPU backend runs the threaded build (Web Workers on the shared memory). A page
  //     opened with ?threads=1 runs the one-thread build: the same episode must come out of it,
  //     state for state and action for action (each task computes its own rows on any thread).
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  if (cores > 1 && /on cpu/.test(a.progress)) {
    const n = Math.min(cores, 8);
    if (!a.progress.includes(`simd128, ${n} threads`)) fail(`the CPU backend does not run on ${n} threads in an isolated page: ${a.progress}`);
    const onePage = await open('&threads=1');
    const one = await episode('one thread', { backend: 'auto', turns, tokens, mode }, onePage);
    if (!one.progress.includes('simd128, 1 thread')) fail(`?threads=1 did not run the one-thread build: ${one.progress}`);
    const same = (e) => JSON.stringify(e.turns.map((t) => [t.action, t.summary]));
    if (same(one) !== same(a)) fail(`the threaded and the one-thread build ran different episodes:\n  ${same(a)}\n  ${same(one)}`);
    console.error(`web_demo: the one-thread build ran the same ${one.turns.length} turns (${one.runS.toFixed(1)} s against ${a.runS.toFixed(1)} s on ${n} threads)`);
    times.one_thread_seconds = one.runS;
    await onePage.close();
  }
  // 1c. Drafts (on by default) change how many forward passes a turn takes, not what it writes:
  //     the same episode with “draft tokens” off is the same turns, one token a pass. Timed
  //     against the same episode with drafts run again right after it (the first episode of a
  //     page also pays for compiling the wasm and storing the model).
  {
    const plain = await episode('no drafts', { backend: 'auto', turns, tokens, mode, speculate: false });
    const same = (e) => JSON.stringify(e.turns.map((t) => [t.action, t.summary]));
    if (same(plain) !== same(a)) fail(`drafts changed the episode:\n  ${same(a)}\n  ${same(plain)}`);
    const again = await episode('drafts again', { backend: 'auto', turns, tokens, mode });
    if (same(again) !== same(a)) fail(`the episode changed when run again:\n  ${same(a)}\n  ${same(again)}`);
    /** Tokens a forward pass and decode seconds over an episode's turns, from each turn's line. */
    const passes = (e) => e.turns.map((t) => {
      const m = /wrote (\d+) \(([\d.]+) tokens\/s\).* ([\d.]+) tokens a forward pass(?: \((\d+) of (\d+) draft tokens taken\))?/.exec(t.nums);
      if (!m) fail(`a turn does not say its tokens a forward pass: ${t.nums}`);
      return { wrote: Number(m[1]), secs: Number(m[1]) / Math.max(Number(m[2]), 1e-9), per: Number(m[3]), taken: Number(m[4] || 0), drafted: Number(m[5] || 0) };
    });
    const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0);
    const [d, p] = [passes(again), passes(plain)];
    const [dPer, pPer] = [sum(d, (x) => x.wrote) / sum(d, (x) => x.wrote / x.per), sum(p, (x) => x.wrote) / sum(p, (x) => x.wrote / x.per)];
    const [dDec, pDec] = [sum(d, (x) => x.secs) / d.length, sum(p, (x) => x.secs) / p.length];
    console.error(`web_demo: drafts: the same ${a.turns.length} turns in ${dPer.toFixed(2)} tokens a forward pass against ${pPer.toFixed(2)}; ` +
      `decode ${dDec.toFixed(2)} s a turn against ${pDec.toFixed(2)} s (${(pDec / dDec).toFixed(2)}×); episode ${again.runS.toFixed(1)} s against ${plain.runS.toFixed(1)} s`);
    // How many drafts are checked depends on what they cost on this machine (DraftCost); that some
    // were, and taken, does not: a page's first drafts are always checked.
    const [drafted, taken] = [sum(d, (x) => x.drafted), sum(d, (x) => x.taken)];
    console.error(`web_demo: drafts: ${taken} of ${drafted} draft tokens taken`);
    if (/on cpu/.test(a.progress) && !(taken > 0 && dPer > pPer && sum(p, (x) => x.drafted) === 0)) {
      fail(`no draft was taken with drafts on, or one was checked with them off: ${taken} of ${drafted} taken, ${dPer} tokens a pass with, ${pPer} without`);
    }
    Object.assign(times, { drafts_seconds: again.runS, no_drafts_seconds: plain.runS, tokens_per_forward: Number(dPer.toFixed(2)), decode_speedup: Number((pDec / dDec).toFixed(2)) });
  }
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, 'web_demo.png') });

  // 1d. A shopping list (?list=I,J pins one): its goals numbered in one instruction, the store's
  //     pages with a cart, 10 turns an item by default, and the episode ends at the cart's
  //     checkout (or Buy Now, which buys the cart with the item) with each item's reward shown.
  {
    const listPage = await open(`&list=${listGoals}`);
    const shown = await listPage.evaluate(() => ({
      instr: document.querySelector('#goal-text .instr')?.textContent || '',
      maxTurns: /** @type {HTMLInputElement} */ (document.getElementById('max-turns')).value,
      cart: [.../** @type {HTMLIFrameElement} */ (document.getElementById('store')).contentDocument.querySelectorAll('button')].some((b) => b.textContent === 'View Cart'),
    }));
    if (!shown.instr.startsWith('Buy 2 items: 1) ') || !shown.instr.includes('; 2) ')) fail(`the shopping list is not shown: ${shown.instr}`);
    if (shown.maxTurns !== '20') fail(`a list of 2 should get 20 turns, not ${shown.maxTurns}`);
    if (!shown.cart) fail('the store page of a list session has no View Cart button');
    const l = await episode('list', { backend: 'auto', turns: '20', tokens, mode }, listPage);
    const m = /checked out (\d+) item\(s\); each list item's reward: 1: ([\d.]+), 2: ([\d.]+)/.exec(l.result || '');
    if (!m || !/the mean of 2 items/.test(l.result || '')) fail(`the list's result does not show its cart and each item's reward: ${l.result}`);
    else console.error(`web_demo: list of 2: ${l.turns.length} turns, ${m[1]} item(s) checked out, item rewards ${m[2]} and ${m[3]}`);
    times.list_seconds = l.runS;
    await listPage.close();
  }

  // 2. The WebGPU path itself (SwiftShader here: ~1.4 prompt tokens/s, so one short turn).
  if (Number(gpuTurns) > 0) {
    // The GPU device lost in the middle of an episode (a GPU process crash, a driver reset:
    // Demo.simulateDeviceLoss destroys it): a clear error, the model is dropped, and the episode
    // after it loads the model again on a new device, in the same page.
    await page.evaluate(() => delete document.body.dataset.episode);
    await page.selectOption('#backend', 'gpu');
    await page.fill('#max-turns', '1');
    await page.click('#run');
    await page.waitForFunction(() => /^running|^turn 1/i.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
    if (!(await page.evaluate(() => globalThis.mem1.simulateDeviceLoss()))) fail('no GPU device to lose: the model is not on WebGPU');
    await page.waitForSelector('body[data-episode]', { state: 'attached', timeout: 300_000 });
    const lost = await page.evaluate(() => ({
      result: document.getElementById('result').innerText, status: document.getElementById('status').textContent, held: globalThis.mem1.hasModel(),
    }));
    console.error(`web_demo: device lost mid-episode: ${lost.result.split('\n')[0]} | ${lost.status}`);
    if (!/GPU device was destroyed/.test(lost.result)) fail(`the lost device is not reported: ${lost.result}`);
    if (lost.held || !/load it again/.test(lost.status)) fail(`the lost model is still held: ${JSON.stringify(lost)}`);
    const g = await episode('gpu', { backend: 'gpu', turns: gpuTurns, tokens: gpuTokens, mode });
    if (!/on gpu/.test(g.progress)) fail(`the gpu episode did not run on WebGPU: ${g.progress}`);
    // Every generated token one submission that reads back only its id (the constrained action's
    // mask goes up with it): each turn's line says what crossed. Besides, a turn takes a few
    // submissions that generate nothing (the forced tags' prefills, the last token of a segment
    // cut by the token limit): this short turn (GPU_TOKENS free tokens) may show them as up to 5
    // more; a real turn's 60–160 tokens dilute them below 1.2 per token (crate/tests/gpu_turns.rs).
    for (const t of g.turns) {
      const m = /wrote (\d+) .*GPU: ([\d.]+) submissions and ([\d.]+) bytes read back per token/.exec(t.nums);
      if (!m) fail(`a GPU turn does not say what crossed: ${t.nums}`);
      else {
        const [wrote, subs, bytes] = [Number(m[1]), Number(m[2]) * Number(m[1]), Number(m[3])];
        console.error(`web_demo: gpu turn: ${wrote} tokens in ${subs.toFixed(0)} submissions, ${bytes} bytes read back per token`);
        if (subs > wrote + 5.5 || bytes > 16) fail(`a GPU turn took ${m[2]} submissions and ${m[3]} bytes per token: ${t.nums}`);
      }
    }
    times.gpu_seconds = g.runS;
  }

  await page.screenshot({ path: path.join(out, 'web_demo-gpu.png') });
  console.error('web_demo: screenshots tests/out/web_demo.png (auto), tests/out/web_demo-gpu.png (gpu)');
  if (errors.length) fail(`console errors:\n  ${errors.join('\n  ')}`);
  console.log(JSON.stringify({ ok: true, ...times, total_seconds: Number(secs()) }));
} finally {
  await browser.close();
  server.stop();
}
