/**
 * A promise raced against an abort signal, for the session's decisions: the answer cannot wait for a step that does
 * not stop at once (a Redis reply in flight, a tokenizer job a worker already runs), so the stream is answered when
 * its signal aborts and the step's own result, when it comes, is left to clean up after itself.
 *
 * @module
 */

/**
 * `pending`'s outcome, or `onAborted()` if `signal` aborts first (at once when it already has) — unless that is
 * `undefined`: the abort is one `pending` answers itself (the session aborts its own signal as it answers), so its
 * outcome is still the one. The listener is removed when `pending` settles, so a long-lived signal gathers none.
 */
export function raceAbort<T>(
  pending: Promise<T>,
  signal: AbortSignal,
  onAborted: () => T | undefined,
): Promise<T> {
  const now = signal.aborted ? onAborted() : undefined;
  if (now !== undefined) return Promise.resolve(now);
  return new Promise<T>((resolve, reject) => {
    const listener = (): void => {
      const answer = onAborted();
      if (answer !== undefined) resolve(answer);
    };
    signal.addEventListener("abort", listener, { once: true });
    pending.then(
      (r) => {
        signal.removeEventListener("abort", listener);
        resolve(r);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", listener);
        reject(e);
      },
    );
  });
}
