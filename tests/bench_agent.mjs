// The agent-turn benchmark in headless Chromium (scripts/bench-agent.sh runs it after the native
// one): the web demo (web/dist, built by scripts/build-web.sh) on the CPU backend's threaded wasm
// build, the first GOALS dev goals (crate/data/dev_goals.json, typed into the page) played as
// shipped (10 turns, 224 free tokens) with drafted tokens and without, alternately in one page
// after a warm-up episode. Prints each
// episode's seconds per turn (prefill and decode, read off each turn's line) and, as one JSON
// line, the totals and their ratio.
//
//   node tests/bench_agent.mjs   (env: GOALS=5 TURNS=10 TOKENS=224 CHROMIUM=/usr/bin/chromium DIST=web/dist)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '..', process.env.DIST || 'web/dist');
const dev = JSON.parse(fs.readFileSync(path.join(here, '..', 'crate/data/dev_goals.json'), 'utf8'));
const goals = Math.min(Number(process.env.GOALS || 5), dev.length);
const turns = process.env.TURNS || '10';
const tokens = process.env.TOKENS || '224';

if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist}/index.html is missing: run scripts/build-web.sh first`);
const server = spawn(process.execPath, [path.join(here, 'serve.mjs'), dist, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
const url = await new Promise((ok, no) => {
  let buf = '';
  server.stdout.on('data', (d) => {
    buf += d;
    const m = /listening (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
    if (m) ok(m[1] + '/');
  });
  server.on('exit', (c) => no(new Error(`serve.mjs exited (${c})`)));
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

/** One episode on dev goal `goal`, from the store's search page; returns its turns' [prefill
 * seconds, decode seconds, tokens, passes]. */
async function episode(page, goal, speculate) {
  await page.evaluate(() => delete document.body.dataset.episode);
  // Another goal and back: the same goal would go on from the page the last episode left.
  await page.check('input[name=goal-kind][value=template]');
  await page.check('input[name=goal-kind][value=typed]');
  await page.fill('#goal-input', dev[goal].instruction_text);
  await page.dispatchEvent('#goal-input', 'change');
  await page.setChecked('#speculate', speculate);
  await page.fill('#max-turns', turns);
  await page.fill('#max-tokens', tokens);
  await page.selectOption('#backend', 'cpu');
  // Clicked from inside the page: the busy page of a just-ended episode can keep Playwright's
  // click waiting past its timeout.
  await page.waitForFunction(() => !(/** @type {HTMLButtonElement} */ (document.getElementById('run')).disabled), null, { polling: 250 });
  await page.evaluate(() => document.getElementById('run')?.click());
  await page.waitForSelector('body[data-episode]', { state: 'attached', timeout: 900_000 });
  const lines = await page.evaluate(() => [...document.querySelectorAll('#turns li.done .nums')].map((n) => n.textContent || ''));
  return lines.map((l) => {
    const m = /read (\d+) \(([\d.]+) tokens\/s\) · wrote (\d+) \(([\d.]+) tokens\/s\).* ([\d.]+) tokens a forward pass/.exec(l);
    if (!m) throw new Error(`a turn's line lacks its figures: ${l}`);
    const [read, readRate, wrote, wroteRate, per] = m.slice(1).map(Number);
    return [read / Math.max(readRate, 1e-9), wrote / Math.max(wroteRate, 1e-9), wrote, wrote / per];
  });
}

try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached', timeout: 60_000 });
  await episode(page, 0, true); // warm-up: compiles the wasm, stores the model
  const total = { true: [0, 0, 0, 0, 0], false: [0, 0, 0, 0, 0] };
  for (let g = 0; g < goals; g++) {
    for (const speculate of g % 2 ? [false, true] : [true, false]) {
      const t = await episode(page, g, speculate);
      const sum = t.reduce((a, x) => a.map((v, i) => v + x[i]), [0, 0, 0, 0]);
      total[speculate].forEach((_, i) => (total[speculate][i] += i < 4 ? sum[i] : t.length));
      console.error(`bench-agent browser: goal ${g} ${speculate ? 'drafts' : 'no drafts'}: ${t.length} turns, ` +
        `${((sum[0] + sum[1]) / t.length).toFixed(2)} s a turn (prefill ${(sum[0] / t.length).toFixed(2)}, decode ${(sum[1] / t.length).toFixed(2)}), ` +
        `${(sum[2] / sum[3]).toFixed(2)} tokens a forward pass`);
    }
  }
  const per = (t) => ({ seconds_per_turn: (t[0] + t[1]) / t[4], prefill_seconds_per_turn: t[0] / t[4], decode_seconds_per_turn: t[1] / t[4], tokens_per_forward: t[2] / t[3] });
  const [d, n] = [per(total.true), per(total.false)];
  console.log(JSON.stringify({ where: 'chromium, wasm threads', goals, drafts: d, no_drafts: n, turn_speedup: n.seconds_per_turn / d.seconds_per_turn, decode_speedup: n.decode_seconds_per_turn / d.decode_seconds_per_turn }));
} finally {
  await browser.close();
  server.stdin.end();
}
