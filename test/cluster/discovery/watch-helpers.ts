/** Helpers of the endpoints-file watcher tests: await reloads as events (store changes, log lines), not sleeps. */
import type { ClusterSnapshot, ClusterStore } from "../../../src/cluster/cluster-state";
import type { DiscoveryLog } from "../../../src/cluster/discovery/static-file";

/** Failure guard only: every wait below resolves on an event long before this. */
const GUARD_MS = 15_000;

export function withGuard<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), GUARD_MS);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** The store's next snapshot. */
export function nextChange(store: ClusterStore): Promise<ClusterSnapshot> {
  return withGuard(
    new Promise((resolve) => {
      const off = store.onChange((s) => {
        off();
        resolve(s);
      });
    }),
    "a store change",
  );
}

export interface RecordingLog extends Required<DiscoveryLog> {
  readonly errors: string[];
  readonly debugs: string[];
  /** Resolves with the n-th error once it has been logged. */
  nthError(n: number): Promise<string>;
  /** Resolves once at least n debug lines (no-op reloads) have been logged. */
  debugCount(n: number): Promise<void>;
  /** Resolves with the first error logged (before or after the call) that contains `part`. */
  errorMatching(part: string): Promise<string>;
}

/** A log that records calls and lets a test await them, so reloads are awaited as events, not with sleeps. */
export function recordingLog(): RecordingLog {
  const errors: string[] = [];
  const debugs: string[] = [];
  const waiters = new Set<() => boolean>();
  const settle = (): void => {
    for (const w of waiters) if (w()) waiters.delete(w);
  };
  const until = (done: () => boolean, what: string): Promise<void> => {
    if (done()) return Promise.resolve();
    const p = new Promise<void>((resolve) => {
      waiters.add(() => {
        if (!done()) return false;
        resolve();
        return true;
      });
    });
    return withGuard(p, what);
  };
  return {
    errors,
    debugs,
    info: () => undefined,
    debug: (_obj, msg) => {
      debugs.push(msg);
      settle();
    },
    error: (obj, msg) => {
      errors.push(`${msg}: ${(obj as { error?: string }).error ?? ""}`);
      settle();
    },
    nthError: (n) => until(() => errors.length >= n, `error #${n}`).then(() => errors[n - 1] ?? ""),
    debugCount: (n) => until(() => debugs.length >= n, `${n} no-op reloads`),
    errorMatching: (part) =>
      until(() => errors.some((e) => e.includes(part)), `an error with ${JSON.stringify(part)}`).then(
        () => errors.find((e) => e.includes(part)) ?? "",
      ),
  };
}

export const file = (...models: string[]): string => `models:\n${models.join("")}`;
export const model = (name: string, endpoints: string[], engine?: string): string =>
  `  - name: ${name}\n${engine === undefined ? "" : `    engine: ${engine}\n`}    endpoints: [${endpoints.map((e) => JSON.stringify(e)).join(", ")}]\n`;
