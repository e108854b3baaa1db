// A tiny static file server for the browser tests and the web demo: GET/HEAD with single
// `Range: bytes=a-b` requests (206 + Content-Range; `/norange/PATH` ignores Range), CORS for any
// origin (Range allowed, Content-Range exposed), COOP/COEP (its pages are cross-origin isolated),
// a folder's index.html, and Content-Type by file extension (wasm must be application/wasm to be
// compiled while it streams). No npm dependencies.
//
//   node tests/serve.mjs ROOT [PORT]    (PORT 0 or absent: a free port)
//
// Listens on 127.0.0.1 and prints `listening http://127.0.0.1:PORT` once ready. Stops on SIGTERM/
// SIGINT, and by itself when its stdin closes (so it never outlives the script that started it
// with a pipe on stdin) or after MAX_SECONDS (env SERVE_MAX_SECONDS, default 3600). SERVE_KEEP=1
// (the demo) ignores stdin and has no time limit.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] || '.');
const port = Number(process.argv[3] || 0);
const keep = !!process.env.SERVE_KEEP;
const maxSeconds = Number(process.env.SERVE_MAX_SECONDS || 3600);
const quiet = !process.env.SERVE_VERBOSE;

const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.txt': 'text/plain; charset=utf-8',
};

const cors = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges',
  'Access-Control-Max-Age': '600',
  // Cross-origin isolation: a page served from here may use shared memory (the threaded wasm
  // build, crate/js/load.js), and any isolated page may load what is served here.
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

function fail(res, code, msg, extra = {}) {
  res.writeHead(code, { ...cors, 'Content-Type': 'text/plain', ...extra });
  res.end(msg + '\n');
}

const server = http.createServer((req, res) => {
  if (!quiet) console.error(`${req.method} ${req.url} ${req.headers.range || ''}`);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors);
    return res.end();
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'method not allowed');
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return fail(res, 400, 'bad path');
  }
  // `/norange/PATH` serves PATH but ignores Range (answers 200 with the whole file): lets the
  // tests check that clients refuse such a server instead of downloading a whole model.
  let honourRange = true;
  if (rel.startsWith('/norange/')) {
    honourRange = false;
    rel = rel.slice('/norange'.length);
  }
  let file = path.join(root, rel);
  if (!file.startsWith(root + path.sep) && file !== root) return fail(res, 403, 'forbidden');
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    return fail(res, 404, 'not found');
  }
  if (st.isDirectory()) {
    file = path.join(file, 'index.html');
    try {
      st = fs.statSync(file);
    } catch {
      return fail(res, 404, 'not a file');
    }
  }
  if (!st.isFile()) return fail(res, 404, 'not a file');
  const size = st.size;
  const headers = { ...cors, 'Accept-Ranges': 'bytes', 'Content-Type': types[path.extname(file).toLowerCase()] || 'application/octet-stream', 'Cache-Control': 'no-store' };
  let start = 0, end = size - 1, status = 200;
  const range = honourRange ? req.headers.range : undefined;
  if (range) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (!m || (m[1] === '' && m[2] === '')) {
      return fail(res, 416, 'unsupported range', { 'Content-Range': `bytes */${size}` });
    }
    if (m[1] === '') { // suffix: the last N bytes
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
    }
    if (start >= size || start > end) {
      return fail(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) return res.end();
  const stream = fs.createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
});

server.on('error', (/** @type {NodeJS.ErrnoException} */ e) => {
  console.error(`serve.mjs: cannot listen on 127.0.0.1:${port}: ${e.code || e.message}${e.code === 'EADDRINUSE' ? ' (port in use: choose another)' : ''}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (!keep) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  setTimeout(stop, maxSeconds * 1000).unref();
}
