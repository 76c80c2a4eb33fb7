/**
 * A `worker_threads` pool that encodes long prompts off the event loop. Bounded queue (`queue-full` at the
 * bound), cancellation of queued jobs by `AbortSignal`, lazy encoder loading in the workers, and restart of a
 * worker that crashes (its in-flight job is rejected with `worker-crash`).
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import type { LocalSpec } from "./spec";
import { TokenizeError } from "./errors";
import type { WorkerRequest, WorkerResponse } from "./worker-main";

/** Options of `WorkerPool`. */
export interface WorkerPoolOptions {
  /** Number of worker threads. Default 2. */
  readonly workers?: number;
  /** Jobs waiting for a worker, at most. Default 1024. */
  readonly maxQueue?: number;
}

/** Counters for metrics and tests. */
export interface WorkerPoolStats {
  /** Jobs handed to a worker since start. */
  readonly dispatched: number;
  readonly completed: number;
  readonly rejectedQueueFull: number;
  readonly crashes: number;
  readonly queued: number;
  readonly inFlight: number;
}

interface Job {
  readonly req: WorkerRequest;
  readonly resolve: (ids: Uint32Array) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

/**
 * The worker entry. From compiled JavaScript it is `worker-main.js` beside this file; from TypeScript source
 * (jest, tsx) an inline CommonJS bootstrap registers tsx and then loads `worker-main.ts`.
 */
function spawn(): Worker {
  if (__filename.endsWith(".js")) return new Worker(join(__dirname, "worker-main.js"));
  const tsx = require.resolve("tsx/cjs");
  const main = join(__dirname, "worker-main.ts");
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(main)});`, { eval: true });
}

/** The pool. One per registry; workers start lazily on the first job. */
export class WorkerPool {
  private readonly size: number;
  private readonly maxQueue: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private counters = { dispatched: 0, completed: 0, rejectedQueueFull: 0, crashes: 0 };

  constructor(options: WorkerPoolOptions = {}) {
    this.size = Math.max(1, options.workers ?? 2);
    this.maxQueue = Math.max(0, options.maxQueue ?? 1024);
  }

  /** Encode `text` with the encoder of `spec` in a worker. */
  encode(spec: LocalSpec, text: string, signal?: AbortSignal): Promise<Uint32Array> {
    return this.submit((id) => ({ kind: "encode", id, spec, text }), signal);
  }

  /** Test hook: make the worker that takes this job exit abruptly. */
  crashOneForTest(): Promise<Uint32Array> {
    return this.submit((id) => ({ kind: "crash", id }), undefined);
  }

  /** Counters. */
  stats(): WorkerPoolStats {
    return {
      ...this.counters,
      queued: this.queue.length,
      inFlight: this.slots.filter((s) => s.job !== undefined).length,
    };
  }

  /** Reject everything pending and stop the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, new TokenizeError("closed"));
    const slots = this.slots.splice(0);
    for (const slot of slots) if (slot.job !== undefined) this.settle(slot.job, new TokenizeError("closed"));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private submit(make: (id: number) => WorkerRequest, signal: AbortSignal | undefined): Promise<Uint32Array> {
    if (this.closed) return Promise.reject(new TokenizeError("closed"));
    if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
    const idle = this.idleSlot();
    if (idle === undefined && this.queue.length >= this.maxQueue) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new TokenizeError("queue-full"));
    }
    return new Promise<Uint32Array>((resolve, reject) => {
      const job: Job = {
        req: make(this.nextId++),
        resolve,
        reject,
        signal,
        onAbort: () => this.abort(job),
      };
      signal?.addEventListener("abort", job.onAbort, { once: true });
      if (idle !== undefined) this.dispatch(idle, job);
      else this.queue.push(job);
    });
  }

  /** An idle worker, starting one when fewer than `size` exist. */
  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((s) => s.job === undefined);
    if (idle !== undefined || this.slots.length >= this.size) return idle;
    const slot = this.start();
    return slot;
  }

  private start(): Slot {
    const slot: Slot = { worker: spawn(), job: undefined };
    this.slots.push(slot);
    slot.worker.on("message", (res: WorkerResponse) => this.onMessage(slot, res));
    slot.worker.on("error", () => this.onCrash(slot));
    slot.worker.on("exit", () => this.onCrash(slot));
    slot.worker.unref();
    return slot;
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref(); // a busy worker keeps the process alive until it answers; an idle one does not
    this.counters.dispatched++;
    slot.worker.postMessage(job.req);
  }

  private onMessage(slot: Slot, res: WorkerResponse): void {
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined && job.req.id === res.id) {
      this.counters.completed++;
      if (res.ok) this.settle(job, undefined, res.ids);
      else this.settle(job, new TokenizeError("worker-error", res.error));
    }
    this.pump(slot);
  }

  /** A worker died: reject its job, replace it, carry on with the queue. */
  private onCrash(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return; // already handled ('error' is followed by 'exit'), or closing
    this.slots.splice(index, 1);
    this.counters.crashes++;
    if (slot.job !== undefined) this.settle(slot.job, new TokenizeError("worker-crash"));
    slot.job = undefined;
    void slot.worker.terminate();
    if (this.closed) return;
    const next = this.queue.length > 0 ? this.start() : undefined;
    if (next !== undefined) this.pump(next);
  }

  private pump(slot: Slot): void {
    const job = this.queue.shift();
    if (job !== undefined) this.dispatch(slot, job);
    else slot.worker.unref();
  }

  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    // An in-flight job keeps its worker busy until it finishes; only its promise settles now.
    this.settle(job, new TokenizeError("aborted"));
  }

  private settle(job: Job, err: Error | undefined, ids?: Uint32Array): void {
    job.signal?.removeEventListener("abort", job.onAbort);
    if (err !== undefined) job.reject(err);
    else if (ids !== undefined) job.resolve(ids);
  }
}
