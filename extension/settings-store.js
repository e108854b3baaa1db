// The extension's settings and its history of past tasks (storage.local), with their defaults.
import { api } from './api.js';

/**
 * @typedef {{ model: import('./ui/policy.js').ModelSpec, backend: string, maxTurns: number,
 *   maxTokens: number, autoConfirm: boolean, demoStore: string }} Settings
 * @typedef {{ task: string, started: string, ended: string, url: string, actions: string[],
 *   outcome: string, state: string }} Past
 */

/** @type {Settings} */
export const DEFAULTS = {
  // The shipped policy; or {source: 'bundled-base'}, or {source: 'cache', key, name}.
  model: { source: 'bundled' },
  backend: 'auto',
  maxTurns: 10,
  maxTokens: 224,
  // Buy without asking: only ever on the demo store (`mem1 shop serve`) at `demoStore`, an
  // address on this computer; the engine ignores it anywhere else (crate/src/agent/guard.rs).
  autoConfirm: false,
  demoStore: 'http://127.0.0.1:3000',
};

/** How many past tasks are kept. */
export const HISTORY = 20;

/** @returns {Promise<Settings>} */
export async function load() {
  const stored = await api.storage.local.get(/** @type {string[]} */ (Object.keys(DEFAULTS)));
  return /** @type {Settings} */ ({ ...DEFAULTS, ...stored });
}

/** @param {Partial<Settings>} values */
export async function save(values) {
  await api.storage.local.set(values);
}

/** The past tasks, newest first. @returns {Promise<Past[]>} */
export async function history() {
  const { history = [] } = await api.storage.local.get('history');
  return Array.isArray(history) ? history : [];
}

/** Keeps a finished task (the newest HISTORY). @param {Past} entry */
export async function remember(entry) {
  await api.storage.local.set({ history: [entry, ...(await history())].slice(0, HISTORY) });
}

export async function forget() {
  await api.storage.local.remove('history');
}
