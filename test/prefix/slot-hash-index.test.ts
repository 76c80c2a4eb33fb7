/**
 * The typed-array building blocks of the prefix indexes: the open-addressing slot hash (collisions forced with a
 * tiny table, backward-shift deletion across the wrap, duplicates, rebuild), the path search, and the chain store's
 * zombies.
 */
import { ChainEntries } from "../../src/prefix/chain-entries";
import type { ChainPod } from "../../src/prefix/chain-entries";
import { firstMissing, keyWords, pathFingerprints } from "../../src/prefix/key-path";
import { MAX_PROBE, NO_SLOT, SlotHash, bucketsFor } from "../../src/prefix/slot-hash";
import { prng } from "./reference-models";

function columns(n: number) {
  return { owner: new Int32Array(n), lo: new Uint32Array(n), hi: new Uint32Array(n) };
}

describe("SlotHash", () => {
  it("finds, removes and re-finds keys in a table where every key collides", () => {
    const cols = columns(8);
    // 8 slots in 9 buckets: every probe run wraps and overlaps.
    const hash = new SlotHash(9, cols);
    for (let s = 0; s < 8; s++) {
      cols.owner[s] = s % 2;
      cols.lo[s] = 100 + s;
      cols.hi[s] = 7;
      hash.insert(s);
    }
    for (let s = 0; s < 8; s++) expect(hash.find(s % 2, 100 + s, 7)).toBe(s);
    expect(hash.find(1, 100, 7)).toBe(NO_SLOT); // right key words, other owner
    expect(hash.find(0, 100, 8)).toBe(NO_SLOT);
    // Remove every other slot: the runs must shift back so the rest stay reachable.
    for (const s of [0, 3, 4, 7]) expect(hash.remove(s)).toBe(true);
    expect(hash.remove(3)).toBe(false);
    expect(hash.size).toBe(4);
    for (let s = 0; s < 8; s++)
      expect(hash.find(s % 2, 100 + s, 7)).toBe([0, 3, 4, 7].includes(s) ? NO_SLOT : s);
  });

  it("indexes one key at most MAX_PROBE + 1 times: no probe run grows past it, and lookups stop there", () => {
    const n = 1000;
    const cols = columns(n);
    const hash = new SlotHash(bucketsFor(n), cols);
    const indexed: boolean[] = [];
    for (let s = 0; s < n; s++) {
      cols.owner[s] = 3;
      cols.lo[s] = 42;
      cols.hi[s] = 7;
      indexed.push(hash.insert(s));
    }
    expect(hash.size).toBe(MAX_PROBE + 1);
    expect(indexed.indexOf(false)).toBe(MAX_PROBE + 1);
    expect(hash.find(3, 42, 7)).not.toBe(NO_SLOT);
    // An unindexed slot is not there to remove; removing the indexed ones empties the hash.
    expect(hash.remove(n - 1)).toBe(false);
    for (let s = 0; s <= MAX_PROBE; s++) expect(hash.remove(s)).toBe(true);
    expect([hash.size, hash.find(3, 42, 7)]).toEqual([0, NO_SLOT]);
  });

  it.each([
    ["at the load the indexes keep", bucketsFor(48)],
    ["nearly full (long runs: distances past the stored 0–6, wrap-around)", 49],
  ])("agrees with a Map over random inserts and removes, %s", (_, buckets) => {
    const rand = prng(11);
    const n = 48;
    const cols = columns(n);
    const hash = new SlotHash(buckets, cols);
    const model = new Map<string, number>();
    const free = Array.from({ length: n }, (_, i) => i);
    const wrong: number[] = [];
    for (let op = 0; op < 20_000; op++) {
      const owner = Math.floor(rand() * 3);
      const lo = Math.floor(rand() * 40);
      const id = `${owner}/${lo}`;
      const at = model.get(id);
      if (at === undefined && free.length > 0) {
        const s = free.pop() as number;
        cols.owner[s] = owner;
        cols.lo[s] = lo;
        cols.hi[s] = lo ^ 0xffff;
        hash.insert(s);
        model.set(id, s);
      } else if (at !== undefined) {
        if (!hash.remove(at)) wrong.push(-op);
        model.delete(id);
        free.push(at);
      }
      const qo = Math.floor(rand() * 3);
      const ql = Math.floor(rand() * 40);
      const found = hash.find(qo, ql, ql ^ 0xffff);
      if (found !== (model.get(`${qo}/${ql}`) ?? NO_SLOT) || hash.size !== model.size) wrong.push(op);
    }
    expect(wrong).toEqual([]);
  });

  it("keeps duplicates apart and re-buckets into grown columns", () => {
    const cols = columns(4);
    const hash = new SlotHash(3, cols);
    cols.lo.set([5, 5, 6]);
    hash.insert(0);
    hash.insert(1);
    hash.remove(0);
    expect(hash.find(0, 5, 0)).toBe(1);
    const grown = columns(64);
    grown.lo.set(cols.lo);
    hash.rebuild(bucketsFor(64), grown);
    expect(hash.find(0, 5, 0)).toBe(1);
    expect(hash.size).toBe(1);
    expect(hash.bytes).toBe(bucketsFor(64) * 4);
  });
});

describe("firstMissing", () => {
  it("finds the boundary of every monotone predicate from every guess, with few probes near the guess", () => {
    const wrong: number[][] = [];
    for (let n = 0; n <= 40; n++)
      for (let r = 0; r <= n; r++)
        for (let g = 0; g <= n; g++) {
          let probes = 0;
          let outside = false;
          const got = firstMissing(n, g, (i) => {
            probes++;
            if (i < 0 || i >= n) outside = true;
            return i < r;
          });
          const near = g === r || r === 0 ? 2 : 2 * Math.ceil(Math.log2(n + 2)) + 3;
          if (got !== r || outside || probes > near) wrong.push([n, r, g, got, probes]);
        }
    expect(wrong).toEqual([]);
  });
});

describe("key words and path fingerprints", () => {
  it("views a BigUint64Array (sub-array included) without copying, and fingerprints whole paths", () => {
    const keys = BigUint64Array.from([1n, (5n << 32n) | 7n, 3n]);
    const sub = keys.subarray(1);
    const words = keyWords(sub);
    expect(words.buffer).toBe(keys.buffer);
    expect([...words.slice(0, 2)]).toEqual([7, 5]);
    const a = [...pathFingerprints(keyWords(BigUint64Array.from([1n, 2n, 3n])), 3)];
    const b = [...pathFingerprints(keyWords([9n, 2n, 3n]), 3)];
    // Same last key, other path: other fingerprint.
    expect(a[2]).not.toBe(b[2]);
    expect(a[0]).not.toBe(b[0]);
  });
});

describe("ChainEntries", () => {
  const pod = (id: number): ChainPod => ({
    id,
    key: `p${id}`,
    size: 0,
    head: -1,
    tail: -1,
    orphans: 0,
    conflicted: false,
  });

  it("keeps a removed parent as a zombie for its live children, revives it, and frees it with its last child", () => {
    const e = new ChainEntries(10, 4);
    const p = pod(0);
    const root = e.create(p, 1, 0, 11, 1, NO_SLOT);
    const kid = e.create(p, 2, 0, 12, 1, root);
    const kid2 = e.create(p, 3, 0, 13, 1, root);
    for (const s of [kid2, kid, root]) e.touch(p, s);
    e.remove(p, root);
    expect([p.size, p.orphans, e.live, e.slotsInUse, e.isLive(root)]).toEqual([2, 2, 2, 3, false]);
    expect(e.find(0, 1, 0)).toBe(root); // still hashed
    e.revive(p, root, 2, NO_SLOT);
    expect([p.size, p.orphans, e.isLive(root)]).toEqual([3, 0, true]);
    e.touch(p, root);
    e.remove(p, root);
    e.remove(p, kid);
    expect([p.orphans, e.slotsInUse]).toEqual([1, 2]);
    e.remove(p, kid2);
    expect([p.size, p.orphans, e.live, e.slotsInUse]).toEqual([0, 0, 0, 0]);
    expect(e.find(0, 1, 0)).toBe(NO_SLOT);
  });

  it("grows by doubling up to the live bound (and the one slot an add holds over it), not beyond while there are no zombies", () => {
    const e = new ChainEntries(1500, 4);
    const p = pod(0);
    for (let i = 0; i < 1500; i++) e.touch(p, e.create(p, i, 0, i, 1, NO_SLOT));
    expect(e.bytes).toBe(1501 * 48 + bucketsFor(1501) * 4);
    for (let i = 0; i < 1500; i++) expect(e.find(0, i, 0)).not.toBe(NO_SLOT);
  });
});
