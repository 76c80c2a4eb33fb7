/**
 * A `worker_threads` pool that encodes long prompts — and hashes their block keys — off the event loop. Bounded
 * queue (`queue-full` at the bound), cancellation by `AbortSignal` (a queued job is dropped before any worker starts
 * it; a job already running finishes in its worker — a thread cannot be interrupted mid-encode — and its answer is
 * discarded), encoders preloaded in every
 * worker at start-up ({@link WorkerPool.preload}) or else loaded on first use, and restart of a worker that crashes
 * (its in-flight job is rejected with `worker-crash`).
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import type { KeyPlan } from "../prefix";
import type { LocalSpec } from "./spec";
import { TokenizeError } from "./errors";
import type { TokenizedPrompt } from "./tokenizer";
import type { LoadOutcome, PrepareInput, WorkerRequest, WorkerResponse } from "./worker-protocol";

/** A worker's successful answer. */
type Answer = Extract<WorkerResponse, { ok: true }>;

/** Options of `WorkerPool`. */
export interface WorkerPoolOptions {
  /** Number of worker threads. Default 2. */
  readonly workers?: number;
  /** Jobs waiting for a worker, at most. Default 1024. */
  readonly maxQueue?: number;
  /**
   * A job's signal aborted: `queued`, it was dropped before a worker started it; `running`, its worker finishes it
   * and the answer is discarded.
   */
  readonly onCancelled?: (stage: "queued" | "running") => void;
}

/** Counters for metrics and tests. */
export interface WorkerPoolStats {
  /** Jobs handed to a worker since start. */
  readonly dispatched: number;
  readonly completed: number;
  readonly rejectedQueueFull: number;
  readonly crashes: number;
  /** Jobs whose signal aborted while queued: dropped, never handed to a worker. */
  readonly cancelledQueued: number;
  /** Jobs whose signal aborted while a worker ran them: the answer, when it came, was discarded. */
  readonly cancelledRunning: number;
  readonly queued: number;
  readonly inFlight: number;
}

interface Job {
  readonly req: WorkerRequest;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** Its signal aborted: its promise is settled already, and a late answer is discarded. */
  cancelled: boolean;
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
  /** What `preload` asked for: a replacement worker loads it before taking requests. */
  private preloadSpecs: readonly LocalSpec[] = [];
  private counters = {
    dispatched: 0,
    completed: 0,
    rejectedQueueFull: 0,
    crashes: 0,
    cancelledQueued: 0,
    cancelledRunning: 0,
  };
  private readonly onCancelled: ((stage: "queued" | "running") => void) | undefined;

  constructor(options: WorkerPoolOptions = {}) {
    this.size = Math.max(1, options.workers ?? 2);
    this.maxQueue = Math.max(0, options.maxQueue ?? 1024);
    this.onCancelled = options.onCancelled;
  }

  /** Encode `text` with the encoder of `spec` in a worker. */
  async encode(spec: LocalSpec, text: string, signal?: AbortSignal): Promise<Uint32Array> {
    return idsOf(await this.submit((id) => ({ kind: "encode", id, spec, text }), signal));
  }

  /**
   * In a worker: the token ids of `input` (a chat rendered with `spec`'s template first; token ids as given — they
   * are handed over, so `input.tokens` is unusable afterwards) and the keys of `plan`. A chat-template failure
   * rejects with a plain `Error`, as it does on the main thread; any other failure with a `TokenizeError`.
   */
  async prepare(
    spec: LocalSpec | undefined,
    input: PrepareInput,
    plan: KeyPlan,
    signal?: AbortSignal,
  ): Promise<TokenizedPrompt> {
    const answer = await this.submit((id) => ({ kind: "prepare", id, spec, input, plan }), signal);
    const tokens = idsOf(answer);
    return "keys" in answer && answer.keys !== undefined ? { tokens, keys: answer.keys } : { tokens };
  }

  /**
   * Start every worker and load `specs` in each, so that no request waits for a load; a worker started later (to
   * replace one that crashed) loads them first too. Resolves per worker with how each spec went (a failed load is
   * reported there; requests for it later fail with `worker-error`, as a lazy load would). A worker already busy
   * takes its load job after its current one. Rejects only when the pool closes.
   */
  async preload(specs: readonly LocalSpec[]): Promise<LoadOutcome[][]> {
    this.preloadSpecs = specs;
    const jobs = this.slots.map((slot) => this.load(slot, specs));
    while (this.slots.length < this.size && !this.closed) jobs.push(this.load(this.start(), specs));
    return Promise.all(jobs);
  }

  /** Run a load job on `slot` (next, whatever else is queued). */
  private async load(slot: Slot, specs: readonly LocalSpec[]): Promise<LoadOutcome[]> {
    const answer = await this.submit((id) => ({ kind: "load", id, specs }), undefined, slot);
    return "loaded" in answer ? [...answer.loaded] : [];
  }

  /** Test hook: make the worker that takes this job exit abruptly. */
  async crashOneForTest(): Promise<Uint32Array> {
    return idsOf(await this.submit((id) => ({ kind: "crash", id }), undefined));
  }

  /**
   * Test hook: a job that blocks the worker taking it until `release()` — a busy pool whose jobs behind it stay
   * queued for as long as a test needs, with no timing involved. `done` settles when the worker answered.
   */
  holdOneForTest(): { release(): void; done: Promise<unknown> } {
    const gate = new SharedArrayBuffer(4);
    const done = this.submit((id) => ({ kind: "hold", id, gate }), undefined);
    return {
      release: () => {
        Atomics.store(new Int32Array(gate), 0, 1);
        Atomics.notify(new Int32Array(gate), 0);
      },
      done,
    };
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

  /**
   * Run a job on an idle worker, else queue it (bounded). `on` pins a start-up load job to one worker: it runs
   * there when that worker is idle, else it goes first in the queue (whichever worker frees up first takes it).
   */
  private submit(
    make: (id: number) => WorkerRequest,
    signal: AbortSignal | undefined,
    on?: Slot,
  ): Promise<Answer> {
    if (this.closed) return Promise.reject(new TokenizeError("closed"));
    if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
    const idle = on === undefined ? this.idleSlot() : on.job === undefined ? on : undefined;
    if (idle === undefined && on === undefined && this.queue.length >= this.maxQueue) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new TokenizeError("queue-full"));
    }
    return new Promise<Answer>((resolve, reject) => {
      const job: Job = {
        req: make(this.nextId++),
        resolve,
        reject,
        signal,
        onAbort: () => this.abort(job),
        cancelled: false,
      };
      signal?.addEventListener("abort", job.onAbort, { once: true });
      if (idle !== undefined) this.dispatch(idle, job);
      else if (on !== undefined) this.queue.unshift(job);
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
    const req = job.req;
    // Token ids given as input are handed over, not copied (when they own their buffer; else cloned).
    const given = req.kind === "prepare" && req.input.t === "tokens" ? req.input.tokens : undefined;
    if (given !== undefined && given.byteOffset === 0 && given.byteLength === given.buffer.byteLength)
      slot.worker.postMessage(req, [given.buffer as ArrayBuffer]);
    else slot.worker.postMessage(req);
  }

  private onMessage(slot: Slot, res: WorkerResponse): void {
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined && job.req.id === res.id) {
      this.counters.completed++;
      if (job.cancelled) {
        // Aborted while this worker ran it: its promise was settled then; the answer goes nowhere.
      } else if (res.ok) this.settle(job, undefined, res);
      else if (res.stage === "render") this.settle(job, new Error(res.error));
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
    if (this.preloadSpecs.length > 0) {
      // Replace the worker at once, and have it load what was preloaded before any request reaches it.
      const replacement = this.start();
      this.load(replacement, this.preloadSpecs).catch(() => undefined); // a failed load is as a lazy one's
      return;
    }
    const next = this.queue.length > 0 ? this.start() : undefined;
    if (next !== undefined) this.pump(next);
  }

  private pump(slot: Slot): void {
    const job = this.queue.shift();
    if (job !== undefined) this.dispatch(slot, job);
    else slot.worker.unref();
  }

  private abort(job: Job): void {
    job.cancelled = true;
    const queued = this.queue.indexOf(job);
    const stage = queued >= 0 ? "queued" : "running";
    if (queued >= 0) {
      // Dropped before any worker saw it.
      this.queue.splice(queued, 1);
      this.counters.cancelledQueued++;
    } else {
      // An in-flight job keeps its worker busy until it finishes; only its promise settles now.
      this.counters.cancelledRunning++;
    }
    this.settle(job, new TokenizeError("aborted"));
    this.onCancelled?.(stage);
  }

  private settle(job: Job, err: Error | undefined, answer?: Answer): void {
    job.signal?.removeEventListener("abort", job.onAbort);
    if (err !== undefined) job.reject(err);
    else if (answer !== undefined) job.resolve(answer);
  }
}

/** The token ids of an encode or prepare answer. */
function idsOf(answer: Answer): Uint32Array {
  if ("ids" in answer) return answer.ids;
  throw new TokenizeError("worker-error", "unexpected answer");
}
