/**
 * Structural work bounds for the prefix indexes: how often `Map.prototype` methods are called while a function
 * runs (their only per-entry data structure), instead of timing.
 *
 * @module
 */

/** Counts calls of `Map.prototype` methods while `fn` runs (the index's only per-entry data structure). */
export function countMapCalls(fn: () => void): { lookups: number; iterations: number } {
  const proto = Map.prototype as unknown as Record<string | symbol, (...args: unknown[]) => unknown>;
  const lookupNames = ["get", "has", "set", "delete"] as const;
  const iterationNames = ["entries", "keys", "values", "forEach", Symbol.iterator] as const;
  const saved: [string | symbol, (...args: unknown[]) => unknown][] = [];
  const counts = { lookups: 0, iterations: 0 };
  for (const name of [...lookupNames, ...iterationNames]) {
    const original = proto[name] as (...args: unknown[]) => unknown;
    saved.push([name, original]);
    const bucket = (lookupNames as readonly (string | symbol)[]).includes(name) ? "lookups" : "iterations";
    proto[name] = function (this: unknown, ...args: unknown[]) {
      counts[bucket]++;
      return original.apply(this, args);
    };
  }
  try {
    fn();
  } finally {
    for (const [name, original] of saved) proto[name] = original;
  }
  return counts;
}
