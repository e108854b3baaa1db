// Lays out the two packages from one source: `node extension/build.mjs PKG_DIR MODEL ADAPTER OUT_DIR`
// writes OUT_DIR/chrome/ (manifest.json as written, offscreen document + service worker) and
// OUT_DIR/firefox/ (background page + sidebar instead, gecko id), each with the wasm package
// (PKG_DIR, wasm-bindgen --target web), the bundled model and the trained policy's LoRA adapter
// (hard-linked when possible) described by models/policy.json (sizes, sha256), the shared views
// (web/ui/, the demo's too) under ui/, and the icons (drawn by icon.mjs), and zips them to
// OUT_DIR/mem1-chrome.zip and OUT_DIR/mem1-firefox.zip.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyManifest } from '../scripts/policy-manifest.mjs';
import { iconPng } from './icon.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [pkg, model, adapter, out] = process.argv.slice(2);
if (!pkg || !model || !adapter || !out) {
  console.error('usage: node extension/build.mjs PKG_DIR MODEL.gguf ADAPTER.lora.gguf OUT_DIR');
  process.exit(2);
}
const base = JSON.parse(fs.readFileSync(path.join(here, 'manifest.json'), 'utf8'));

function firefoxManifest(m) {
  const f = structuredClone(m);
  delete f.side_panel;
  delete f.minimum_chrome_version;
  // Cross-origin isolation of extension pages (for the threaded CPU build) is Chromium's key;
  // Firefox loads the one-thread build.
  delete f.cross_origin_embedder_policy;
  delete f.cross_origin_opener_policy;
  // Site access is the user's to grant and revoke in Firefox: with it revoked, only the "tabs"
  // permission lets the panel see which site the tab shows, so that Go can ask for that one.
  f.permissions = [...f.permissions.filter((p) => !['sidePanel', 'offscreen'].includes(p)), 'tabs'];
  f.background = { scripts: ['firefox-background.js'], type: 'module' };
  f.sidebar_action = { default_panel: 'panel.html', default_title: m.name, default_icon: m.action.default_icon, open_at_install: false };
  // The keyboard shortcut toggles the sidebar (Chromium's opens the side panel through the action).
  f.commands = { _execute_sidebar_action: m.commands._execute_action };
  // Nothing leaves the browser: the model runs locally and no data is collected.
  f.browser_specific_settings = {
    gecko: { id: 'mem1-shopping-agent@mem1.invalid', strict_min_version: '128.0', data_collection_permissions: { required: ['none'] } },
  };
  return f;
}

const only = { chrome: ['background.js', 'offscreen.html', 'offscreen.js'], firefox: ['firefox-background.js'] };
const sources = fs.readdirSync(here).filter((f) => /\.(js|html|css)$/.test(f) && f !== 'build.mjs');

function link(from, to) {
  try {
    fs.linkSync(fs.realpathSync(from), to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

const policy = JSON.stringify(policyManifest(model, adapter), null, 1) + '\n';
const sizes = Object.keys(base.icons).map(Number);

fs.mkdirSync(out, { recursive: true });
for (const browser of ['chrome', 'firefox']) {
  const dir = path.join(out, browser);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'pkg'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'models'));
  const other = browser === 'chrome' ? only.firefox : only.chrome;
  for (const f of sources) if (!other.includes(f)) fs.copyFileSync(path.join(here, f), path.join(dir, f));
  // The threaded build (pkg/threads/) only where extension pages are cross-origin isolated.
  fs.cpSync(pkg, path.join(dir, 'pkg'), { recursive: true, filter: (f) => browser === 'chrome' || path.relative(pkg, f) !== 'threads' });
  link(model, path.join(dir, 'models', path.basename(model)));
  link(adapter, path.join(dir, 'models', path.basename(adapter)));
  fs.writeFileSync(path.join(dir, 'models', 'policy.json'), policy);
  fs.cpSync(path.join(here, '../web/ui'), path.join(dir, 'ui'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'icons'));
  for (const n of sizes) fs.writeFileSync(path.join(dir, 'icons', `icon-${n}.png`), iconPng(n));
  const manifest = browser === 'chrome' ? base : firefoxManifest(base);
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const zip = path.join(out, `mem1-${browser}.zip`);
  fs.rmSync(zip, { force: true });
  // Stored, not deflated: the model does not compress and the zip stays quick to make.
  execFileSync('python3', ['-c', `
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as z:
    for d, _, fs in os.walk(src):
        for f in sorted(fs):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, src))
`, dir, zip]);
  console.error(`build-extension: ${dir} and ${zip}`);
}
