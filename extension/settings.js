// Settings: the model and backend (the shared model picker, ui/model-picker.js, as in the demo:
// the bundled policy, its base zero-shot, a model kept in the browser's store, or a new one from a
// URL or a file, downloaded with progress, pause and resume and checked before use), turn limits
// and purchase confirmation; and what WebGPU this browser offers.
import * as settings from './settings-store.js';
import { $ } from './ui/dom.js';
import { ModelPicker } from './ui/model-picker.js';
import { specName } from './ui/policy.js';
import { describeWebGPU, probeWebGPU } from './ui/webgpu.js';

const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));

const picker = new ModelPicker($('model-picker'), {
  load: async () => {
    const s = await settings.load();
    return { model: s.model, backend: s.backend };
  },
  save: async (c) => {
    await settings.save({ model: c.model, backend: c.backend });
    $('model-status').textContent = `In use: ${specName(c.model)}, backend ${c.backend}.`;
  },
});

async function refresh() {
  const s = await settings.load();
  await picker.refresh();
  $('model-status').textContent = `In use: ${specName(s.model)}, backend ${s.backend}.`;
  input('max-turns').value = String(s.maxTurns);
  input('max-tokens').value = String(s.maxTokens);
  input('auto-confirm').checked = s.autoConfirm;
  input('demo-store').value = s.demoStore;
}

$('agent-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  await settings.save({
    maxTurns: Math.max(1, Number(input('max-turns').value) || 10),
    maxTokens: Math.max(16, Number(input('max-tokens').value) || 224),
    autoConfirm: input('auto-confirm').checked,
    demoStore: input('demo-store').value.trim() || settings.DEFAULTS.demoStore,
  });
  $('saved').textContent = 'Saved.';
});
probeWebGPU().then((p) => ($('gpu').textContent = describeWebGPU(p).text), (e) => ($('gpu').textContent = `WebGPU check failed: ${e.message}`));
refresh();
