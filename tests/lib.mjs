// Helpers shared by the browser tests.
import { spawn } from 'node:child_process';

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
export const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];
