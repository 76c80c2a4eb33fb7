/**
 * The typed-array speculative index against the previous `Map`-based one (kept as bench/speculative-index-
 * baseline.ts, the reference here) over thousands of seeded random operations: adds at both bounds, refreshes,
 * expiry under an injected clock, drops by `stored` / `removed` / `cleared` / `dropPod`, and union matches with a
 * confirmed set. Every match, block count, size and overflow count must agree after every operation.
 */
import { createSpeculativeIndex } from "../../src/prefix/speculative-index";
import type { SpeculativeIndex } from "../../src/prefix/speculative-index";
import { createSpeculativeIndex as createReference } from "../../bench/speculative-index-baseline";
import { chainKeys, prng } from "./reference-models";

const PODS = ["a", "b", "c"];

function drive(seed: number, maxBlocks: number, maxBlocksPerPod: number): void {
  const rand = prng(seed);
  const clock = { t: 0 };
  const options = { ttlMs: 50, maxBlocks, maxBlocksPerPod, now: () => clock.t };
  const index: SpeculativeIndex = createSpeculativeIndex(options);
  const reference = createReference(options);
  const confirmed = new Map<string, Set<bigint>>(PODS.map((p) => [p, new Set<bigint>()]));
  const holder = (pod: string) => {
    const s = confirmed.get(pod);
    return s === undefined || s.size === 0 ? undefined : s;
  };
  const prompt = (): BigUint64Array =>
    chainKeys(
      Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, i) => (i < 6 ? Math.floor(rand() * 2) : i)),
    );
  let first: string | undefined;
  const same = (what: string, got: unknown, want: unknown): void => {
    if (first !== undefined) return;
    const [g, w] = [got, want].map((v) => JSON.stringify(v instanceof Map ? [...v].sort() : v));
    if (g !== w) first = `${what}: got ${g}, want ${w}`;
  };
  for (let op = 0; op < 4000; op++) {
    const r = rand();
    const pod = PODS[Math.floor(rand() * PODS.length)] as string;
    clock.t += Math.floor(rand() * 4);
    if (r < 0.4) {
      const keys = prompt();
      index.add(pod, keys);
      reference.add(pod, keys);
    } else if (r < 0.55) {
      const key = prompt()[0] as bigint;
      const stored = rand() < 0.5;
      (stored ? index.stored : index.removed)(pod, key);
      (stored ? reference.stored : reference.removed)(pod, key);
      if (stored) confirmed.get(pod)?.add(key);
      else confirmed.get(pod)?.delete(key);
    } else if (r < 0.58) {
      index.cleared(pod);
      reference.cleared(pod);
      confirmed.get(pod)?.clear();
    } else if (r < 0.6) {
      index.dropPod(pod);
      reference.dropPod(pod);
    } else {
      const keys = prompt();
      same(`op ${op} match`, index.match(keys, PODS, holder), reference.match(keys, PODS, holder));
    }
    same(
      `op ${op} size, overflows, blocks`,
      [index.size(), index.overflows(), ...PODS.map((p) => index.blocks(p))],
      [reference.size(), reference.overflows(), ...PODS.map((p) => reference.blocks(p))],
    );
  }
  expect(first).toBeUndefined();
}

describe("createSpeculativeIndex against the previous Map-based index", () => {
  it.each([1, 2])("agrees with room (seed %i)", (seed) => drive(seed, 10_000, 10_000));
  it.each([3, 4])("agrees with the per-pod bound dropping (seed %i)", (seed) => drive(seed, 10_000, 7));
  it.each([5, 6])("agrees with the global bound dropping (seed %i)", (seed) => drive(seed, 9, 100));
});
