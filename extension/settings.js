// Settings: which model (bundled, a URL, a local file, or one downloaded before), downloads with
// progress that resume after an interruption and are checked before use (models.js), the backend,
// turn limits, and purchase confirmation.
import * as models from './models.js';
import * as settings from './settings-store.js';

const $ = (id) => document.getElementById(id);
let abort = null;

function mb(n) {
  return n == null ? '?' : `${(n / 1e6).toFixed(1)} MB`;
}

async function refresh() {
  const s = await settings.load();
  const list = await models.list();
  $('models').replaceChildren(...list.map((m) => {
    const li = document.createElement('li');
    li.textContent = `${m.name}: ${m.complete ? `${mb(m.size)}, verified` : `incomplete (${mb(m.have)} of ${mb(m.size)}; choose it again to resume)`} `;
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.onclick = async () => {
      await models.remove(m.key);
      if (s.model.key === m.key) await settings.save({ model: { source: 'bundled' } });
      refresh();
    };
    li.append(del);
    return li;
  }));
  $('cached').replaceChildren(...list.filter((m) => m.complete).map((m) => new Option(m.name, m.key, false, s.model.key === m.key)));
  const cur = s.model.source === 'bundled' ? 'the bundled MEM1 policy (SmolLM2-135M + LoRA)' : s.model.name;
  $('model-status').textContent = `In use: ${cur}.`;
  document.querySelector(`input[name=source][value=${s.model.source === 'cache' ? 'cache' : 'bundled'}]`).checked = true;
  $('backend').value = s.backend;
  $('max-turns').value = s.maxTurns;
  $('max-tokens').value = s.maxTokens;
  $('auto-confirm').checked = s.autoConfirm;
}

async function useModel(e) {
  e.preventDefault();
  const source = document.querySelector('input[name=source]:checked').value;
  const progress = (done, total) => {
    $('dl').hidden = false;
    $('dl').max = total || 1;
    $('dl').value = done;
    $('model-status').textContent = `Saving: ${mb(done)} of ${mb(total)}`;
  };
  abort = new AbortController();
  $('cancel').hidden = false;
  document.body.dataset.download = 'running';
  try {
    let got;
    if (source === 'bundled') {
      await settings.save({ model: { source: 'bundled' } });
    } else if (source === 'url') {
      const url = $('url').value.trim();
      if (!/^https?:\/\//.test(url)) throw new Error('Give an http(s) URL of a .gguf file.');
      got = await models.download(url, { sha256: $('sha').value.trim(), progress, signal: abort.signal });
    } else if (source === 'file') {
      const f = $('file').files[0];
      if (!f) throw new Error('Pick a .gguf file first.');
      got = await models.importFile(f, { sha256: $('sha').value.trim(), progress });
    } else {
      const key = $('cached').value;
      const m = key && (await models.open(key));
      if (!m) throw new Error('That model is not complete in the cache.');
      got = m;
    }
    if (got) await settings.save({ model: { source: 'cache', key: got.key, name: got.meta.name } });
    document.body.dataset.download = 'done';
  } catch (err) {
    document.body.dataset.download = 'error';
    await refresh();
    $('model-status').textContent = err.name === 'AbortError' ? 'Paused: choose the same URL again to resume.' : `Failed: ${err.message}`;
    return;
  } finally {
    $('cancel').hidden = true;
    $('dl').hidden = true;
    abort = null;
  }
  await refresh();
}

async function saveAgent(e) {
  e.preventDefault();
  await settings.save({
    backend: $('backend').value,
    maxTurns: Math.max(1, Number($('max-turns').value) || 10),
    maxTokens: Math.max(16, Number($("max-tokens").value) || 224),
    autoConfirm: $('auto-confirm').checked,
  });
  $('saved').textContent = 'Saved.';
}

async function describeGpu() {
  if (!navigator.gpu) return 'No WebGPU in this browser: the agent runs on the CPU backend (SIMD, slower).';
  const a = await navigator.gpu.requestAdapter();
  if (!a) return 'WebGPU is present but offers no adapter: the agent runs on the CPU backend.';
  const i = a.info || {};
  const name = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const emulated = i.isFallbackAdapter ? ' It is a CPU emulation, so “auto” picks the CPU backend.' : '';
  return `WebGPU adapter: ${name}; largest buffer ${mb(a.limits.maxBufferSize)}, largest storage binding ${mb(a.limits.maxStorageBufferBindingSize)}. A model whose tensors do not fit runs on the CPU backend.${emulated}`;
}

$('model-form').addEventListener('submit', useModel);
$('agent-form').addEventListener('submit', saveAgent);
$('cancel').addEventListener('click', () => abort?.abort());
describeGpu().then((t) => ($('gpu').textContent = t), (e) => ($('gpu').textContent = `WebGPU check failed: ${e.message}`));
refresh();
