/**
 * `repeatsHash`, which lets the event index skip a lookup per stored block: it must say "repeats" for every list
 * with an equal pair of hashes (else the index would create a second record for one engine hash) and "no" only when
 * none repeats, across table growth and many calls (the per-call stamp).
 */
import { repeatsHash } from "../../src/prefix/repeated-hash";
import { prng } from "./reference-models";

const words = (hashes: readonly bigint[]): Uint32Array => new Uint32Array(BigUint64Array.from(hashes).buffer);

describe("repeatsHash", () => {
  it("finds a repeat anywhere, and only among the first n", () => {
    expect(repeatsHash(words([1n, 2n, 3n]), 3)).toBe(false);
    expect(repeatsHash(words([1n, 2n, 1n]), 3)).toBe(true);
    expect(repeatsHash(words([1n, 2n, 1n]), 2)).toBe(false);
    // Same low word, other high word: not a repeat.
    expect(repeatsHash(words([5n, (1n << 32n) | 5n]), 2)).toBe(false);
    expect(repeatsHash(words([]), 0)).toBe(false);
  });

  it("agrees with a Set over random lists of every size, call after call", () => {
    const rand = prng(7);
    let repeats = 0;
    for (let call = 0; call < 3000; call++) {
      const n = Math.floor(rand() * (call % 100 === 0 ? 5000 : 300));
      // Few distinct values for some lists (repeats likely), 64-bit random for others (repeats unlikely).
      const narrow = rand() < 0.5;
      const hashes = Array.from({ length: n }, () =>
        narrow
          ? BigInt(Math.floor(rand() * 4 * n))
          : (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32)),
      );
      const want = new Set(hashes).size !== n;
      if (want) repeats++;
      expect(repeatsHash(words(hashes), n)).toBe(want);
    }
    expect(repeats).toBeGreaterThan(100);
    expect(repeats).toBeLessThan(2900);
  });
});
