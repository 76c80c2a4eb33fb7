/**
 * Bound a wait-for-event in a test: fail with a message naming what did not happen, instead of hanging until
 * jest's own timeout. The bound is generous (a failure detector, not a timing assertion).
 *
 * @module
 */

/** Resolve as `p` does, or reject with `what: not within <ms> ms` once `ms` have passed. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
