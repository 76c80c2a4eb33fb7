/**
 * The prefix indexes the shape contract runs the load-aware prefix strategies over (`prefix-cache-and-load`,
 * `prefix-affinity`): pod-0 holds 5 approximate blocks of the 40-token contract prompt, pod-3 all 10.
 *
 * @module
 */
import type { BlockHasher } from "../../../src/prefix/block-key";
import { makePrefixFixture, range } from "../../prefix/fixtures";
import type { PrefixFixture } from "../../prefix/fixtures";
import { makePod } from "../pods";

/** Fresh indexes with the contract's holdings. */
export function prefixContractFixture(hasher: BlockHasher): PrefixFixture {
  const f = makePrefixFixture(hasher);
  f.approximate.add(makePod(0).key, hasher.chain(range(20), 4, ""));
  f.approximate.add(makePod(3).key, hasher.chain(range(40), 4, ""));
  return f;
}
