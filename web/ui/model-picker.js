// Model settings, the same in the demo and in the extension: which model runs (the shipped
// policy, the same base zero-shot, one kept in the browser's model store, a new one from a URL or
// a local file, downloaded into the store with progress, pause and resume, and checked by size and
// sha256, or a model served by an OpenAI-compatible server: its URL, the model's name, an API key),
// and on which backend. The page says where the choice is kept (`load`/`save`).
import { $, el } from './dom.js';
import { mib } from './format.js';
import * as store from './models.js';
import { BUNDLED_LABELS } from './policy.js';

/** @typedef {import('./policy.js').ModelSpec} ModelSpec */
/** @typedef {{ model: ModelSpec, backend: string }} Choice */

/** The picker's elements (the same ids in both pages). */
function markup() {
  /** @param {string} value @param {string} text */
  const option = (value, text) => el('option', { value }, text);
  return [
    el('div', { class: 'row' },
      el('select', { id: 'model-choice', 'aria-label': 'model' }),
      el('label', {}, 'backend ', el('select', { id: 'backend' },
        option('auto', 'auto (WebGPU on a GPU that can hold the model, else CPU)'), option('gpu', 'WebGPU'), option('cpu', 'CPU (WebAssembly SIMD)')))),
    el('div', { id: 'model-new', class: 'indent', hidden: '' },
      el('input', { id: 'model-url', type: 'url', placeholder: 'https://…/model.gguf (a Hugging Face “resolve” link; the server must allow CORS)' }),
      el('input', { id: 'model-file', type: 'file', accept: '.gguf' }),
      el('input', { id: 'model-sha', type: 'text', placeholder: 'sha256 (optional; checked when given)', pattern: '[0-9a-fA-F]{64}' }),
      el('div', { class: 'row' }, el('button', { id: 'model-get', type: 'button' }, 'Download'), el('button', { id: 'model-pause', type: 'button', hidden: '' }, 'Pause'))),
    el('div', { id: 'model-remote', class: 'indent', hidden: '' },
      el('input', { id: 'remote-url', type: 'url', placeholder: 'the server\'s OpenAI-compatible base, e.g. http://127.0.0.1:8080/v1' }),
      el('input', { id: 'remote-model', type: 'text', placeholder: 'the model\'s name (empty: the first it serves)' }),
      el('input', { id: 'remote-key', type: 'password', placeholder: 'API key (if the server wants one)', autocomplete: 'off' }),
      el('label', {}, 'kind ', el('select', { id: 'remote-kind' }, option('auto', 'auto (asked from the server)'), option('llamacpp', 'llama.cpp (GBNF grammar)'),
        option('vllm', 'vLLM (regular expression)'), option('ollama', 'Ollama (replies checked)'), option('openai', 'other (replies checked)'))),
      el('div', { class: 'row' }, el('button', { id: 'remote-use', type: 'button' }, 'Use this server'))),
    el('div', { class: 'progress' }, el('div', { id: 'progress-bar' }), el('span', { id: 'progress-text' }, 'not loaded')),
    el('details', { id: 'model-store' }, el('summary', {}, 'Models kept in this browser'), el('ul', { id: 'models' })),
  ];
}

export class ModelPicker {
  /**
   * @param {HTMLElement} root
   * @param {{ load: () => Promise<Choice>, save: (c: Choice) => Promise<void> }} keep
   */
  constructor(root, keep) {
    root.replaceChildren(...markup());
    this.keep = keep;
    /** @type {AbortController | null} */
    this.abort = null;
    this.choice = /** @type {HTMLSelectElement} */ ($('model-choice'));
    this.backendBox = /** @type {HTMLSelectElement} */ ($('backend'));
    this.choice.addEventListener('change', () => this.changed());
    this.backendBox.addEventListener('change', () => this.changed());
    $('model-get').addEventListener('click', () => this.resolve().catch(() => {}));
    $('remote-use').addEventListener('click', () => this.resolve().catch(() => {}));
    $('model-pause').addEventListener('click', () => this.abort?.abort());
  }

  /** The progress line under the choice. @param {number} frac @param {string} text */
  progress(frac, text) {
    $('progress-bar').style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
    $('progress-text').textContent = text;
  }

  /** The backend chosen: auto, gpu or cpu. */
  backend() {
    return this.backendBox.value;
  }

  /** Disables the choices while a model loads or an episode runs. @param {boolean} on */
  disable(on) {
    for (const id of ['model-choice', 'backend', 'model-get']) /** @type {HTMLInputElement} */ ($(id)).disabled = on;
  }

  /** Reads the store and the saved choice again and shows them. */
  async refresh() {
    const saved = await this.keep.load();
    const typing = ['url', 'file'].includes(this.choice.value) ? this.choice.value : null;
    if (saved.model.source === 'remote') {
      const m = saved.model;
      /** @type {HTMLInputElement} */ ($('remote-url')).value = m.url;
      /** @type {HTMLInputElement} */ ($('remote-model')).value = m.model || '';
      /** @type {HTMLInputElement} */ ($('remote-key')).value = m.key || '';
      /** @type {HTMLSelectElement} */ ($('remote-kind')).value = m.kind || 'auto';
    }
    const kept = (await store.available()) ? await store.list() : [];
    const complete = kept.filter((m) => m.complete);
    const cur = saved.model.source === 'cache' ? `cache:${saved.model.key}` : saved.model.source;
    /** @param {string} value @param {string} text */
    const opt = (value, text) => new Option(text, value, false, value === cur);
    this.choice.replaceChildren(
      opt('bundled', BUNDLED_LABELS.bundled), opt('bundled-base', BUNDLED_LABELS['bundled-base']),
      ...(complete.length ? [el('optgroup', { label: 'kept in this browser' }, ...complete.map((m) => opt(`cache:${m.key}`, `${m.name} (${mib(m.size)})`)))] : []),
      opt('url', 'a GGUF from a URL…'), opt('file', 'a GGUF file on this computer…'),
      opt('remote', 'a model served by an OpenAI-compatible server (llama.cpp, vLLM, Ollama)…'));
    // A URL or file being typed or picked stays chosen (a paused download is resumed from it).
    this.choice.value = typing || this.choice.value || 'bundled';
    this.backendBox.value = saved.backend || 'auto';
    $('models').replaceChildren(...(kept.length ? kept.map((m) => el('li', {},
      `${m.name}: ${m.complete ? `${mib(m.size)}, verified` : `incomplete, ${mib(m.have)} of ${mib(m.size)} (Download it again to resume)`} `,
      this.deleteButton(m.key, saved))) : [el('li', {}, (await store.available()) ? 'none yet' : 'this browser cannot keep models (no origin-private file system here)')]));
    this.showNew();
  }

  /** The URL or file inputs, when one of those is chosen. */
  showNew() {
    const v = this.choice.value;
    $('model-remote').hidden = v !== 'remote';
    $('backend').closest('label').hidden = v === 'remote';
    $('model-new').hidden = !['url', 'file'].includes(v);
    $('model-url').hidden = v !== 'url';
    $('model-file').hidden = v !== 'file';
  }

  /** @param {string} key @param {Choice} saved */
  deleteButton(key, saved) {
    const b = el('button', { type: 'button' }, 'Delete');
    b.addEventListener('click', async () => {
      await store.remove(key);
      if (saved.model.source === 'cache' && saved.model.key === key) await this.keep.save({ ...saved, model: { source: 'bundled' } });
      await this.refresh();
    });
    return b;
  }

  async changed() {
    const v = this.choice.value;
    this.showNew();
    if (v === 'url' || v === 'file' || v === 'remote') return;
    const saved = await this.keep.load();
    await this.keep.save({ model: this.spec(v, saved), backend: this.backend() });
  }

  /** @param {string} v @param {Choice} saved @returns {ModelSpec} */
  spec(v, saved) {
    if (v.startsWith('cache:')) {
      const key = v.slice(6);
      const name = [...this.choice.options].find((o) => o.value === v)?.text;
      return { source: 'cache', key, name: name || (saved.model.source === 'cache' ? saved.model.name : key) };
    }
    return { source: v === 'bundled-base' ? 'bundled-base' : 'bundled' };
  }

  /**
   * The model chosen, ready to open: a URL or a local file is first downloaded into the store
   * (resuming an earlier try; Pause stops it), checked, and becomes the saved choice.
   * @returns {Promise<ModelSpec>}
   */
  async resolve() {
    const v = this.choice.value;
    if (v === 'remote') {
      const url = /** @type {HTMLInputElement} */ ($('remote-url')).value.trim().replace(/\/+$/, '');
      if (!/^https?:\/\//i.test(url)) throw this.fail(new Error('give the server\'s http(s) URL (its OpenAI-compatible base, e.g. http://127.0.0.1:8080/v1)'));
      /** @type {ModelSpec} */
      const spec = { source: 'remote', url, model: /** @type {HTMLInputElement} */ ($('remote-model')).value.trim(),
        key: /** @type {HTMLInputElement} */ ($('remote-key')).value.trim(), kind: /** @type {HTMLSelectElement} */ ($('remote-kind')).value };
      await this.keep.save({ model: spec, backend: this.backend() });
      this.progress(0, `${url}: checked when the agent starts`);
      return spec;
    }
    if (v !== 'url' && v !== 'file') return this.spec(v, await this.keep.load());
    const sha = /** @type {HTMLInputElement} */ ($('model-sha')).value.trim();
    if (sha && !/^[0-9a-fA-F]{64}$/.test(sha)) throw this.fail(new Error('a sha256 is 64 hexadecimal digits'));
    if (!(await store.available())) throw this.fail(new Error('this browser cannot keep models (no origin-private file system here)'));
    this.abort = new AbortController();
    $('model-pause').hidden = false;
    document.body.dataset.download = 'running';
    /** @param {number} d @param {number | null} t */
    const progress = (d, t) => this.progress(t ? d / t : 0, `saving into the browser's model store: ${mib(d)}${t ? ' of ' + mib(t) : ''}`);
    try {
      let got;
      if (v === 'url') {
        const url = /** @type {HTMLInputElement} */ ($('model-url')).value.trim();
        if (!/^https?:\/\//i.test(url)) throw new Error('give the http(s) URL of a .gguf file');
        got = await store.download(url, { sha256: sha, progress, signal: this.abort.signal });
      } else {
        const f = /** @type {HTMLInputElement} */ ($('model-file')).files?.[0];
        if (!f) throw new Error('pick a .gguf file first');
        got = await store.importFile(f, { sha256: sha, progress });
      }
      const spec = /** @type {ModelSpec} */ ({ source: 'cache', key: got.key, name: got.meta.name });
      await this.keep.save({ model: spec, backend: this.backend() });
      await this.refresh();
      this.progress(1, `${got.meta.name}: ${mib(got.meta.size)}, sha256 ${got.meta.sha256}, kept in this browser`);
      document.body.dataset.download = 'done';
      return spec;
    } catch (e) {
      throw this.fail(/** @type {Error} */ (e));
    } finally {
      $('model-pause').hidden = true;
      this.abort = null;
    }
  }

  /** Shows why a download stopped; returns the error. @param {Error} e */
  fail(e) {
    document.body.dataset.download = 'error';
    this.progress(0, e.name === 'AbortError' ? 'paused: press Download again to resume where it stopped' : `failed: ${e.message}`);
    this.refresh().catch(() => {});
    return e;
  }
}
