/**
 * One resource kept in sync with the API server: the client's informer (`ListWatch`, what `makeInformer` builds)
 * plus the fault handling it lacks in `@kubernetes/client-node` 1.4.0.
 *
 * What the 1.4.0 informer does by itself (dist/cache.js, dist/watch.js): list, then watch from the list's
 * resourceVersion; a watch that ends cleanly is re-opened from the last resourceVersion seen; a `410` (HTTP status
 * or ERROR event) clears the resourceVersion, so the next round re-lists. Anything else (API server unreachable,
 * list failure, a reset watch connection: "Premature close", a non-200 watch) fires `error` and the informer
 * **stops for good**. What this module adds:
 * - after an error, a *new* informer (so it re-lists: objects deleted while disconnected are noticed) after a
 *   jittered exponential backoff;
 * - a watch that keeps ending cleanly within a second is re-opened only after a backoff, not in a tight loop;
 * - watches ask for bookmarks and a server-side timeout, so a silently dead connection is replaced in minutes;
 * - a list or a watch request that does not answer within `requestTimeoutMs` counts as failed (the client sets no
 *   timeout, so a hung API server would otherwise stall discovery for good);
 * - malformed events are dropped, and errors thrown by handlers are reported instead of being swallowed by the
 *   client or becoming unhandled rejections;
 * - `close()` also aborts a watch whose response arrives after the informer was stopped.
 *
 * @module
 */
import { ListWatch, Watch } from "@kubernetes/client-node";
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Backoff, BackoffOptions } from "./backoff";
import { createBackoff } from "./backoff";
import { asObjectList, describeError, isNamedObject, isNotFound } from "./objects";

/** A watch that ends cleanly sooner than this after it started counts as a fault for pacing, ms. */
const MIN_HEALTHY_WATCH_MS = 1000;
/** Default `requestTimeoutMs`. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** An informer that ran this long before failing starts its backoff afresh, ms. */
const STABLE_RUN_MS = 30_000;

/** What a resource watch reports. Handlers may throw; that is reported through `onHandlerError`. */
export interface ResourceWatchHandlers {
  /** A complete list: every current object of the resource (first sync, or a re-list after a fault or 410). */
  onList(items: readonly KubernetesObject[], relist: boolean): void;
  /** The resource does not exist on the server (HTTP 404 on list; only with `absentOn404`): treat as empty. */
  onAbsent?(reason: string): void;
  onUpsert(obj: KubernetesObject, type: "add" | "update"): void;
  onDelete(obj: KubernetesObject): void;
  /** The informer failed; a fresh one (with a fresh list) starts in `retryInMs` ms. */
  onError(reason: string, retryInMs: number): void;
  /** A handler threw. */
  onHandlerError(err: unknown): void;
}

/** Options of `startResourceWatch`. */
export interface ResourceWatchOptions {
  readonly kubeConfig: KubeConfig;
  /** List/watch path, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  /** Fetch a complete list (any JSON; it is narrowed here). */
  readonly list: () => Promise<unknown>;
  readonly backoff: BackoffOptions;
  /** Report a 404 list through `onAbsent` (then keep retrying with backoff): for optional CRDs. */
  readonly absentOn404?: boolean;
  /** Server-side watch timeout, s. Default: random in [300, 600), as client-go does. */
  readonly watchTimeoutSeconds?: number | undefined;
  /** A list, or a watch's response headers, not received within this is a failure, ms. Default 60 000. */
  readonly requestTimeoutMs?: number | undefined;
  readonly handlers: ResourceWatchHandlers;
}

/** A running resource watch. */
export interface ResourceWatch {
  /** Stop the informer, cancel any retry and abort its watch. Idempotent; no handler is called afterwards. */
  close(): void;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** The client's `Watch`, hardened (see the module comment). One per resource watch, shared by its informers. */
class GuardedWatch extends Watch {
  private pauseMs = 0;
  private wake: (() => void) | undefined;
  /** Timers of watch requests still waiting for their answer (an abandoned one may overlap its successor). */
  private readonly connectTimers = new Set<NodeJS.Timeout>();

  constructor(
    config: KubeConfig,
    private readonly closed: () => boolean,
    private readonly pacing: Backoff,
    private readonly timeoutSeconds: () => number,
    private readonly requestTimeoutMs: number,
    private readonly onHandlerError: (err: unknown) => void,
  ) {
    super(config);
  }

  /** On close: cut a pacing pause short, and stop waiting for a watch's answer (it is aborted if it comes). */
  interrupt(): void {
    this.wake?.();
    for (const t of this.connectTimers) clearTimeout(t);
    this.connectTimers.clear();
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const idle = new AbortController();
    /** `done`, at most once, clearing the connect timer; set once the request is about to be made. */
    let finish: ((err: unknown) => void) | undefined;
    try {
      if (this.pauseMs > 0) {
        const ms = this.pauseMs;
        this.pauseMs = 0;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      if (this.closed()) return idle;
      const started = Date.now();
      let ended = false;
      const onDone = (err: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(connectTimer);
        this.connectTimers.delete(connectTimer);
        if (err === null || err === undefined) {
          if (Date.now() - started < MIN_HEALTHY_WATCH_MS) this.pauseMs = this.pacing.next();
          else this.pacing.reset();
        }
        done(err);
      };
      const connectTimer = setTimeout(
        () => onDone(new Error(`watch request not answered within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      this.connectTimers.add(connectTimer);
      finish = onDone;
      const onEvent = (phase: string, obj: unknown, raw: unknown): void => {
        // The informer dereferences `obj.metadata` (or `obj.code` for ERROR) without checks.
        const valid =
          phase === "ERROR"
            ? isRecord(obj)
            : phase === "BOOKMARK"
              ? isRecord(obj) && isRecord(obj.metadata)
              : isNamedObject(obj);
        if (!valid) return;
        try {
          // The informer's handler is async: catch its rejection here, or it would be unhandled.
          const result: unknown = callback(phase, obj, raw);
          if (result instanceof Promise) result.catch(this.onHandlerError);
        } catch (err) {
          this.onHandlerError(err);
        }
      };
      const query = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds() };
      const controller = await super.watch(path, query, onEvent, onDone);
      clearTimeout(connectTimer);
      this.connectTimers.delete(connectTimer);
      // Stopped (or given up on) while the request was in flight: the informer could not abort what it did not
      // have yet.
      if (this.closed() || ended) controller.abort();
      return controller;
    } catch (err) {
      // E.g. credentials that fail to load: the base class throws instead of calling `done`.
      (finish ?? done)(err);
      return idle;
    }
  }
}

/**
 * Start keeping one resource in sync. Handlers are called synchronously from the client's callbacks; `onList`
 * precedes the per-object `onUpsert` calls the informer makes for the same list, which repeat its items.
 */
export function startResourceWatch(opts: ResourceWatchOptions): ResourceWatch {
  const { handlers } = opts;
  let closed = false;
  /** Bumped for every informer started or failed; callbacks of older informers are ignored. */
  let generation = 0;
  let informer: ListWatch<KubernetesObject> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let lists = 0;
  let launchedAt = 0;
  const backoff = createBackoff(opts.backoff);
  const timeoutSeconds = (): number => opts.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
  const guard = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      handlers.onHandlerError(err);
    }
  };
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const watcher = new GuardedWatch(
    opts.kubeConfig,
    () => closed,
    createBackoff(opts.backoff),
    timeoutSeconds,
    requestTimeoutMs,
    (err) => guard(() => handlers.onHandlerError(err)),
  );

  const fail = (gen: number, err: unknown): void => {
    if (closed || gen !== generation) return;
    generation += 1;
    const dead = informer;
    informer = undefined;
    dead?.stop().catch(() => undefined);
    if (Date.now() - launchedAt >= STABLE_RUN_MS) backoff.reset();
    const delay = backoff.next();
    guard(() => handlers.onError(describeError(err), delay));
    retryTimer = setTimeout(launch, delay);
  };

  function launch(): void {
    retryTimer = undefined;
    if (closed) return;
    const gen = ++generation;
    launchedAt = Date.now();
    const current = (): boolean => !closed && gen === generation;
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      let raw: unknown;
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`list not answered within ${requestTimeoutMs} ms`)),
            requestTimeoutMs,
          );
        });
        // A late answer to an abandoned list is ignored; the client offers no way to cancel it.
        raw = await Promise.race([opts.list(), timeout]);
      } catch (err) {
        if (current() && opts.absentOn404 === true && isNotFound(err)) {
          guard(() => handlers.onAbsent?.(describeError(err)));
        }
        throw err;
      } finally {
        clearTimeout(timer);
      }
      // Thrown errors stop this informer; `fail` ignores them when it is no longer current.
      if (!current()) throw new Error("informer superseded");
      const list = asObjectList(raw);
      if (!list) throw new Error("list response has no items array");
      lists += 1;
      guard(() => handlers.onList(list.items, lists > 1));
      return list;
    };
    const lw = new ListWatch<KubernetesObject>(opts.path, watcher, listFn, false);
    lw.on("add", (obj) => {
      if (current()) guard(() => handlers.onUpsert(obj, "add"));
    });
    lw.on("update", (obj) => {
      if (current()) guard(() => handlers.onUpsert(obj, "update"));
    });
    lw.on("delete", (obj) => {
      if (current()) guard(() => handlers.onDelete(obj));
    });
    lw.on("error", (err) => fail(gen, err));
    informer = lw;
    lw.start().catch((err: unknown) => fail(gen, err));
  }

  launch();
  return {
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      watcher.interrupt();
      informer?.stop().catch(() => undefined);
      informer = undefined;
    },
  };
}
