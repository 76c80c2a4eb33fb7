/**
 * Standalone discovery: pods from an AIBrix-format endpoints YAML file (see `endpoints-file.ts`), reloaded when
 * the file changes.
 *
 * A file that fails to load at start is fatal; after start, a bad file is logged once and the last good fleet
 * stays in place, because routing to the previous endpoints is better than routing to none.
 *
 * @module
 */
import { watch, type FSWatcher } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { ClusterStore } from "../cluster-state";
import type { Pod } from "../pod";
import { EndpointsFileError, MAX_ENDPOINTS_FILE_BYTES, parseEndpointsFile } from "./endpoints-file";

export {
  EndpointsFileError,
  MAX_ENDPOINTS,
  MAX_ENDPOINTS_FILE_BYTES,
  MODEL_LABEL,
  STATIC_NAMESPACE,
  parseEndpointsFile,
} from "./endpoints-file";

/** Kubernetes' atomic ConfigMap writer swaps this symlink, so the mounted file's own name never shows up. */
const CONFIGMAP_DATA_LINK = "..data";

/** Read the file as UTF-8, refusing (without reading further) anything over the size limit. */
async function readCapped(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(MAX_ENDPOINTS_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0 || (n += bytesRead) === buf.length) break;
    }
    if (n > MAX_ENDPOINTS_FILE_BYTES) {
      throw new EndpointsFileError(`file is more than the limit of ${MAX_ENDPOINTS_FILE_BYTES} bytes`);
    }
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      throw new EndpointsFileError("file is not UTF-8 text");
    }
  } finally {
    await fh.close();
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The two log calls discovery makes (a pino logger fits). */
export interface DiscoveryLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** Optional: file events that changed nothing (same content as already loaded or already reported). */
  debug?(obj: object, msg: string): void;
}

/** Options of `watchEndpointsFile`. */
export interface WatchEndpointsOptions {
  /** Quiet period after the last file event before reloading, ms. Editors write in bursts. Default 100. */
  readonly debounceMs?: number;
  /**
   * Called once per load of new content: `"ok"` when the fleet was replaced, `"error"` when new content (or a new
   * read failure) was rejected. Repeated events for the same content do not call it. For metrics.
   */
  readonly onReload?: (result: "ok" | "error") => void;
}

/** A running watch of the endpoints file. */
export interface EndpointsFileWatch {
  /** Resolves after the first load has replaced the store; rejects with an `EndpointsFileError` naming the file. */
  readonly ready: Promise<void>;
  /** Stop watching and cancel any pending reload. Idempotent. The store keeps its last fleet. */
  close(): void;
}

/**
 * Load the endpoints file into `store`, then keep it in step with the file.
 *
 * The containing directory is watched, not the file: editors replace a file by renaming a new one over it, and a
 * Kubernetes ConfigMap volume swaps a `..data` symlink, and neither shows up on a watch of the old file's inode.
 * Reloads are debounced, serialised, and skipped when the content is unchanged.
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

  const reject = (badKey: string, err: unknown): void => {
    if (badKey === lastBad) {
      log.debug?.({ path: file }, "endpoints file still rejected; already reported");
      return;
    }
    lastBad = badKey;
    log.error(
      { path: file, error: messageOf(err) },
      "endpoints file rejected; keeping the last good endpoints",
    );
    opts.onReload?.("error");
  };

  const reloadOnce = async (): Promise<void> => {
    let text: string;
    try {
      text = await readCapped(file);
    } catch (err) {
      if (!closed) reject(`read failed: ${messageOf(err)}`, err);
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
      pods = parseEndpointsFile(text);
    } catch (err) {
      reject(text, err);
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

  const close = (): void => {
    closed = true;
    clearTimeout(timer);
    timer = undefined;
    watcher?.close();
    watcher = undefined;
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
      const text = await readCapped(file);
      const pods = parseEndpointsFile(text);
      if (!closed) apply(text, pods, "loaded endpoints file");
    } catch (err) {
      close();
      opts.onReload?.("error");
      throw new EndpointsFileError(`endpoints file ${file}: ${messageOf(err)}`, { cause: err });
    } finally {
      running = false;
    }
    if (again) schedule();
  })();

  return { ready, close };
}
