// Writes models/policy.json beside a build's bundled model and adapter: their files, sizes and
// sha256, which the pages' model store checks downloads against and the model line shows.
//   node scripts/policy-manifest.mjs MODEL.gguf ADAPTER.lora.gguf OUT.json
// (build-web.sh runs it; extension/build.mjs imports `policyManifest`).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** @param {string} file */
function describe(file) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return { file: `models/${path.basename(file)}`, size: fs.statSync(file).size, sha256: h.digest('hex') };
}

/** @param {string} model @param {string} adapter */
export function policyManifest(model, adapter) {
  return { model: describe(model), adapter: describe(adapter) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [model, adapter, out] = process.argv.slice(2);
  if (!model || !adapter || !out) {
    console.error('usage: node scripts/policy-manifest.mjs MODEL.gguf ADAPTER.lora.gguf OUT.json');
    process.exit(2);
  }
  fs.writeFileSync(out, JSON.stringify(policyManifest(model, adapter), null, 1) + '\n');
}
