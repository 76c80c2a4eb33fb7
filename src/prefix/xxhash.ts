/**
 * Seeded XXH64 from `xxhash-wasm`, initialised once per process. The WASM module needs an async set-up; after
 * {@link loadXxh64} has resolved, {@link xxh64} is available synchronously (routing decisions cannot await).
 *
 * @module
 */
import xxhashWasm from "xxhash-wasm";

/** Seeded XXH64 of a byte array, as an unsigned 64-bit bigint. The bytes are copied; views are fine. */
export type Xxh64 = (input: Uint8Array, seed: bigint) => bigint;

/** Largest unsigned 64-bit value; seeds are reduced modulo 2^64. */
const U64 = (1n << 64n) - 1n;

let loading: Promise<Xxh64> | undefined;
let loaded: Xxh64 | undefined;

/** The module's init function, whether the CommonJS build hands us the function itself or `{ default }`. */
function initFunction(): () => ReturnType<typeof xxhashWasm> {
  const mod: unknown = xxhashWasm;
  if (typeof mod === "function") return mod as typeof xxhashWasm;
  const inner = (mod as { default?: unknown } | undefined)?.default;
  if (typeof inner === "function") return inner as typeof xxhashWasm;
  throw new Error("xxhash-wasm: unexpected module shape");
}

/** Initialise the WASM module (once; later calls share the same promise) and return the hash function. */
export function loadXxh64(): Promise<Xxh64> {
  loading ??= initFunction()().then((api) => {
    const h64Raw = api.h64Raw;
    const fn: Xxh64 = (input, seed) => h64Raw(input, seed & U64);
    loaded = fn;
    return fn;
  });
  return loading;
}

/**
 * The hash function, once {@link loadXxh64} has resolved.
 *
 * @throws Error when called before initialisation finished.
 */
export function xxh64(): Xxh64 {
  if (!loaded)
    throw new Error("xxhash-wasm is not initialised: await loadXxh64() (or createBlockHasher) first");
  return loaded;
}
