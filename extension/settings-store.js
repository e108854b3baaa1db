// The extension's settings (storage.local), with their defaults.
import { api } from './api.js';

export const DEFAULTS = {
  // {source: 'bundled'} or {source: 'cache', key, name}
  model: { source: 'bundled' },
  backend: 'auto',
  maxTurns: 10,
  maxTokens: 224,
  // Ask before every purchase-like click. Turning it off is meant for the demo store only.
  autoConfirm: false,
};

export async function load() {
  return { ...DEFAULTS, ...(await api.storage.local.get(Object.keys(DEFAULTS))) };
}

export async function save(values) {
  await api.storage.local.set(values);
}
