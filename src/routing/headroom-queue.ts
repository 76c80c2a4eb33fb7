/**
 * Where requests wait when a capacity-capped strategy (the SLO family) finds no pod
 * with headroom: one bounded FIFO per model. Each waiter carries its own `attempt`, a closure that re-runs the
 * whole decision (fleet re-read, scores, reservation) and either answers or says "still no room". The director
 * calls {@link HeadroomQueue.wake} when a pick of the model is released and the server on fleet changes; the
 * queue then retries waiters head first and stops at the first that still does not fit (strict FIFO: a large
 * request at the head is never starved by smaller ones behind it).
 *
 * Differences from AIBrix, deliberate: AIBrix orders waiters by SLO rank per profile (FIFO without profile SLOs)
 * and has no bound on queue length or wait; here the order is always FIFO, the length per model and the wait are
 * bounded (429 and 503), and a waiter whose stream closes leaves the queue at once.
 *
 * The queue knows nothing of pods or strategies. No timers run while no one waits.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";
import { foldReentrant } from "./reentrant-pass";

/** Default bound on waiters per model (`--slo-queue-max`). */
export const DEFAULT_HEADROOM_QUEUE_MAX = 128;
/** Default bound on one waiter's wait, ms (`--slo-queue-max-wait-ms`). */
export const DEFAULT_HEADROOM_MAX_WAIT_MS = 30_000;

/** Queue events for metrics. Every hook is optional and must not throw. */
export interface HeadroomQueueObserver {
  /** A request started waiting. */
  onEnqueued?(model: string): void;
  /** A request was refused because the model's queue was full (answered 429). */
  onRejected?(model: string): void;
  /** A waiter waited `maxWaitMs` without room (answered 503). */
  onTimeout?(model: string): void;
  /** A waiter's stream closed while it waited. */
  onCancelled?(model: string): void;
  /** A waiter was answered (routed, or an error from its decision) after `waitedMs`. */
  onDequeued?(model: string, waitedMs: number): void;
}

/** Options of {@link createHeadroomQueue}. */
export interface HeadroomQueueOptions {
  /** Most waiters per model (≥ 0; 0 refuses every wait). Default {@link DEFAULT_HEADROOM_QUEUE_MAX}. */
  readonly maxQueuedPerModel?: number;
  /** Longest wait, ms (≥ 0). Default {@link DEFAULT_HEADROOM_MAX_WAIT_MS}. */
  readonly maxWaitMs?: number;
  readonly observer?: HeadroomQueueObserver;
  /** Monotonic clock in ms for wait durations. Default `performance.now`. */
  readonly nowMs?: () => number;
}

/**
 * One try of a waiter's decision: the answer when it can proceed now, `undefined` to keep waiting. Runs
 * synchronously inside `wake`; a throw rejects that waiter with the error (the next waiters are still tried).
 */
export type Attempt<T> = () => T | undefined;

/** Per-model bounded FIFO of requests waiting for headroom. */
export interface HeadroomQueue {
  /**
   * Park a request of `model` until an `attempt` (run on each `wake(model)`, head first) answers. The first try
   * happens on the next wake, never here: the caller has just found no room.
   *
   * @returns the answer of `attempt`. Rejects with `RouteError` `Code.RateLimited` (`x-error-slo-queue-full`)
   *   at once when `model` already has `maxQueuedPerModel` waiters; `Code.Unavailable`
   *   (`x-error-slo-queue-timeout`) after `maxWaitMs` without room; `Code.Unavailable` when `signal` aborts
   *   (the waiter has left the queue by the time the promise rejects).
   */
  wait<T>(model: string, attempt: Attempt<T>, signal?: AbortSignal): Promise<T>;
  /** Retry the model's waiters in FIFO order until one still finds no room. Synchronous; never throws. */
  wake(model: string): void;
  /** `wake` every model (the fleet changed, or GPU profiles were refreshed). */
  wakeAll(): void;
  /** Waiters of `model` now (AIBrix `QueueRouter.Len()`, `meta_queueing_reqs`). */
  length(model: string): number;
  /** Models with waiters and their counts (for the queue-length gauge). */
  lengths(): readonly (readonly [model: string, waiting: number])[];
}

/** A parked request. `tryNow` settles it (and removes it) when it answers true. */
interface Waiter {
  tryNow(): boolean;
}

/** Create an empty queue. */
export function createHeadroomQueue(options: HeadroomQueueOptions = {}): HeadroomQueue {
  const maxQueued = Math.max(0, Math.floor(options.maxQueuedPerModel ?? DEFAULT_HEADROOM_QUEUE_MAX));
  const maxWaitMs = Math.max(0, options.maxWaitMs ?? DEFAULT_HEADROOM_MAX_WAIT_MS);
  const observer = options.observer ?? {};
  const nowMs = options.nowMs ?? (() => performance.now());
  // A Set iterates in insertion order (FIFO) and deletes in O(1), also while being iterated.
  const queues = new Map<string, Set<Waiter>>();
  // Re-entrant wakes (an attempt whose side effects release another pick) are folded into one more pass.
  const drain = foldReentrant((model) => {
    const q = queues.get(model);
    if (q === undefined) return;
    for (const w of q) if (!w.tryNow()) break;
  });

  function wait<T>(model: string, attempt: Attempt<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelled(model));
    const size = queues.get(model)?.size ?? 0;
    if (size >= maxQueued) {
      observer.onRejected?.(model);
      return Promise.reject(queueFull(model, maxQueued));
    }
    return new Promise<T>((resolve, reject) => {
      const since = nowMs();
      let q = queues.get(model);
      if (q === undefined) {
        q = new Set();
        queues.set(model, q);
      }
      const queue = q;
      const isHead = (): boolean => queue.values().next().value === waiter;
      /** Leave the queue and drop the timer and the abort listener: the single cleanup of every path. */
      const leave = (): void => {
        queue.delete(waiter);
        if (queue.size === 0 && queues.get(model) === queue) queues.delete(model);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      /** Give up waiting; when the head leaves, the next waiter may fit where it did not. */
      const giveUp = (err: RouteError, report: (() => void) | undefined): void => {
        const head = isHead();
        leave();
        report?.();
        reject(err);
        if (head) drain(model);
      };
      const waiter: Waiter = {
        tryNow() {
          let answer: T | undefined;
          try {
            answer = attempt();
          } catch (e) {
            leave();
            reject(e);
            return true;
          }
          if (answer === undefined) return false;
          leave();
          observer.onDequeued?.(model, nowMs() - since);
          resolve(answer);
          return true;
        },
      };
      const onAbort = (): void =>
        giveUp(cancelled(model), observer.onCancelled && (() => observer.onCancelled?.(model)));
      const timer = setTimeout(
        () => giveUp(timedOut(model, maxWaitMs), observer.onTimeout && (() => observer.onTimeout?.(model))),
        maxWaitMs,
      );
      // The gRPC stream keeps the process alive while it matters; a parked timer alone must not.
      timer.unref();
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.add(waiter);
      observer.onEnqueued?.(model);
    });
  }

  return {
    wait,
    wake: drain,
    wakeAll() {
      for (const model of [...queues.keys()]) drain(model);
    },
    length: (model) => queues.get(model)?.size ?? 0,
    lengths: () => [...queues].map(([model, q]) => [model, q.size] as const),
  };
}

function queueFull(model: string, max: number): RouteError {
  return new RouteError(
    Code.RateLimited,
    `too many requests for model ${echoClientText(model)} are waiting for a pod with headroom (limit ${max})`,
    { errorHeader: ["x-error-slo-queue-full", "true"] },
  );
}

function timedOut(model: string, maxWaitMs: number): RouteError {
  return new RouteError(
    Code.Unavailable,
    `no pod of model ${echoClientText(model)} had headroom within ${maxWaitMs} ms`,
    {
      errorHeader: ["x-error-slo-queue-timeout", "true"],
    },
  );
}

function cancelled(model: string): RouteError {
  return new RouteError(
    Code.Unavailable,
    `request for model ${echoClientText(model)} cancelled while waiting for headroom`,
  );
}
