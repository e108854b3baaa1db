// Numbers as the pages show them. Sizes are binary (MiB), as the browser and the engine count.

/**
 * `x` with `d` decimals, or a dash when it is not a number.
 * @param {unknown} x
 * @param {number} [d]
 */
export function fmt(x, d = 1) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–';
}

/** @param {number | null | undefined} bytes */
export function mib(bytes) {
  return typeof bytes === 'number' && Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MiB` : '? MiB';
}

/** The first 8 hex digits of a sha256, as the command line prints them. @param {string | null | undefined} hex */
export function shortSha(hex) {
  return hex ? hex.slice(0, 8) : '';
}
