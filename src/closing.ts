/**
 * Closing several independent pieces (ports, Redis, ZeroMQ sockets, worker threads, discovery): every close runs
 * even when an earlier one throws or rejects, each failure is reported on its own, and the whole still resolves.
 * One piece failing to close must never leave a port bound or a socket open behind it.
 *
 * @module
 */

/** One piece to close, named for the log. */
export interface Closer {
  readonly name: string;
  readonly close: () => unknown;
}

/** Told about each close that threw or rejected; the remaining closes run regardless. */
export type CloseFailure = (name: string, error: unknown) => void;

/** Close every piece in order, awaiting each; failures go to `onFailure`. Never rejects. */
export async function closeEach(closers: readonly Closer[], onFailure: CloseFailure): Promise<void> {
  for (const c of closers) {
    try {
      await c.close();
    } catch (e) {
      try {
        onFailure(c.name, e);
      } catch {
        // A failing reporter must not stop the closes either.
      }
    }
  }
}
