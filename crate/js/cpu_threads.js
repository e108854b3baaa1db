// The CPU backend's Web Workers (threaded wasm build only; see crate/src/cpu/pool.rs).
// This file is both the helper the module imports (spawnCpuWorkers, sleep) and the script each
// worker runs; each worker imports the module's glue (its URL comes from the module).

const NAME = 'mem1-cpu';

// Starts n module workers sharing `memory`; resolves once each has instantiated the module (it
// then enters its loop and counts itself ready in the shared memory).
export function spawnCpuWorkers(glue, module, memory, n) {
  const url = new URL(import.meta.url);
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve, reject) => {
    const w = new Worker(url, { type: 'module', name: `${NAME}-${i}` });
    w.onmessage = (e) => (e.data && e.data.error ? reject(new Error(`CPU worker ${i}: ${e.data.error}`)) : resolve());
    w.onerror = (e) => reject(new Error(`CPU worker ${i}: ${e.message || 'failed to start'}`));
    w.postMessage({ glue, module, memory });
  })));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope && self.name.startsWith(NAME)) {
  self.onmessage = async ({ data }) => {
    try {
      const pkg = await import(data.glue);
      await pkg.default({ module_or_path: data.module, memory: data.memory });
      self.postMessage({ started: true });
      pkg.cpuWorkerLoop();
    } catch (e) {
      self.postMessage({ error: String(e && e.message || e) });
    }
  };
}
