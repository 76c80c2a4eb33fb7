/**
 * Request trace for the AIBrix GPU optimizer, byte-compatible with
 * AIBrix's `pkg/cache/trace.go` + `cache_trace.go`.
 *
 * Per model and per 10 s window: finished requests are counted into buckets keyed `"<inIdx>:<outIdx>"` where
 * `idx = int64(round(log2(tokens)/0.1)*0.1/0.1)` (tokens <= 0 map to 0), plus `meta_*` fields. At each flush the
 * window is swapped out and written as `SET aibrix:<model>_request_trace_<roundT> <json> EX 600`. The JSON is what
 * Go's `json.Marshal(map[string]int)` produces: keys sorted byte-wise, no whitespace.
 *
 * `roundT` is the wall-clock multiple of 10 s at which the window is due to close, fixed when the window opens. That
 * is AIBrix's `unix - unix%10` read when its ticker fires on time (the GPU optimizer reads key `t - t%10` a few
 * seconds after `t`), but it does not depend on when the timer actually fires: read from the clock at firing, a
 * timer that fired a millisecond early gave the window the previous window's key, and one overwrote the other.
 * Keys of consecutive windows strictly increase, whatever the timer does.
 *
 * Beyond AIBrix: windows that could not be written during a Redis outage are kept in a bounded per-model backlog
 * (oldest dropped, counted) and written, oldest first, once Redis is back, with the TTL they have left.
 *
 * @module
 */
import type { RedisFailureReason, RedisResult, UsageLogger } from "./redis";
import type Redis from "ioredis";

/** `RequestTraceVersion` (meta_v). */
export const REQUEST_TRACE_VERSION = 4;
/** `RequestTraceWriteInterval` in seconds (meta_interval_sec). */
export const REQUEST_TRACE_INTERVAL_SEC = 10;
/** `RequestTracePrecision`: buckets are 0.1 wide in log2(tokens). */
export const REQUEST_TRACE_PRECISION = 0.1;
/** `int(1 / RequestTracePrecision)` (meta_precision). */
export const REQUEST_TRACE_META_PRECISION = Math.trunc(1 / REQUEST_TRACE_PRECISION);
/** `expireWriteRequestTraceIntervalInMins * time.Minute`, in seconds. */
export const REQUEST_TRACE_TTL_SEC = 600;
/**
 * Default bound on the models traced at once. Model names come from clients (in InferencePool mode any name is
 * routed to the pool), so without it a client inventing names would grow the windows, pending counts and backlog
 * without limit, and write a Redis key per invented name every 10 s. Past it a new model is not traced (counted).
 */
export const DEFAULT_TRACE_MAX_MODELS = 256;

/** Default backlog bound per model (60 windows = the 10 min TTL). */
export const DEFAULT_TRACE_BACKLOG = 60;

/** `getTokenBucket` + `getTraceKey` index: `int64(round(log2(tokens)/0.1)*0.1 / 0.1)`, 0 for tokens <= 0. */
export function traceBucketIndex(tokens: number): number {
  if (!(tokens > 0)) return 0;
  const bucket = Math.round(Math.log2(tokens) / REQUEST_TRACE_PRECISION) * REQUEST_TRACE_PRECISION;
  return Math.trunc(bucket / REQUEST_TRACE_PRECISION);
}

/** The trace bucket key `"<inIdx>:<outIdx>"` (Go `fmt.Sprintf("%v:%v", ...)` of two int64). */
export function traceBucketKey(inputTokens: number, outputTokens: number): string {
  return `${traceBucketIndex(inputTokens)}:${traceBucketIndex(outputTokens)}`;
}

/** The Redis key `aibrix:<model>_request_trace_<roundT>`, `roundT = unix - unix%10`. */
export function requestTraceKey(model: string, unixSec: number): string {
  const t = Math.floor(unixSec);
  return `aibrix:${model}_request_trace_${t - (t % REQUEST_TRACE_INTERVAL_SEC)}`;
}

/** The first wall-clock multiple of 10 s strictly after `unixSec`: when a window open at `unixSec` is due to close. */
export function traceWindowCloseSec(unixSec: number): number {
  const t = Math.floor(unixSec);
  return t - (t % REQUEST_TRACE_INTERVAL_SEC) + REQUEST_TRACE_INTERVAL_SEC;
}

/** Inputs of {@link requestTraceJson}. */
export interface TraceSnapshot {
  /** Bucket key → count. */
  buckets: ReadonlyMap<string, number>;
  /** Requests added in the window (meta_total_reqs). */
  totalReqs: number;
  /** Model's pending requests at flush time (meta_pending_reqs). */
  pendingReqs: number;
  /** Model's queue length at flush time (meta_queueing_reqs). */
  queueingReqs: number;
}

/** Serialise exactly like Go `json.Marshal(map[string]int)`: byte-wise sorted keys, no spaces. */
export function requestTraceJson(s: TraceSnapshot): string {
  const fields = new Map<string, number>(s.buckets);
  fields.set("meta_v", REQUEST_TRACE_VERSION);
  fields.set("meta_interval_sec", REQUEST_TRACE_INTERVAL_SEC);
  fields.set("meta_precision", REQUEST_TRACE_META_PRECISION);
  fields.set("meta_total_reqs", s.totalReqs);
  fields.set("meta_pending_reqs", s.pendingReqs);
  fields.set("meta_queueing_reqs", s.queueingReqs);
  const keys = [...fields.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = keys.map((k) => `${JSON.stringify(k)}:${String(Math.trunc(fields.get(k) ?? 0))}`);
  return `{${parts.join(",")}}`;
}

/** The part of a {@link RedisConnection} the writer needs (lets tests inject a fake). */
export interface TraceRedis {
  run<T>(fn: (client: Redis) => Promise<T>): Promise<RedisResult<T>>;
}

/** Options for {@link RequestTraceWriter}. */
export interface RequestTraceOptions {
  redis: TraceRedis;
  log: UsageLogger;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
  /** Queue length per model (meta_queueing_reqs); default 0. */
  queueLength?: (model: string) => number;
  /** Backlog bound per model (default 60 windows). */
  maxBacklogPerModel?: number;
  /** Models traced at once (default {@link DEFAULT_TRACE_MAX_MODELS}). */
  maxModels?: number;
  /** Told the result of every flush (metrics); must not throw. */
  onFlush?: (r: FlushResult) => void;
  /** Told of each record refused because the model bound was full (metrics); must not throw. */
  onUntracked?: () => void;
}

/** Outcome of one {@link RequestTraceWriter.flush}. */
export interface FlushResult {
  /** Windows written in this flush (backlog included). */
  written: number;
  /** Windows still waiting in the backlog afterwards. */
  pending: number;
  /** Set when a write failed (the rest stays in the backlog). */
  failure?: RedisFailureReason;
}

/** Cumulative counters. */
export interface TraceStats {
  written: number;
  failedFlushes: number;
  dropped: number;
  expired: number;
  /** Records refused because {@link RequestTraceOptions.maxModels} other models were being traced. */
  untracked: number;
  backlog: number;
}

interface Window {
  buckets: Map<string, number>;
  totalReqs: number;
}

interface Pending {
  key: string;
  json: string;
  /** Unix seconds when the window was closed; the TTL runs from here. */
  closedAt: number;
}

/** Collects per-model request traces and writes one Redis key per model per 10 s window. */
export class RequestTraceWriter {
  private windows = new Map<string, Window>();
  /** Unix seconds the current window is due to close at: its key's `roundT`, fixed when it opened. */
  private closesAt: number;
  private readonly pendingReqs = new Map<string, number>();
  private readonly backlog = new Map<string, Pending[]>();
  private readonly now: () => number;
  private readonly maxBacklog: number;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private deferring = false;
  private readonly maxModels: number;
  private readonly counters = { written: 0, failedFlushes: 0, dropped: 0, expired: 0, untracked: 0 };

  constructor(private readonly opts: RequestTraceOptions) {
    this.now = opts.now ?? Date.now;
    this.maxBacklog = Math.max(1, opts.maxBacklogPerModel ?? DEFAULT_TRACE_BACKLOG);
    this.maxModels = Math.max(1, opts.maxModels ?? DEFAULT_TRACE_MAX_MODELS);
    this.closesAt = traceWindowCloseSec(this.now() / 1000);
  }

  /** Whether `model` is traced: already known, or there is room for one more (else counted as untracked). */
  private tracks(model: string): boolean {
    if (this.windows.has(model) || this.pendingReqs.has(model) || this.backlog.has(model)) return true;
    const known = new Set([...this.windows.keys(), ...this.pendingReqs.keys(), ...this.backlog.keys()]);
    if (known.size < this.maxModels) return true;
    this.counters.untracked++;
    this.opts.onUntracked?.();
    return false;
  }

  private window(model: string): Window {
    let w = this.windows.get(model);
    if (w === undefined) {
      w = { buckets: new Map(), totalReqs: 0 };
      this.windows.set(model, w);
    }
    return w;
  }

  /** A request finished with these token counts (`DoneRequestTrace`): bucket `in:out` += 1. */
  record(model: string, inputTokens: number, outputTokens: number): void {
    if (!this.tracks(model)) return;
    const w = this.window(model);
    const key = traceBucketKey(inputTokens, outputTokens);
    w.buckets.set(key, (w.buckets.get(key) ?? 0) + 1);
  }

  /**
   * Pending-request bookkeeping: `+1` on `AddRequestCount` (also counts the request into meta_total_reqs of the
   * current window), `-1` on `DoneRequestCount`.
   */
  addPending(model: string, delta: number): void {
    // The end of a request that was not traced (the bound was full when it began) has nothing to undo.
    if (delta < 0 && !this.pendingReqs.has(model)) return;
    if (!this.tracks(model)) return;
    if (delta > 0) this.window(model).totalReqs += delta;
    const next = (this.pendingReqs.get(model) ?? 0) + delta;
    // A model with nothing pending is forgotten, so models that come and go do not use up the bound.
    if (next === 0) this.pendingReqs.delete(model);
    else this.pendingReqs.set(model, next);
  }

  /** Current pending count of a model. */
  pending(model: string): number {
    return this.pendingReqs.get(model) ?? 0;
  }

  /** Cumulative counters and the current backlog size. */
  stats(): TraceStats {
    let backlog = 0;
    for (const q of this.backlog.values()) backlog += q.length;
    return { ...this.counters, backlog };
  }

  /** Unix seconds the current window is due to close at: the `roundT` of the key it will be written under. */
  windowClosesAt(): number {
    return this.closesAt;
  }

  /**
   * Close the current window at wall time `nowSec` under the key it got when it opened, and write it plus any
   * backlog. The next window closes at the next multiple of 10 s after both this window's and `nowSec`, so a flush
   * a little early (9.999 s) or late (10.3 s) neither reuses a key nor skips one. Never throws; a Redis failure keeps
   * the windows for the next flush.
   */
  flush(nowSec: number = Math.floor(this.now() / 1000)): Promise<FlushResult> {
    const closing = this.closesAt;
    this.closesAt = Math.max(closing + REQUEST_TRACE_INTERVAL_SEC, traceWindowCloseSec(nowSec));
    this.swap(closing, Math.floor(nowSec));
    const run = this.chain
      .then(() => this.drain(Math.floor(nowSec)))
      .then((r) => {
        this.opts.onFlush?.(r);
        return r;
      });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Swap out the windows (AIBrix swaps the whole map) and queue their JSON under `keySec`. */
  private swap(keySec: number, nowSec: number): void {
    const windows = this.windows;
    this.windows = new Map();
    for (const [model, w] of windows) {
      const json = requestTraceJson({
        buckets: w.buckets,
        totalReqs: w.totalReqs,
        pendingReqs: this.pending(model),
        queueingReqs: this.opts.queueLength?.(model) ?? 0,
      });
      let q = this.backlog.get(model);
      if (q === undefined) {
        q = [];
        this.backlog.set(model, q);
      }
      q.push({ key: requestTraceKey(model, keySec), json, closedAt: nowSec });
      while (q.length > this.maxBacklog) {
        q.shift();
        this.counters.dropped++;
      }
    }
  }

  private async drain(nowSec: number): Promise<FlushResult> {
    let written = 0;
    for (const [model, q] of this.backlog) {
      while (q.length > 0) {
        const item = q[0];
        if (item === undefined) break;
        const ttl = REQUEST_TRACE_TTL_SEC - Math.max(0, nowSec - item.closedAt);
        if (ttl <= 0) {
          q.shift();
          this.counters.expired++;
          continue;
        }
        const res = await this.opts.redis.run((c) => c.set(item.key, item.json, "EX", ttl));
        if (!res.ok) {
          this.counters.failedFlushes++;
          return { written, pending: this.stats().backlog, failure: res.reason };
        }
        q.shift();
        written++;
        this.counters.written++;
      }
      this.backlog.delete(model);
    }
    return { written, pending: this.stats().backlog };
  }

  /** Start the production timer: fire when the current window is due to close (unref'd). Idempotent. */
  start(): void {
    if (this.timer !== undefined) return;
    const schedule = (): void => {
      const delay = Math.max(0, this.closesAt * 1000 - this.now());
      this.timer = setTimeout(() => {
        void this.flush().then((r) => {
          // Log the first deferred flush of an outage and the recovery, not every tick.
          if (r.failure !== undefined && !this.deferring) {
            this.opts.log.warn({ reason: r.failure, backlog: r.pending }, "request trace writes deferred");
          } else if (r.failure === undefined && this.deferring) {
            this.opts.log.info({ written: r.written }, "request trace backlog written");
          }
          this.deferring = r.failure !== undefined;
        });
        if (this.timer !== undefined) schedule();
      }, delay);
      this.timer.unref();
    };
    schedule();
  }

  /** Stop the timer and wait for an in-flight flush. Buffered windows are not written. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }
}
