/**
 * Structural work bounds for the typed-array prefix indexes: how often `SlotHash.find` (their only lookup) is
 * called while a function runs, instead of timing.
 *
 * @module
 */
import { SlotHash } from "../../src/prefix/slot-hash";

/** Counts `SlotHash.find` calls while `fn` runs. */
export function countFinds(fn: () => void): number {
  const proto = SlotHash.prototype as unknown as { find: (...a: number[]) => number };
  const original = proto.find;
  let n = 0;
  proto.find = function (this: SlotHash, ...a: number[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    fn();
  } finally {
    proto.find = original;
  }
  return n;
}
