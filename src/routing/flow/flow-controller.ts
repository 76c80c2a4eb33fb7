/**
 * Flow control in front of every strategy: a request whose model is not saturated, and whose model has nobody
 * queued, goes straight on (the fast path: no promise, no queue entry); otherwise it waits in the bounded flow queue
 * and is dispatched — band, then fairness across tenants, then order, as the queue decides — when its model is no
 * longer saturated.
 *
 * Dispatch runs the request's decision synchronously (`go`), so the pick's reservation is in the load tracker before
 * the next saturation check of the same pass: a burst of dispatches sees its own in-flight work grow.
 *
 * Triggers that try to dispatch: a pick released or its first token seen (the director), engine metrics refreshed
 * (the scraper), the fleet or GPU profiles changed (the server), and one timer while anything is queued, at the next
 * TTL expiry or the re-check interval, whichever is sooner (unref'd; no timer while the queue is empty).
 *
 * Room reserved for the top band: each model's top band is the highest priority among its requests of the last
 * `topBandWindowMs` (`top-band.ts`); a request of a lower band is judged against the stricter cuts of
 * `thresholds.reserve` (`saturation.ts`), on arrival and at the head of the queue, so an arrival of the top band
 * finds room (and is dispatched in the same pass, ahead of everything lower) instead of waiting for the pods to drain.
 *
 * Nothing accepted is lost: every queued request is dispatched, dropped with a reason (`queue-full`, `ttl`, `shed`;
 * each answered with its own code), cancelled (its stream ended: it leaves the queue at once), or refused at
 * shutdown (`close`).
 *
 * @module
 */
import type { Pod } from "../../cluster";
import { echoClientText } from "../../client-echo";
import { Code, RouteError } from "../../errors";
import type { HeaderView } from "../framework";
import type { DropReason, FlowQueue, FlowQueueOptions, FlowRequest } from "./flow-queue-contract";
import type { FlowCharge } from "./flow-charge";
import { createFlowQueue } from "./flow-queue";
import { foldReentrant } from "../reentrant-pass";
import { deadlineOf, priorityOf } from "./flow-request";
import { isSaturated, modelSaturation, podsWithRoom } from "./saturation";
import type { SaturationResult, SaturationSignals, SaturationThresholds } from "./saturation";
import { tenantOf } from "./tenant";
import { createTopBands } from "./top-band";
import type { HeldPrefill, PrefillBacklog } from "./prefill-backlog";

/** Flow-control events, for metrics. Every hook is optional and must not throw. */
export interface FlowControlObserver {
  /** A saturation check of `model` (on arrival and before each dispatch). */
  onSaturationCheck?(model: string, result: SaturationResult): void;
  /** A request started waiting. */
  onQueued?(model: string, band: number): void;
  /** A queued request was dispatched to the strategies after `waitedMs`. */
  onDispatched?(model: string, band: number, waitedMs: number): void;
  /** A request was dropped (arriving: `queue-full`; queued: `ttl`, `shed`). */
  onDropped?(model: string, band: number, reason: DropReason): void;
  /** A queued request's stream ended; it left the queue. */
  onCancelled?(model: string, band: number): void;
}

/** Options of {@link createFlowController}. */
export interface FlowControllerOptions {
  readonly queue: FlowQueueOptions;
  readonly thresholds: SaturationThresholds;
  readonly signals: SaturationSignals;
  /** The prefill backlog the signals read, held by every pick ({@link FlowController.holdPrefill}). Default: none. */
  readonly prefillBacklog?: PrefillBacklog;
  /** A model's pods as the fleet has them now (re-read before each dispatch). */
  readonly pods: (model: string) => readonly Pod[] | undefined;
  /** The configured tenant header (lower-case), if any. */
  readonly tenantHeader?: string | undefined;
  /** Priority of each `x-gateway-inference-objective` name. */
  readonly objectives?: ReadonlyMap<string, number>;
  /**
   * How long a band stays its model's top band after its last request, ms (the band `thresholds.reserve` is kept
   * for). Default: 60 s.
   */
  readonly topBandWindowMs?: number;
  /** Re-check interval while anything is queued, ms. */
  readonly recheckMs: number;
  /** Predicted output tokens when the request sets no `max_tokens` (the output predictor). Default: 0. */
  readonly predictOutput?: (model: string, promptTokens: number) => number;
  readonly observer?: FlowControlObserver;
  /** Monotonic clock, ms. Default `performance.now`. */
  readonly nowMs?: () => number;
}

/** One request at flow control. */
export interface FlowInput {
  readonly requestId: string;
  readonly model: string;
  readonly headers: HeaderView;
  /** Prompt tokens: the tokenized prompt's count when there is one, else the request's estimate. */
  readonly promptTokens: number;
  /** The request's `max_tokens`, when set. */
  readonly maxTokens: number | undefined;
  /** Aborts when the request's stream ends: a queued request leaves the queue at once. */
  readonly signal?: AbortSignal | undefined;
}

/** Flow control. */
export interface FlowController {
  /**
   * Run `go(undefined, room)` now when `input.model` is not saturated and has nobody queued, else queue the request
   * and run `go(charge, room)` when it is dispatched; `charge.settle` corrects the tenant's fairness charge with the
   * tokens the request really used. `room` narrows candidate pods to those with room for this request's band
   * ({@link podsWithRoom}, judged when called): the model had room on some pod, and the request belongs there. `pods`
   * are the model's pods as the caller read them.
   *
   * @throws RouteError `Code.BadRequest` for a malformed priority or TTFT SLO header (before anything is queued).
   * @returns `go`'s answer, or a promise of it that rejects with `Code.FlowQueueFull` (429), `Code.FlowExpired` or
   *   `Code.FlowShed` (503), `Code.Unavailable` when `input.signal` aborts, `Code.Draining` at `close`.
   */
  admit<T>(
    input: FlowInput,
    pods: readonly Pod[],
    go: (charge: FlowCharge | undefined, room: RoomFilter) => T | Promise<T>,
  ): T | Promise<T>;
  /**
   * Hold a pick's uncached prompt tokens on its pod in the prefill backlog, in the pick's synchronous step, until
   * the returned share is released (undefined without a backlog). Every pick holds, queued or not: the backlog is
   * the pod's, whoever sent the work.
   */
  holdPrefill(podKey: string, tokens: number): HeldPrefill | undefined;
  /** Dispatch the model's queued requests while it has room. Synchronous; never throws. */
  wake(model: string): void;
  /** `wake` every model with queued requests. */
  wakeAll(): void;
  /** Requests queued for a model. */
  queued(model: string): number;
  /** Queued requests per model and band, for the gauge. */
  sizes(): readonly (readonly [model: string, band: number, queued: number])[];
  /** Stop: every queued request is refused (`Code.Draining`), as is any that would queue later; timer cleared. */
  close(): void;
}

/** The candidate pods with room for one admitted request (all of them when none has). */
export type RoomFilter = (pods: readonly Pod[]) => readonly Pod[];

/** What the controller keeps with each queued request. */
interface Waiter {
  /** `poppedAtMs`: the time its `pop` was given (where the queue charged its tenant). */
  dispatch(poppedAtMs: number): void;
  drop(err: RouteError): void;
}

/** Create a flow controller with an empty queue. */
export function createFlowController(options: FlowControllerOptions): FlowController {
  const { thresholds, signals, observer = {}, recheckMs } = options;
  const nowMs = options.nowMs ?? (() => performance.now());
  const objectives = options.objectives ?? new Map<string, number>();
  const queue: FlowQueue<Waiter> = createFlowQueue<Waiter>(options.queue);
  const ttlMs = options.queue.limits.ttlMs;
  const reserve = thresholds.reserve;
  const hasReserve = reserve !== undefined && (reserve.seats > 0 || reserve.prefillShare > 0);
  const tops = createTopBands(options.topBandWindowMs ?? DEFAULT_TOP_BAND_WINDOW_MS);
  let timer: NodeJS.Timeout | undefined;
  let timerDueMs = Number.POSITIVE_INFINITY;
  let closed = false;

  /** Whether `model` is saturated for a request of `priority` (a band below the top must leave the reserve). */
  const check = (model: string, pods: readonly Pod[], priority: number): boolean => {
    const lower = hasReserve && !tops.isTop(model, priority, nowMs());
    const result = modelSaturation(pods, signals, thresholds, lower);
    observer.onSaturationCheck?.(model, result);
    return isSaturated(result);
  };

  /** Where a request of `priority` for `model` may go: the pods with room for its band when asked. */
  const roomFor =
    (model: string, priority: number): RoomFilter =>
    (pods) =>
      podsWithRoom(pods, signals, thresholds, hasReserve && !tops.isTop(model, priority, nowMs()));

  /**
   * Dispatch the model's requests while it has room for the one at the head (its band decides the cut), then re-arm
   * the timer. A head held back by the reserve stops the pass: everything behind it is of its band or lower.
   */
  const dispatchWhileRoom = foldReentrant((model) => {
    for (;;) {
      const now = nowMs();
      const head = queue.peek(model, now);
      if (head === undefined || check(model, options.pods(model) ?? [], head.request.priority)) break;
      const entry = queue.pop(model, now);
      if (entry === undefined) break;
      observer.onDispatched?.(model, entry.request.priority, now - entry.enqueuedMs);
      entry.payload.dispatch(now);
    }
  });
  function drain(model: string): void {
    dispatchWhileRoom(model);
    schedule();
  }

  function wakeAll(): void {
    if (queue.size === 0) return;
    for (const model of new Set(queue.sizes().map(([m]) => m))) drain(model);
  }

  /** One timer while anything is queued: at the next expiry or the re-check, whichever is sooner. */
  function schedule(): void {
    if (queue.size === 0) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      timerDueMs = Number.POSITIVE_INFINITY;
      return;
    }
    const now = nowMs();
    const due = Math.min(queue.nextExpiryMs() ?? Number.POSITIVE_INFINITY, now + recheckMs);
    if (timer !== undefined && timerDueMs <= due) return;
    if (timer !== undefined) clearTimeout(timer);
    timerDueMs = due;
    timer = setTimeout(onTimer, Math.max(0, due - now));
    // The streams keep the process alive while they matter; the queue's timer alone must not.
    timer.unref();
  }

  function onTimer(): void {
    timer = undefined;
    timerDueMs = Number.POSITIVE_INFINITY;
    for (const e of queue.expire(nowMs())) {
      observer.onDropped?.(e.request.model, e.request.priority, "ttl");
      e.payload.drop(dropped("ttl", e.request.model, ttlMs));
    }
    wakeAll();
    schedule();
  }

  function enqueue<T>(
    request: FlowRequest,
    signal: AbortSignal | undefined,
    go: (charge: FlowCharge | undefined, room: RoomFilter) => T | Promise<T>,
    checked: boolean,
  ) {
    const { model, priority } = request;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(cancelled(model));
        return;
      }
      if (closed) {
        reject(stopping());
        return;
      }
      const waiter: Waiter = {
        dispatch(poppedAtMs) {
          signal?.removeEventListener("abort", onAbort);
          try {
            const charge: FlowCharge = {
              settle: (actual) => queue.settle(request.flow, request.tokens, actual, nowMs(), poppedAtMs),
            };
            resolve(go(charge, roomFor(model, priority)));
          } catch (err) {
            reject(err);
          }
        },
        drop(err) {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const pushed = queue.push(request, waiter, nowMs());
      if (pushed.t === "rejected") {
        observer.onDropped?.(model, priority, "queue-full");
        reject(dropped("queue-full", model, ttlMs));
        return;
      }
      const entry = pushed.entry;
      function onAbort(): void {
        if (!queue.remove(entry)) return;
        observer.onCancelled?.(model, priority);
        reject(cancelled(model));
        // The request that left may have been the one holding the others back (a large head): try again.
        drain(model);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      observer.onQueued?.(model, priority);
      for (const s of pushed.shed) {
        observer.onDropped?.(s.request.model, s.request.priority, "shed");
        s.payload.drop(dropped("shed", s.request.model, ttlMs));
      }
      // Found saturated just now: only the timer needs arming. Queued behind others without a check: try at once, so
      // nobody is left waiting for a trigger that already passed.
      if (checked) schedule();
      else drain(model);
    });
  }

  return {
    admit(input, pods, go) {
      // Parsed on every request, so a malformed header is a 400 whatever the load.
      const priority = priorityOf(input.headers, objectives);
      const now = nowMs();
      const deadlineMs = deadlineOf(input.headers, now);
      const { model } = input;
      if (hasReserve) tops.see(model, priority, now);
      // Fast path: nobody queued ahead and room now.
      const behind = queue.length(model) > 0;
      if (!behind && !check(model, pods, priority)) return go(undefined, roomFor(model, priority));
      const output = input.maxTokens ?? options.predictOutput?.(model, input.promptTokens) ?? 0;
      const request: FlowRequest = {
        id: input.requestId,
        model,
        priority,
        flow: tenantOf(input.headers, options.tenantHeader),
        tokens: Math.max(0, input.promptTokens + output),
        deadlineMs,
      };
      return enqueue(request, input.signal, go, !behind);
    },
    holdPrefill: (podKey, tokens) => options.prefillBacklog?.hold(podKey, tokens),
    wake: (model) => {
      if (queue.length(model) > 0) drain(model);
    },
    wakeAll,
    queued: (model) => queue.length(model),
    sizes: () => queue.sizes(),
    close() {
      closed = true;
      // Everything queued was pushed at or before now, so all of it has expired by now + TTL. (A finite time: the
      // queue's clock never goes back, and infinity would stick.)
      for (const e of queue.expire(nowMs() + ttlMs)) e.payload.drop(stopping());
      schedule();
    },
  };
}

/** How long a band stays its model's top band after its last request, by default (the fairness window's default). */
export const DEFAULT_TOP_BAND_WINDOW_MS = 60_000;

/** The answer to a dropped request; the wire mapping adds `x-kvroute-dropped-reason`. */
function dropped(reason: DropReason, model: string, ttlMs: number): RouteError {
  const shown = echoClientText(model);
  switch (reason) {
    case "queue-full":
      return new RouteError(
        Code.FlowQueueFull,
        `too many requests are queued for model ${shown}; try again later`,
      );
    case "ttl":
      return new RouteError(Code.FlowExpired, `model ${shown} had no room within ${ttlMs} ms`);
    case "shed":
      return new RouteError(
        Code.FlowShed,
        `sheddable request for model ${shown} dropped to make room for others`,
      );
  }
}

function stopping(): RouteError {
  return new RouteError(Code.Draining, "kvroute is stopping; the request was not routed");
}

function cancelled(model: string): RouteError {
  return new RouteError(
    Code.Unavailable,
    `request for model ${echoClientText(model)} cancelled while queued by flow control`,
  );
}
