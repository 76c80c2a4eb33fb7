/**
 * Standalone discovery: pods from an AIBrix-format endpoints YAML file (see `endpoints-file.ts`), reloaded when
 * the file changes.
 *
 * A file that fails to load at start is fatal; after start, a bad file is logged once and the last good fleet
 * stays in place, because routing to the previous endpoints is better than routing to none. "Bad" includes a file
 * without its final newline (possibly cut by a write in progress: `endpoints-completeness.ts`), something other
 * than a regular file at the path, and a read that outlives its deadline (`read-endpoints-file.ts`).
 *
 * @module
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { ClusterStore } from "../cluster-state";
import type { Pod } from "../pod";
import { endsWithNewline, truncatedLookalikes } from "./endpoints-completeness";
import { EndpointsFileError, parseEndpointsFile } from "./endpoints-file";
import {
  boundedReader,
  DEFAULT_ENDPOINTS_READ_TIMEOUT_MS,
  EndpointsReadError,
  readRegularFile,
  type EndpointsReadFailure,
} from "./read-endpoints-file";

export {
  EndpointsFileError,
  MAX_ENDPOINTS,
  MAX_ENDPOINTS_FILE_BYTES,
  MODEL_LABEL,
  STATIC_NAMESPACE,
  parseEndpointsFile,
} from "./endpoints-file";
export { DEFAULT_ENDPOINTS_READ_TIMEOUT_MS, EndpointsReadError } from "./read-endpoints-file";
export type { EndpointsReadFailure } from "./read-endpoints-file";

/** Kubernetes' atomic ConfigMap writer swaps this symlink, so the mounted file's own name never shows up. */
const CONFIGMAP_DATA_LINK = "..data";

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The log calls discovery makes (a pino logger fits). */
export interface DiscoveryLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** Optional: file events that changed nothing (same content as already loaded or already reported). */
  debug?(obj: object, msg: string): void;
}

/**
 * How one load of new content ended: `ok` (the fleet was replaced), `error` (a bad document), `incomplete` (no
 * final newline: possibly cut by a write in progress), or why the file could not be read (see
 * {@link EndpointsReadFailure}). A closed set: the caller uses it as a metric label.
 */
export type EndpointsReloadResult = "ok" | "error" | "incomplete" | EndpointsReadFailure;

/** Options of `watchEndpointsFile`. */
export interface WatchEndpointsOptions {
  /** Quiet period after the last file event before reloading, ms. Editors write in bursts. Default 100. */
  readonly debounceMs?: number;
  /** Bound on one read of the file, ms. Default {@link DEFAULT_ENDPOINTS_READ_TIMEOUT_MS}. */
  readonly readTimeoutMs?: number;
  /**
   * Called once per load of new content with how it ended. Repeated events for the same content (or the same
   * read failure) do not call it again. For metrics.
   */
  readonly onReload?: (result: EndpointsReloadResult) => void;
  /** @internal The unbounded read; tests stand in one that never returns, as on a hung network filesystem. */
  readonly readText?: (path: string) => Promise<string>;
}

/** A running watch of the endpoints file. */
export interface EndpointsFileWatch {
  /** Resolves after the first load has replaced the store; rejects with an `EndpointsFileError` naming the file. */
  readonly ready: Promise<void>;
  /**
   * Stop watching and cancel any pending reload. Idempotent; resolves at once, without waiting for a read that
   * is stuck in the kernel. The store keeps its last fleet.
   */
  close(): Promise<void>;
  /** True while a read of the file has outlived its deadline and not yet returned (a hung filesystem). */
  readStuck(): boolean;
}

/** A load that did not produce a fleet: what to count, and the message to log. */
class RejectedLoad extends Error {
  constructor(
    readonly result: Exclude<EndpointsReloadResult, "ok">,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parse `text` into pods, refusing a file without its final newline (see `endpoints-completeness.ts`) and naming
 * endpoints that look cut from one of `previous`.
 *
 * @throws RejectedLoad
 */
function loadText(text: string, previous: Iterable<Pod>): Pod[] {
  let pods: Pod[] | undefined;
  let parseError: unknown;
  try {
    pods = parseEndpointsFile(text);
  } catch (err) {
    parseError = err;
  }
  if (!endsWithNewline(text)) {
    const cut = pods ? truncatedLookalikes(previous, pods) : [];
    const detail = pods
      ? cut.length > 0
        ? `; endpoints that look cut: ${cut.join(", ")}`
        : ""
      : `; and ${messageOf(parseError)}`;
    throw new RejectedLoad(
      "incomplete",
      `file does not end with a newline, so it may be cut short by a write in progress${detail}`,
    );
  }
  if (!pods) throw new RejectedLoad("error", messageOf(parseError));
  return pods;
}

/** Why a read failed, as a result; an unexpected error is `unreadable`. */
const readFailure = (err: unknown): RejectedLoad =>
  new RejectedLoad(err instanceof EndpointsReadError ? err.kind : "unreadable", messageOf(err));

/**
 * Load the endpoints file into `store`, then keep it in step with the file.
 *
 * The containing directory is watched, not the file: editors replace a file by renaming a new one over it, and a
 * Kubernetes ConfigMap volume swaps a `..data` symlink, and neither shows up on a watch of the old file's inode.
 * Reloads are debounced, serialised, bounded in time, and skipped when the content is unchanged.
 */
export function watchEndpointsFile(
  path: string,
  store: ClusterStore,
  log: DiscoveryLog,
  opts: WatchEndpointsOptions = {},
): EndpointsFileWatch {
  const file = resolve(path);
  const name = basename(file);
  const debounceMs = opts.debounceMs ?? 100;
  const reader = boundedReader(
    file,
    opts.readTimeoutMs ?? DEFAULT_ENDPOINTS_READ_TIMEOUT_MS,
    opts.readText ?? readRegularFile,
  );
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let running = false;
  let again = false;
  /** Text of the fleet in the store. */
  let lastGood: string | undefined;
  /** The bad content (or read failure) last reported, so each is logged once however many events it causes. */
  let lastBad: string | undefined;

  const apply = (text: string, pods: Pod[], msg: string): void => {
    lastGood = text;
    lastBad = undefined;
    store.replace(pods);
    const models = new Set(pods.flatMap((p) => p.models)).size;
    log.info({ path: file, pods: pods.length, models }, msg);
    opts.onReload?.("ok");
  };

  const reject = (badKey: string, err: RejectedLoad): void => {
    if (badKey === lastBad) {
      log.debug?.({ path: file }, "endpoints file still rejected; already reported");
      return;
    }
    lastBad = badKey;
    log.error(
      { path: file, result: err.result, error: err.message },
      "endpoints file rejected; keeping the last good endpoints",
    );
    opts.onReload?.(err.result);
  };

  const reloadOnce = async (): Promise<void> => {
    let text: string;
    try {
      text = await reader.read();
    } catch (err) {
      const failure = readFailure(err);
      // Keyed by kind for timeouts: a stuck file reports once, not once per event with a new wording.
      const key = failure.result === "timeout" ? "read: timeout" : `read: ${failure.message}`;
      if (!closed) reject(key, failure);
      return;
    }
    if (closed) return;
    if (text === lastGood) {
      if (lastBad !== undefined)
        log.info({ path: file }, "endpoints file is valid again; endpoints unchanged");
      else log.debug?.({ path: file }, "endpoints file unchanged");
      lastBad = undefined;
      return;
    }
    let pods: Pod[];
    try {
      pods = loadText(text, store.snapshot().pods.values());
    } catch (err) {
      reject(text, err instanceof RejectedLoad ? err : new RejectedLoad("error", messageOf(err)));
      return;
    }
    apply(text, pods, "reloaded endpoints file");
  };

  const reload = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await reloadOnce();
      } while (again && !closed);
    } catch (err) {
      // A store listener threw; discovery itself is fine and keeps watching.
      log.error({ path: file, error: messageOf(err) }, "endpoints reload failed");
    } finally {
      running = false;
    }
    // Only set here if a reload threw mid-loop: an event arrived meanwhile and still deserves a reload.
    if (again) schedule();
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  const close = (): Promise<void> => {
    closed = true;
    clearTimeout(timer);
    timer = undefined;
    watcher?.close();
    watcher = undefined;
    return Promise.resolve();
  };

  const ready = (async () => {
    running = true;
    try {
      // Watch before the first read, so a change made while reading is not missed.
      watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed === CONFIGMAP_DATA_LINK) schedule();
      });
      watcher.on("error", (err) => {
        log.error(
          { path: file, error: messageOf(err) },
          "watching the endpoints file failed; no more reloads",
        );
      });
      let text: string;
      try {
        text = await reader.read();
      } catch (err) {
        throw readFailure(err);
      }
      const pods = loadText(text, []);
      if (!closed) apply(text, pods, "loaded endpoints file");
    } catch (err) {
      void close();
      opts.onReload?.(err instanceof RejectedLoad ? err.result : "error");
      throw new EndpointsFileError(`endpoints file ${file}: ${messageOf(err)}`, { cause: err });
    } finally {
      running = false;
    }
    if (again) schedule();
  })();

  return { ready, close, readStuck: () => reader.stuck() };
}
