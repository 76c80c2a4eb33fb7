/**
 * The approximate index against a plain reference model (test/prefix/reference-models.ts) over thousands of seeded
 * random operations: adds of prompts sharing prefixes, failed requests taken back (`forget`, which orphans
 * children), matches, dropped pods, shrinking and growing per-pod bounds, both bounds evicting. Every match, block
 * count, size and eviction count must agree after every operation. Hash-chain keys exercise the search path;
 * small repeating integers (not chains) exercise the fallback to the exact walk.
 */
import { createApproximateIndex } from "../../src/prefix/approximate-index";
import { ReferenceApproximate, chainKeys, prng } from "./reference-models";

const PODS = ["a", "b", "c", "d", "e"];

interface Run {
  readonly seed: number;
  readonly ops: number;
  readonly maxBlocks: number;
  /** Keys as hash chains of blocks (true) or as small repeating integers (false). */
  readonly chains: boolean;
}

function prompt(rand: () => number, chains: boolean): BigUint64Array {
  if (!chains) {
    const n = 1 + Math.floor(rand() * 8);
    return BigUint64Array.from({ length: n }, () => BigInt(1 + Math.floor(rand() * 12)));
  }
  // A few shared documents: prompts share a prefix of one of them, then diverge.
  const doc = Math.floor(rand() * 4);
  const shared = Math.floor(rand() * 24);
  const own = Math.floor(rand() * 6);
  const blocks = [
    ...Array.from({ length: shared }, (_, i) => doc * 1000 + i),
    ...Array.from({ length: own }, () => 100_000 + Math.floor(rand() * 50)),
  ];
  return chainKeys(blocks);
}

function drive(run: Run): void {
  const rand = prng(run.seed);
  const bounds = new Map<string, number | undefined>();
  const bound = (pod: string): number | undefined => bounds.get(pod);
  const fallback = 40;
  const index = createApproximateIndex({
    maxBlocks: run.maxBlocks,
    perPodMaxBlocks: bound,
    fallbackPerPodMaxBlocks: fallback,
  });
  const model = new ReferenceApproximate(run.maxBlocks, (pod) => bound(pod) ?? fallback);
  const tickets: { pod: string; keys: BigUint64Array; ticket: number }[] = [];
  // The first disagreement (one expect at the end keeps thousands of operations fast).
  let first: string | undefined;
  const same = (what: string, got: unknown, want: unknown): void => {
    if (first !== undefined) return;
    const [g, w] = [got, want].map((v) => JSON.stringify(v instanceof Map ? [...v] : v));
    if (g !== w) first = `${what}: got ${g}, want ${w}`;
  };
  for (let op = 0; op < run.ops; op++) {
    const r = rand();
    const pod = PODS[Math.floor(rand() * PODS.length)] as string;
    const where = `seed ${run.seed} op ${op}`;
    if (r < 0.45) {
      const keys = prompt(rand, run.chains);
      const ticket = index.add(pod, keys);
      same(`${where} add`, ticket, model.add(pod, keys));
      tickets.push({ pod, keys, ticket });
      if (tickets.length > 30) tickets.shift();
    } else if (r < 0.6 && tickets.length > 0) {
      const t = tickets[Math.floor(rand() * tickets.length)] as (typeof tickets)[number];
      same(`${where} forget`, index.forget(t.pod, t.keys, t.ticket), model.forget(t.pod, t.keys, t.ticket));
    } else if (r < 0.63) {
      index.dropPod(pod);
      model.dropPod(pod);
    } else if (r < 0.67) {
      bounds.set(pod, rand() < 0.3 ? undefined : 1 + Math.floor(rand() * 60));
    } else {
      const keys = prompt(rand, run.chains);
      const asked = PODS.filter(() => rand() < 0.8);
      same(`${where} match`, index.match(keys, asked), model.match(keys, asked));
    }
    same(`${where} size, evictions`, [index.size(), index.evictions()], [model.size(), model.evicted]);
    same(
      `${where} blocks`,
      PODS.map((p) => index.blocks(p)),
      PODS.map((p) => model.blocks(p)),
    );
  }
  expect(first).toBeUndefined();
}

describe("createApproximateIndex against the reference model", () => {
  it.each([1, 2, 3])("agrees on hash-chain prompts with room (seed %i)", (seed) => {
    drive({ seed, ops: 3000, maxBlocks: 10_000, chains: true });
  });

  it.each([4, 5, 6])("agrees on hash-chain prompts with both bounds evicting (seed %i)", (seed) => {
    drive({ seed, ops: 3000, maxBlocks: 90, chains: true });
  });

  it.each([7, 8])("agrees on keys that are not hash chains (the exact walk) (seed %i)", (seed) => {
    drive({ seed, ops: 3000, maxBlocks: 50, chains: false });
  });
});
