/**
 * A seeded uniform [0, 1) source (mulberry32): tiny and fast, good enough for test inputs, benchmark workloads and
 * simulated text, and the same seed always gives the same sequence. Not for anything security-related.
 *
 * @module
 */

/** Deterministic 32-bit PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
