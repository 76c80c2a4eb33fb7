/**
 * Whether a list of 64-bit hashes (as 32-bit word pairs) repeats one, in one pass over a small reused table: the
 * event index asks it once per `BlockStored` and refuses an event that repeats one.
 *
 * @module
 */

/** Scratch of {@link repeatsHash}: block index per bucket, valid where its stamp is the current call's. */
let seenBlock = new Int32Array(1024);
let seenStamp = new Int32Array(1024);
let stamp = 0;

/**
 * Whether an engine hash occurs twice among the first `n` of `eng` (exact: equal words are compared). vLLM never
 * repeats one within an event; an event that does is malformed (a block would be linked under itself).
 */
export function repeatsHash(eng: Uint32Array, n: number): boolean {
  if (seenBlock.length < 4 * n) {
    let size = seenBlock.length;
    while (size < 4 * n) size *= 2;
    seenBlock = new Int32Array(size);
    seenStamp = new Int32Array(size);
    stamp = 0;
  }
  if (stamp === 0x7fffffff) {
    seenStamp.fill(0);
    stamp = 0;
  }
  stamp++;
  const mask = seenBlock.length - 1;
  for (let i = 0; i < n; i++) {
    const lo = eng[2 * i] as number;
    const hi = eng[2 * i + 1] as number;
    let j = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    j ^= j >>> 15;
    for (;;) {
      j &= mask;
      if (seenStamp[j] !== stamp) break;
      const k = seenBlock[j] as number;
      if (eng[2 * k] === lo && eng[2 * k + 1] === hi) return true;
      j++;
    }
    seenStamp[j] = stamp;
    seenBlock[j] = i;
  }
  return false;
}
