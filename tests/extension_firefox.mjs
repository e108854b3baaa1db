// The Firefox build (run scripts/build-extension.sh first): `web-ext lint` must report no errors
// and no warnings,
// and headless Firefox ESR must install extension/dist/firefox as a temporary add-on and start its
// background page, whose engine host loads the wasm module and says so on the console.
//
//   node tests/extension_firefox.mjs  (env: FIREFOX=/usr/bin/firefox-esr TIMEOUT_S=120 VERBOSE=1)
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(here, '../extension/dist/firefox');
const webext = path.join(here, 'node_modules/.bin/web-ext');
const firefox = process.env.FIREFOX || '/usr/bin/firefox-esr';
const timeoutMs = Number(process.env.TIMEOUT_S || 120) * 1000;

function fail(msg) {
  console.error(`extension_firefox: FAIL: ${msg}`);
  process.exit(1);
}

if (!fs.existsSync(path.join(dir, 'manifest.json'))) fail(`${dir} is missing: run scripts/build-extension.sh first`);
if (!fs.existsSync(webext)) fail(`${webext} is missing: (cd tests && npm ci)`);
if (!fs.existsSync(firefox)) fail(`${firefox} is missing: apt-get install firefox-esr`);

// 1. Lint (addons-linter): errors and warnings fail.
let lint;
try {
  lint = JSON.parse(execFileSync(webext, ['lint', '--source-dir', dir, '--output', 'json', '--self-hosted'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
} catch (e) {
  lint = JSON.parse(e.stdout || '{}');
}
const c = lint.summary ?? {};
for (const w of lint.warnings || []) console.error(`extension_firefox: lint warning: ${w.code}: ${w.message} (${w.file || ''})`);
console.error(`extension_firefox: lint: ${c.errors ?? '?'} errors, ${c.warnings ?? '?'} warnings, ${c.notices ?? '?'} notices`);
if (!lint.summary) fail('web-ext lint gave no report');
if (c.errors || c.warnings) fail(`lint errors or warnings:\n  ${[...lint.errors, ...lint.warnings].map((e) => `${e.code}: ${e.message} (${e.file || ''})`).join('\n  ')}`);

// 2. Install it as a temporary add-on in headless Firefox and wait for the engine host.
const t0 = Date.now();
const p = spawn(webext, ['run', '--verbose', '--source-dir', dir, '--firefox', firefox, '--no-input', '--no-reload',
  '--pref', 'devtools.console.stdout.chrome=true', '--pref', 'devtools.console.stdout.content=true',
  '--pref', 'dom.webgpu.enabled=true', '--pref', 'gfx.webgpu.ignore-blocklist=true'],
{ env: { ...process.env, MOZ_HEADLESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
let buf = '';
const result = await new Promise((ok) => {
  const timer = setTimeout(() => ok({ error: `no sign of the engine host within ${timeoutMs / 1000} s` }), timeoutMs);
  const read = (d) => {
    buf += d;
    if (process.env.VERBOSE) process.stderr.write(d);
    const ready = /mem1: engine host ready \(([^)]*)\)/.exec(buf);
    const failed = /mem1: the engine failed to start: ([^"\n]*)/.exec(buf);
    if ((ready || failed) && /Installed .* as a temporary add-on/.test(buf)) {
      clearTimeout(timer);
      ok(ready ? { ready: ready[1] } : { error: `the engine host failed: ${failed[1]}` });
    }
  };
  p.stdout.on('data', read);
  p.stderr.on('data', read);
  p.on('exit', (code) => {
    clearTimeout(timer);
    ok({ error: `web-ext exited (${code}) before the add-on started` });
  });
});
try {
  process.kill(-p.pid, 'SIGTERM');
} catch {}
if (result.error) fail(`${result.error}\n${buf.split('\n').filter((l) => /error|mem1|Installed/i.test(l)).slice(-15).join('\n')}`);
console.error(`extension_firefox: installed as a temporary add-on; background engine host ready (${result.ready}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(JSON.stringify({ ok: true, lint: c, host: result.ready }));
