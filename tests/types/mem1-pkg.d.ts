// The wasm package as the pages import it (wasm-bindgen's output, built into pkg/ by
// scripts/build-wasm.sh; not in the source tree, so its shape is declared here for the type check).
declare module '*/pkg/mem1.js' {
  export default function init(): Promise<unknown>;
  export class Sha256 {
    update(chunk: Uint8Array): void;
    hex(): string;
    free(): void;
  }
  /** The agent (crate/src/wasm/): its methods are checked by the browser tests. */
  export const Demo: any;
}

declare module '*/pkg/load.js' {
  export function loadMem1(o?: { threads?: string | number | null }): Promise<{ pkg: any; cpuThreads: number; cpu: string }>;
}
