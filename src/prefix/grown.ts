/**
 * Growing the typed-array columns of the prefix indexes' record stores: a column is replaced by a longer one of
 * the same type holding the same values (the rest zero), so every column of a store grows in step.
 *
 * @module
 */

/** A typed-array column of a record store. */
export type Column = Int32Array | Uint32Array | Float64Array;

/** A copy of `column` with room for `n` records (`n` ≥ its length). */
export function grown<T extends Column>(column: T, n: number): T {
  const out = new (column.constructor as new (length: number) => T)(n);
  out.set(column);
  return out;
}
