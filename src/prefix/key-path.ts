/**
 * A prompt's block keys as the typed-array indexes read them: two 32-bit words per key (a `Uint32Array` view over
 * the `BigUint64Array` the prompt preparer made, so nothing boxes a `BigInt`), and per block a 32-bit fingerprint
 * of the whole path of keys up to it.
 *
 * Why the path fingerprint: a pod's entries form chains (each entry links to the entry of the block before it in
 * the prompt that created it). A block key is itself a hash chain — key i determines keys 0..i−1 — so when a pod
 * holds key i of a query *as the same path*, it holds the whole run before it, and the longest held run can be found
 * by a search instead of a walk. Test and foreign keys need not be chains: an entry stores the fingerprint of the
 * path it was created on, and a key counts for the search only when that equals the query's, so a key reached by
 * another path sends the pod to the exact walk instead of a wrong answer.
 *
 * @module
 */
import type { BlockKey } from "./block-key";

/** Fingerprint of the empty path (before a prompt's first block). */
export const ROOT_FINGERPRINT = 0x9747b28c;

/** Fingerprint of the path `parent` extended by the key (lo, hi). */
export function extendFingerprint(parent: number, lo: number, hi: number): number {
  let h = Math.imul(parent ^ lo, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ hi, 0x1b873593);
  h ^= h >>> 13;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The words of `keys` (key i = words 2i and 2i+1); a view when `keys` is a `BigUint64Array`, else a copy. */
export function keyWords(keys: ArrayLike<BlockKey>): Uint32Array {
  const typed = keys instanceof BigUint64Array ? keys : BigUint64Array.from(Array.from(keys));
  return new Uint32Array(typed.buffer, typed.byteOffset, typed.length * 2);
}

/** Reused fingerprint buffer: one allocation per process, grown to the longest prompt seen. */
let scratch = new Uint32Array(1024);

/**
 * Path fingerprints of the first `n` keys of `words` (entry i covers keys 0..i), after a path whose fingerprint
 * is `start` (an event's anchor block). The returned array is shared scratch space, valid until the next call.
 */
export function pathFingerprints(words: Uint32Array, n: number, start = ROOT_FINGERPRINT): Uint32Array {
  if (scratch.length < n) scratch = new Uint32Array(Math.max(n, scratch.length * 2));
  const out = scratch;
  let fp = start;
  for (let i = 0; i < n; i++) {
    fp = extendFingerprint(fp, words[2 * i] as number, words[2 * i + 1] as number);
    out[i] = fp;
  }
  return out;
}

/**
 * The first `i` in [0, n) with `!held(i)`, or `n`, for a monotone `held` (true up to some point, false after),
 * starting at a guess: when the guess is right, or when nothing is held, at most two calls; otherwise O(log
 * distance) calls (galloping from the guess, then bisection).
 */
export function firstMissing(n: number, guess: number, held: (i: number) => boolean): number {
  // Invariant: every i ≤ a is held (a = −1: none known), every i ≥ b is not (b = n: none known).
  let a = -1;
  let b = n;
  const g = Math.min(Math.max(guess, 0), n);
  if (g > 0) {
    if (held(g - 1)) a = g - 1;
    else {
      // The guess was too long: most often the pod holds nothing of the prompt at all.
      if (g - 1 === 0 || !held(0)) return 0;
      a = 0;
      b = g - 1;
    }
  }
  if (a === g - 1 && g < n) {
    if (held(g)) a = g;
    else return g;
  }
  if (b === n) {
    // Gallop up from a.
    let step = 1;
    for (;;) {
      const probe = a + step;
      if (probe >= n) break;
      if (held(probe)) {
        a = probe;
        step *= 2;
      } else {
        b = probe;
        break;
      }
    }
  } else {
    // Gallop down from b.
    let step = 1;
    for (;;) {
      const probe = b - step;
      if (probe <= a) break;
      if (held(probe)) {
        a = probe;
        break;
      }
      b = probe;
      step *= 2;
    }
  }
  while (b - a > 1) {
    const mid = (a + b) >>> 1;
    if (held(mid)) a = mid;
    else b = mid;
  }
  return b;
}

const oneKey = new BigUint64Array(1);
const oneKeyWords = new Uint32Array(oneKey.buffer);

/** Low and high 32-bit words of one key, without allocating (the result array is reused by the next call). */
export function splitKey(key: BlockKey): Uint32Array {
  oneKey[0] = key;
  return oneKeyWords;
}
