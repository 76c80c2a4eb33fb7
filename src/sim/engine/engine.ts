/**
 * Simulated vLLM v1 engine core: a continuous-batching scheduler (`vllm/v1/core/sched/scheduler.py`, simplified)
 * over a paged KV {@link BlockPool} with automatic prefix caching. Pure logic on a {@link SimClock}: one step is
 * scheduled, its duration computed from the cost model, and its effects (tokens, KV events, completions) applied
 * when the step's timer fires. See README.md for the model and its sources.
 *
 * @module
 */
import { BlockPool } from "./block-pool";
import { loraKey } from "./hash";
import { KvLink } from "./kv-transfer";
import { seqCaching, total, type Seq } from "./seq";
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
  type SimRequestDone,
} from "./types";

const DEFAULT_MAX_WAITING = 1024;

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
  // vLLM v0 kept a 1% watermark so fresh admissions do not immediately force running requests into preemption;
  // we keep it for the same reason (only while something runs, so a lone request can always start).
  const watermark = Math.max(1, Math.floor(params.numGpuBlocks * 0.01));

  const pool = new BlockPool(params.numGpuBlocks);
  const byId = new Map<string, Seq>();
  const waiting: Seq[] = [];
  const running: Seq[] = [];
  let batch: Seq[] = [];
  const loading = new Set<Seq>();
  const link = new KvLink(params);
  const listeners: ((events: SimKvEvent[]) => void)[] = [];
  const st = {
    prefixQueriedTokens: 0,
    prefixHitTokens: 0,
    promptTokens: 0,
    generationTokens: 0,
    finished: 0,
    preemptions: 0,
    callbackErrors: 0,
    kvTransfers: 0,
    kvTransferredTokens: 0,
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

  const { ensureHashes, registerFull } = seqCaching(pool, params);

  /**
   * The longest cached prefix of `s`'s first `maxBlocks` full blocks: the blocks, and how many of them sit idle in
   * the free queue (taking those does not consume free capacity twice).
   */
  const cachedPrefix = (s: Seq, maxBlocks: number): { hits: number[]; idleHits: number } => {
    ensureHashes(s, maxBlocks);
    const hits: number[] = [];
    let idleHits = 0;
    for (let i = 0; i < maxBlocks; i++) {
      const b = pool.lookup(s.hashes[i] as bigint);
      if (b === undefined) break;
      hits.push(b);
      if (pool.isFree(b)) idleHits++;
    }
    return { hits, idleHits };
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
    const { hits, idleHits } = cachedPrefix(s, maxHitBlocks);
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

  /**
   * Admit a remote-prefilled request at the head of the queue: local prefix hits as {@link admit}, blocks for the
   * whole prompt, and a pull of the full blocks the prefill pod holds beyond the hits, timed on the pod's link.
   * Returns false when the blocks do not fit (FIFO: it waits); when there is nothing to pull the request is
   * turned into an ordinary one (the caller admits it as such).
   */
  const startLoad = (s: Seq, remote: NonNullable<Seq["remote"]>): boolean => {
    const n = s.prompt.length;
    // As for local hits, the last prompt token is always computed here (vLLM recomputes it after a full pull).
    const maxBlocks = Math.floor((n - 1) / B);
    const { hits, idleHits } = cachedPrefix(s, maxBlocks);
    const pulled = Math.max(0, Math.min(remote.blocks, maxBlocks) - hits.length) * B;
    if (pulled === 0) {
      s.remote = undefined;
      return true;
    }
    const need = Math.ceil(n / B) - hits.length;
    const reserve = running.length > 0 ? watermark : 0;
    if (pool.freeBlocks - idleHits - need < reserve) return false;
    for (const b of hits) pool.touch(b);
    const cached = hits.length * B;
    s.blocks = hits;
    s.registered = hits.length;
    s.computed = cached;
    grow(s, n, 0);
    st.prefixQueriedTokens += n;
    st.prefixHitTokens += cached;
    // vLLM's num_cached_tokens counts local and external (pulled) tokens alike.
    s.cachedTokens ??= cached + pulled;
    s.transferred = pulled;
    s.state = "loading";
    remote.state = "loading";
    loading.add(s);
    const doneAt = link.reserve(pulled, clock.now());
    remote.timer = clock.setTimer(doneAt - clock.now(), () => {
      loading.delete(s);
      remote.state = "loaded";
      remote.timer = undefined;
      st.kvTransfers++;
      st.kvTransferredTokens += pulled;
      s.computed = cached + pulled;
      // The pulled blocks enter the prefix cache (and are published) like computed ones.
      registerFull(s, s.computed);
      s.state = "waiting";
      waiting.unshift(s);
      kick();
    });
    return true;
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
      const remote = s.remote;
      if (remote?.state === "pending") {
        if (!startLoad(s, remote)) break;
        if (s.state === "loading") waiting.shift();
        continue;
      }
      let numNew: number;
      if (remote?.state === "loaded") {
        // Its blocks cover the whole prompt already: only the tokens after the pulled ones are computed.
        s.remote = undefined;
        numNew = Math.min(total(s) - s.computed, budget);
      } else numNew = admit(s, budget);
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
    const done: SimRequestDone = {
      promptTokens: s.prompt.length,
      completionTokens: s.out.length,
      cachedTokens: s.cachedTokens ?? 0,
      preempted: s.preempted,
      // The prompt's blocks, read before the release below. vLLM would hold them until the decode pod has pulled
      // them (delay_free_blocks); here they are freed at once but stay cached, which pulls do not check.
      ...(s.req.remoteDecode === true ? { blockIds: s.blocks.slice(0, Math.ceil(s.prompt.length / B)) } : {}),
      ...(s.transferred > 0 ? { transferredTokens: s.transferred } : {}),
    };
    s.state = "done";
    running.splice(running.indexOf(s), 1);
    byId.delete(s.req.id);
    pool.release(s.blocks);
    s.blocks = [];
    st.finished++;
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
        remote:
          r.remotePrefill !== undefined && r.remotePrefill.blocks > 0
            ? { blocks: r.remotePrefill.blocks, state: "pending" }
            : undefined,
        transferred: 0,
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
      else if (s.state === "loading") {
        loading.delete(s);
        s.remote?.timer?.cancel();
      }
      s.state = "done";
      // Blocks registered at schedule time stay cached (vLLM keeps hashes of freed blocks).
      pool.release(s.blocks);
      s.blocks = [];
      return true;
    },
    stats(): SimEngineStats {
      return {
        running: running.length,
        // vLLM counts requests waiting for remote KV among the waiting ones.
        waiting: waiting.length + loading.size,
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
      for (const s of loading) s.remote?.timer?.cancel();
      loading.clear();
    },
  };
}
