/**
 * 64-bit FNV-1a without BigInt, for rendezvous hashing on the request path.
 *
 * Why not BigInt: on Node 20 a BigInt FNV of an `ip:port` costs about 3–5 µs (every step allocates); this version
 * about 50 ns, and a decision hashes every candidate. The state is kept as four 16-bit limbs while mixing: the
 * prime is 2^40 + 435, so `h · prime mod 2^64 = h · 435 + (h << 40)`, and every intermediate stays below 2^26,
 * inside V8's small-integer range (no doubles, no carries lost).
 *
 * @module
 * @internal
 */

/** FNV-1a 64 offset basis 14695981039346656037 as [hi, lo] 32-bit halves. */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** Low part of the prime 1099511628211 = 2^40 + 435. */
const PRIME_LOW = 435;

/** A fresh hash state `[hi, lo]` (unsigned 32-bit halves) holding the offset basis. */
export function fnvStart(): Uint32Array {
  return Uint32Array.of(OFFSET_HI, OFFSET_LO);
}

/** Mix bytes (each 0–255) into `state` in place. */
function mixBytes(state: Uint32Array, bytes: ArrayLike<number> | string): void {
  const hi = state[0] as number;
  const lo = state[1] as number;
  let v0 = lo & 0xffff;
  let v1 = lo >>> 16;
  let v2 = hi & 0xffff;
  let v3 = hi >>> 16;
  const isString = typeof bytes === "string";
  for (let i = 0; i < bytes.length; i++) {
    v0 ^= isString ? bytes.charCodeAt(i) : (bytes[i] as number);
    // h · 435 limb by limb, plus h << 40 (limb 0 and 1 shifted by 8 land in limbs 2 and 3), then carry upward.
    const t0 = v0 * PRIME_LOW;
    let t1 = v1 * PRIME_LOW;
    let t2 = v2 * PRIME_LOW + (v0 << 8);
    const t3 = v3 * PRIME_LOW + (v1 << 8);
    t1 += t0 >>> 16;
    v0 = t0 & 0xffff;
    t2 += t1 >>> 16;
    v1 = t1 & 0xffff;
    v3 = (t3 + (t2 >>> 16)) & 0xffff;
    v2 = t2 & 0xffff;
  }
  state[0] = (v3 << 16) | v2;
  state[1] = (v1 << 16) | v0;
}

/**
 * Mix `input` into `state` (in place). A string is mixed as its UTF-8 bytes, with an ASCII fast path that avoids
 * encoding the usual `ip:port`; an array as bytes (values 0–255).
 */
export function fnvMix(state: Uint32Array, input: string | ArrayLike<number>): void {
  if (typeof input === "string") {
    for (let i = 0; i < input.length; i++) {
      if (input.charCodeAt(i) > 0x7f) return mixBytes(state, Buffer.from(input, "utf8"));
    }
  }
  mixBytes(state, input);
}

/** Whether hash `(hi, lo)` of `addr` beats the current best: higher unsigned 64-bit value, ties to smaller address. */
export function rendezvousWins(
  hi: number,
  lo: number,
  addr: string,
  bestHi: number,
  bestLo: number,
  bestAddr: string,
): boolean {
  if (hi !== bestHi) return hi > bestHi;
  if (lo !== bestLo) return lo > bestLo;
  return addr < bestAddr;
}

/**
 * Rendezvous (highest-random-weight) choice: the index of the candidate whose address has the highest
 * `FNV-1a-64(key ‖ 0x00 ‖ address UTF-8)`, ties to the lexicographically smaller address; -1 when empty.
 *
 * The key prefix is hashed once; each ASCII address is then mixed from the prefix in local variables only (this
 * loop is the whole cost of session-key routing, so it avoids typed-array traffic and allocation).
 */
export function rendezvousIndex(
  key: ArrayLike<number>,
  candidates: readonly { readonly address: string }[],
): number {
  const prefix = fnvStart();
  mixBytes(prefix, key);
  mixBytes(prefix, [0]);
  const p0 = (prefix[1] as number) & 0xffff;
  const p1 = (prefix[1] as number) >>> 16;
  const p2 = (prefix[0] as number) & 0xffff;
  const p3 = (prefix[0] as number) >>> 16;

  let best = -1;
  let bestHi = 0;
  let bestLo = 0;
  let bestAddr = "";
  for (let a = 0; a < candidates.length; a++) {
    const addr = (candidates[a] as { readonly address: string }).address;
    let v0 = p0;
    let v1 = p1;
    let v2 = p2;
    let v3 = p3;
    let ascii = true;
    for (let i = 0; i < addr.length; i++) {
      const c = addr.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      v0 ^= c;
      const t0 = v0 * PRIME_LOW;
      let t1 = v1 * PRIME_LOW;
      let t2 = v2 * PRIME_LOW + (v0 << 8);
      const t3 = v3 * PRIME_LOW + (v1 << 8);
      t1 += t0 >>> 16;
      v0 = t0 & 0xffff;
      t2 += t1 >>> 16;
      v1 = t1 & 0xffff;
      v3 = (t3 + (t2 >>> 16)) & 0xffff;
      v2 = t2 & 0xffff;
    }
    let hi = ((v3 << 16) | v2) >>> 0;
    let lo = ((v1 << 16) | v0) >>> 0;
    if (!ascii) {
      // Rare (static host names): take the general path over the UTF-8 bytes.
      const h = Uint32Array.from(prefix);
      fnvMix(h, addr);
      hi = h[0] as number;
      lo = h[1] as number;
    }
    if (best < 0 || rendezvousWins(hi, lo, addr, bestHi, bestLo, bestAddr)) {
      best = a;
      bestHi = hi;
      bestLo = lo;
      bestAddr = addr;
    }
  }
  return best;
}
