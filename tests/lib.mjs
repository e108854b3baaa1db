// Helpers shared by the browser tests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/// Starts a server process and resolves to `{url, stop}`, its base URL read from its output
/// (`stream`: 'stdout' or 'stderr') by `re`'s first group.
export async function server(cmd, args, re, stream) {
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const url = await new Promise((ok, no) => {
    let buf = '';
    p[stream].on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) ok(m[1]);
    });
    p.on('exit', (c) => no(new Error(`${cmd} exited (${c}): ${buf}`)));
  });
  return { url, stop: () => p.kill() };
}

/// Chromium flags for headless WebGPU runs (../shared/TOOLCHAIN.md).
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];

/// Headless Chromium (env CHROMIUM, default Debian's) with the unpacked extension at `ext`
/// loaded, in a fresh profile under the temp dir named `prefix`...: `{context, profile}`.
export async function withExtension(ext, prefix) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [...CHROMIUM_ARGS, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
  });
  return { context, profile };
}
