// Loads the mem1 wasm module for a page; build-wasm.sh copies this file beside the glue.
// The threaded build (the CPU backend computes on Web Workers too) needs a cross-origin-isolated
// page (served with COOP: same-origin and COEP: require-corp) and more than one core; elsewhere
// the one-thread build loads. `threads` caps the threads (default: the cores, at most 8); 1 forces
// the one-thread build. Returns the module, the CPU threads and `cpu`, a line saying them and why
// not more (no parentheses, so it can sit inside a log line's).
export async function loadMem1({ threads } = {}) {
  const cores = navigator.hardwareConcurrency || 1;
  const want = Math.max(1, Math.min(8, Number(threads) || cores));
  const isolated = globalThis.crossOriginIsolated === true;
  const threaded = isolated && want > 1;
  let why = want > 1 ? 'the page is not cross-origin isolated' : cores > 1 ? 'one thread was asked for' : 'the machine has one core';
  let pkg = null;
  if (threaded) {
    try {
      pkg = await import('./threads/mem1.js');
      await pkg.default();
    } catch (e) {
      pkg = null;
      why = `the threaded build did not load: ${e.message || e}`;
      console.warn(`mem1: ${why}`);
    }
  }
  const plain = pkg === null;
  if (plain) {
    pkg = await import('./mem1.js');
    await pkg.default();
  }
  let cpuThreads = 1;
  if (!plain) {
    try {
      cpuThreads = await pkg.startCpuThreads(want - 1);
      why = '';
    } catch (e) {
      why = `its Web Workers did not start: ${e.message || e}`;
      console.warn(`mem1: the CPU backend runs on one thread: ${why}`);
    }
  }
  const cpu = `CPU backend: ${cpuThreads} thread${cpuThreads === 1 ? '' : 's'}${why ? `, as ${why}` : ''}`;
  return { pkg, cpuThreads, cpu };
}
