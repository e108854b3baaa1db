// The extension's icon, drawn at build time (no binary in the tree): a blue rounded square with
// a white flat line of dots, MEM1's constant context, over a faint rising one, full history's.
//   iconPng(size) -> PNG bytes (RGBA, 4x4 supersampled)
import zlib from 'node:zlib';

/** @param {number} x @param {number} y @param {number} ax @param {number} ay @param {number} bx @param {number} by */
function segDist(x, y, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - ax - t * dx, y - ay - t * dy);
}

/** Colour at (x, y) in a unit square: [r, g, b, a]. @param {number} x @param {number} y */
function shade(x, y) {
  const r = 0.2, cx = Math.min(Math.max(x, r), 1 - r), cy = Math.min(Math.max(y, r), 1 - r);
  if (Math.hypot(x - cx, y - cy) > r) return [0, 0, 0, 0];
  const flat = segDist(x, y, 0.2, 0.56, 0.8, 0.56) < 0.055;
  const dots = [0.2, 0.4, 0.6, 0.8].some((px) => Math.hypot(x - px, y - 0.56) < 0.085);
  if (flat || dots) return [255, 255, 255, 255];
  if (segDist(x, y, 0.2, 0.8, 0.8, 0.24) < 0.035) return [150, 184, 246, 255];
  return [42, 109, 244, 255];
}

/** @param {number} size */
export function iconPng(size) {
  const S = 4;
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4);
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < S; sy++) for (let sx = 0; sx < S; sx++) {
        const c = shade((x + (sx + 0.5) / S) / size, (y + (sy + 0.5) / S) / size);
        for (let k = 0; k < 3; k++) acc[k] += c[k] * c[3];
        acc[3] += c[3];
      }
      const a = acc[3] / (S * S);
      for (let k = 0; k < 3; k++) row[1 + x * 4 + k] = acc[3] ? Math.round(acc[k] / acc[3]) : 0;
      row[1 + x * 4 + 3] = Math.round(a);
    }
    rows.push(row);
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  /** @param {Buffer} b */
  const crc = (b) => {
    let c = 0xffffffff;
    for (const v of b) c = crcTable[(c ^ v) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  /** @param {string} type @param {Buffer} data */
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}
