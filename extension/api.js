// The WebExtension API under one name: `browser` (Firefox) or `chrome` (Chromium); both return
// promises in Manifest V3.
export const api = globalThis.browser ?? globalThis.chrome;

// Whether this build runs the engine in an offscreen document (Chromium) or in the background
// page (Firefox, which has no offscreen documents).
export const hasOffscreen = !!api.offscreen;

// Only http(s) pages can be shopped on.
export function shoppable(url) {
  return /^https?:\/\//i.test(url || '');
}
