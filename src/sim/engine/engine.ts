/**
 * Simulated vLLM v1 engine core: a continuous-batching scheduler (`vllm/v1/core/sched/scheduler.py`, simplified)
 * over a paged KV {@link BlockPool} with automatic prefix caching. Pure logic on a {@link SimClock}: one step is
 * scheduled, its duration computed from the cost model, and its effects (tokens, KV events, completions) applied
 * when the step's timer fires. See README.md for the model and its sources.
 *
 * @module
 */
import { BlockPool } from "./block-pool";
import { hashBlock, loraKey } from "./hash";
import { blockDigest, noneHash, publishedHash } from "./vllm-hash";
import {
  SimInvalidRequestError,
  SimOverloadedError,
  SimRequestTooLongError,
  SimStoppedError,
  type SimClock,
  type SimEngine,
  type SimEngineParams,
  type SimEngineStats,
  type SimKvEvent,
  type SimRequest,
} from "./types";

const DEFAULT_MAX_WAITING = 1024;

/** Per-request scheduler state (vLLM's `Request`). */
interface Seq {
  readonly req: SimRequest;
  readonly lora: number;
  readonly prompt: Uint32Array;
  readonly out: number[];
  /** Block ids in chain order. */
  blocks: number[];
  /** Chain hashes of the full blocks of prompt+output computed so far (lazily extended). */
  readonly hashes: bigint[];
  /** With the `sha256_cbor` hash: the full digests behind `hashes` (vLLM chains on the whole digest). */
  readonly digests: Buffer[];
  /** Tokens whose KV is computed, including those scheduled in the step in flight (vLLM updates at schedule). */
  computed: number;
  /** Blocks [0, registered) were already offered to the prefix cache. */
  registered: number;
  /** Tokens scheduled in the step in flight (0 when not in the batch). */
  scheduled: number;
  /** Prefix-cache hit of the first admission, reported as usage.prompt_tokens_details.cached_tokens. */
  cachedTokens: number | undefined;
  preempted: number;
  state: "waiting" | "running" | "done";
}

const total = (s: Seq): number => s.prompt.length + s.out.length;

/** Token id at position i of prompt + output. */
const tokenAt = (s: Seq, i: number): number =>
  i < s.prompt.length ? (s.prompt[i] as number) : (s.out[i - s.prompt.length] as number);

export function createSimEngine(params: SimEngineParams, clock: SimClock): SimEngine {
  const B = params.blockSize;
  const positive = (n: number): boolean => Number.isFinite(n) && n > 0;
  if (!Number.isInteger(B) || B <= 0) throw new RangeError(`blockSize must be a positive integer, got ${B}`);
  if (!Number.isInteger(params.numGpuBlocks) || params.numGpuBlocks <= 0)
    throw new RangeError(`numGpuBlocks must be a positive integer, got ${params.numGpuBlocks}`);
  if (!positive(params.maxNumSeqs) || !positive(params.maxNumBatchedTokens))
    throw new RangeError("maxNumSeqs and maxNumBatchedTokens must be positive");
  const maxWaiting = params.maxWaiting ?? DEFAULT_MAX_WAITING;
  // A request must fit the whole cache alone, or it could never be scheduled (vLLM refuses it at startup/admission).
  const maxLen = Math.min(params.maxModelLen ?? Number.POSITIVE_INFINITY, params.numGpuBlocks * B);
  const rootHash = params.hashSeed ?? 0n;
  const rootDigest = params.blockHash === "sha256_cbor" ? noneHash(params.pythonHashSeed ?? "0") : undefined;
  // vLLM v0 kept a 1% watermark so fresh admissions do not immediately force running requests into preemption;
  // we keep it for the same reason (only while something runs, so a lone request can always start).
  const watermark = Math.max(1, Math.floor(params.numGpuBlocks * 0.01));

  const pool = new BlockPool(params.numGpuBlocks);
  const byId = new Map<string, Seq>();
  const waiting: Seq[] = [];
  const running: Seq[] = [];
  let batch: Seq[] = [];
  const listeners: ((events: SimKvEvent[]) => void)[] = [];
  const st = {
    prefixQueriedTokens: 0,
    prefixHitTokens: 0,
    promptTokens: 0,
    generationTokens: 0,
    finished: 0,
    preemptions: 0,
    callbackErrors: 0,
  };
  let timer: { cancel(): void } | undefined;
  /** True while a step's effects are applied: submits from callbacks then wait for the loop instead of a timer. */
  let applying = false;
  let stopped = false;

  const guard = (fn: () => void): void => {
    try {
      fn();
    } catch {
      st.callbackErrors++;
    }
  };

  /** Extend s.hashes to cover `n` full blocks (tokens must be known). */
  const ensureHashes = (s: Seq, n: number): void => {
    const at = (i: number): number => tokenAt(s, i);
    for (let i = s.hashes.length; i < n; i++) {
      if (rootDigest !== undefined) {
        // vLLM's extra key of a LoRA request: its name, on every block.
        const extra = s.req.lora === undefined || s.req.lora === "" ? undefined : [s.req.lora];
        const digest = blockDigest(i === 0 ? rootDigest : (s.digests[i - 1] as Buffer), at, i * B, B, extra);
        s.digests.push(digest);
        s.hashes.push(publishedHash(digest));
        continue;
      }
      const parent = i === 0 ? rootHash : (s.hashes[i - 1] as bigint);
      s.hashes.push(hashBlock(parent, at, i * B, B, s.lora));
    }
  };

  /**
   * Offer the blocks that become full once `upTo` tokens are computed to the prefix cache, queueing one
   * BlockStored per run of newly cached blocks (vLLM `cache_full_blocks` runs at schedule time, too).
   */
  const registerFull = (s: Seq, upTo: number): void => {
    const full = Math.floor(upTo / B);
    if (full <= s.registered) return;
    ensureHashes(s, full);
    let run: bigint[] = [];
    let runStart = s.registered;
    const flush = (): void => {
      if (run.length === 0) return;
      const tokenIds: number[] = [];
      for (let i = runStart * B; i < (runStart + run.length) * B; i++) tokenIds.push(tokenAt(s, i));
      const ev: SimKvEvent = {
        t: "stored",
        blockHashes: run,
        parentHash: runStart === 0 ? undefined : s.hashes[runStart - 1],
        tokenIds,
        blockSize: B,
      };
      if (s.req.lora !== undefined && s.req.lora !== "") ev.lora = s.req.lora;
      pool.pending.push(ev);
      run = [];
    };
    for (let i = s.registered; i < full; i++) {
      if (pool.register(s.blocks[i] as number, s.hashes[i] as bigint)) {
        if (run.length === 0) runStart = i;
        run.push(s.hashes[i] as bigint);
      } else flush();
    }
    flush();
    s.registered = full;
  };

  /** Grow s.blocks to hold `tokens` tokens; false (nothing changed) when the pool lacks free blocks. */
  const grow = (s: Seq, tokens: number, reserve: number): boolean => {
    const need = Math.ceil(tokens / B) - s.blocks.length;
    if (need <= 0) return true;
    if (pool.freeBlocks - need < reserve) return false;
    for (let i = 0; i < need; i++) s.blocks.push(pool.allocate() as number);
    return true;
  };

  /** Recompute preemption: free everything and requeue at the front (vLLM v1 `_preempt_request`). */
  const preempt = (s: Seq): void => {
    pool.release(s.blocks);
    s.blocks = [];
    s.computed = 0;
    s.registered = 0;
    s.state = "waiting";
    s.preempted++;
    st.preemptions++;
    running.splice(running.indexOf(s), 1);
    waiting.unshift(s);
  };

  /**
   * Try to admit the head of the queue: longest cached prefix of full blocks, then blocks for this step's chunk.
   * Returns the tokens to compute this step, 0 when it does not fit (FIFO: later requests wait too).
   */
  const admit = (s: Seq, budget: number): number => {
    const n = total(s);
    // At least one token must be computed to produce logits, so a full hit is capped at n - 1 (vLLM does the same).
    const maxHitBlocks = Math.floor((n - 1) / B);
    ensureHashes(s, maxHitBlocks);
    const hits: number[] = [];
    let idleHits = 0;
    for (let i = 0; i < maxHitBlocks; i++) {
      const b = pool.lookup(s.hashes[i] as bigint);
      if (b === undefined) break;
      hits.push(b);
      if (pool.isFree(b)) idleHits++;
    }
    const cached = hits.length * B;
    const numNew = Math.min(n - cached, budget);
    const need = Math.ceil((cached + numNew) / B) - hits.length;
    const reserve = running.length > 0 ? watermark : 0;
    if (pool.freeBlocks - idleHits - need < reserve) return 0;
    for (const b of hits) pool.touch(b);
    s.blocks = hits;
    s.registered = hits.length;
    s.computed = cached;
    grow(s, cached + numNew, 0);
    st.prefixQueriedTokens += n;
    st.prefixHitTokens += cached;
    s.cachedTokens ??= cached;
    return numNew;
  };

  /** Build the next batch; returns its duration in seconds (0 when there is nothing to run). */
  const schedule = (): number => {
    let budget = params.maxNumBatchedTokens;
    let prefillTokens = 0;
    let decodes = 0;
    let preempted = false;
    batch = [];
    const take = (s: Seq, numNew: number): void => {
      const isDecode = s.out.length > 0 && s.computed === total(s) - 1;
      if (isDecode) decodes++;
      else prefillTokens += numNew;
      s.scheduled = numNew;
      s.computed += numNew;
      budget -= numNew;
      registerFull(s, s.computed);
      batch.push(s);
    };
    // Running first, in admission order: decodes and unfinished (chunked) prefills.
    for (let i = 0; i < running.length && budget > 0; i++) {
      const s = running[i] as Seq;
      const numNew = Math.min(total(s) - s.computed, budget);
      if (numNew <= 0) continue;
      // KV exhausted: preempt the newest running request until this one fits (possibly itself).
      while (!grow(s, s.computed + numNew, 0)) {
        const victim = running[running.length - 1] as Seq;
        preempt(victim);
        preempted = true;
        if (victim === s) break;
      }
      if (s.state !== "running") break;
      take(s, numNew);
    }
    // New admissions only when nothing was preempted this step (vLLM avoids admitting into a thrashing pool).
    while (!preempted && budget > 0 && running.length < params.maxNumSeqs && waiting.length > 0) {
      const s = waiting[0] as Seq;
      const numNew = admit(s, budget);
      if (numNew === 0) break;
      waiting.shift();
      s.state = "running";
      running.push(s);
      // admit() set computed to the cached prefix; take() adds this step's tokens.
      take(s, numNew);
    }
    if (batch.length === 0) return 0;
    let kvTokens = 0;
    for (const s of batch) kvTokens += s.computed;
    let seconds = prefillTokens * params.prefillSecondsPerToken;
    if (decodes > 0)
      seconds +=
        params.decodeStepBaseSeconds +
        batch.length * params.decodeStepPerSeqSeconds +
        kvTokens * params.decodeStepPerKvTokenSeconds;
    return seconds;
  };

  const publish = (): void => {
    if (pool.pending.length === 0) return;
    const events = pool.pending.splice(0);
    for (const l of listeners) guard(() => l(events));
  };

  const finish = (s: Seq): void => {
    s.state = "done";
    running.splice(running.indexOf(s), 1);
    byId.delete(s.req.id);
    pool.release(s.blocks);
    s.blocks = [];
    st.finished++;
    const done = {
      promptTokens: s.prompt.length,
      completionTokens: s.out.length,
      cachedTokens: s.cachedTokens ?? 0,
      preempted: s.preempted,
    };
    guard(() => s.req.onDone(done));
  };

  /** Apply the step in flight: sample one token for every request whose known tokens are all computed. */
  const apply = (): void => {
    for (const s of batch) {
      const numNew = s.scheduled;
      s.scheduled = 0;
      if (s.state !== "running" || numNew === 0 || s.computed < total(s)) continue;
      const index = s.out.length;
      const tok = s.req.nextToken
        ? s.req.nextToken(index)
        : 1000 + ((s.prompt.length * 31 + index * 7919) % 30000);
      s.out.push(tok >>> 0);
      st.generationTokens++;
      if (index === 0) {
        st.promptTokens += s.prompt.length;
        guard(() => s.req.onFirstToken());
      }
      guard(() => s.req.onToken(index));
      if (s.out.length >= s.req.maxTokens && s.state === "running") finish(s);
    }
    batch = [];
  };

  /** Run steps back to back while there is work; an idle engine holds no timer. */
  const loop = (): void => {
    if (stopped || timer !== undefined || applying) return;
    const seconds = schedule();
    if (batch.length === 0) {
      publish();
      return;
    }
    timer = clock.setTimer(seconds * 1000, () => {
      timer = undefined;
      applying = true;
      try {
        publish();
        apply();
      } finally {
        applying = false;
      }
      loop();
    });
  };

  const kick = (): void => {
    if (stopped || timer !== undefined || applying) return;
    // Deferred so submit() never runs callbacks re-entrantly and same-tick submits share the first step.
    timer = clock.setTimer(0, () => {
      timer = undefined;
      loop();
    });
  };

  return {
    submit(r) {
      if (stopped) throw new SimStoppedError();
      if (byId.has(r.id)) throw new SimInvalidRequestError(`duplicate request id ${r.id}`);
      if (r.tokens.length === 0) throw new SimInvalidRequestError("empty prompt");
      if (!Number.isInteger(r.maxTokens) || r.maxTokens < 1)
        throw new SimInvalidRequestError(`max_tokens must be a positive integer, got ${r.maxTokens}`);
      const len = r.tokens.length + r.maxTokens;
      if (len > maxLen) throw new SimRequestTooLongError(len, maxLen);
      if (waiting.length >= maxWaiting) throw new SimOverloadedError(waiting.length);
      const s: Seq = {
        req: r,
        lora: loraKey(r.lora),
        prompt: r.tokens,
        out: [],
        blocks: [],
        hashes: [],
        digests: [],
        computed: 0,
        registered: 0,
        scheduled: 0,
        cachedTokens: undefined,
        preempted: 0,
        state: "waiting",
      };
      byId.set(r.id, s);
      waiting.push(s);
      kick();
    },
    cancel(id) {
      const s = byId.get(id);
      if (s === undefined) return false;
      byId.delete(id);
      if (s.state === "waiting") waiting.splice(waiting.indexOf(s), 1);
      else if (s.state === "running") running.splice(running.indexOf(s), 1);
      s.state = "done";
      // Blocks registered at schedule time stay cached (vLLM keeps hashes of freed blocks).
      pool.release(s.blocks);
      s.blocks = [];
      return true;
    },
    stats(): SimEngineStats {
      return {
        running: running.length,
        waiting: waiting.length,
        kvUsage: pool.usage(),
        numGpuBlocks: params.numGpuBlocks,
        blockSize: B,
        ...st,
      };
    },
    onKvEvents(listener) {
      listeners.push(listener);
    },
    resetPrefixCache() {
      pool.reset();
      // Mid-step, `cleared` follows the step's stored events in the same batch, so order stays truthful.
      if (timer === undefined && !applying) publish();
    },
    stop() {
      stopped = true;
      timer?.cancel();
      timer = undefined;
    },
  };
}
