/**
 * Output-length predictor, after AIBrix `SimpleOutputPredictor`
 * (`pkg/cache/output_predictor.go`).
 *
 * Per model: a moving 240 s histogram (24 slots of 10 s) of output-token buckets per input-token bucket, where
 * `bucket = round(log2(tokens))` clamped to `ceil(log2(max+1)) - 1` (21 buckets each for max = 1,048,576).
 * `predict` draws a weighted-random output bucket for the input bucket and returns `2^bucket`.
 *
 * Differences from AIBrix, deliberate: pure and synchronous (the ring rotates lazily from an injected clock,
 * not in a goroutine); `predict` returns `undefined` when the input bucket has no history, and
 * {@link OutputPredictor.predictOrCold} applies AIBrix's optimistic cold prediction (1). The number of models is
 * bounded (least recently recorded model evicted).
 *
 * @module
 */

/** `MovingInterval`. */
export const PREDICTOR_SLOT_MS = 10_000;
/** Window (same as the GPU optimizer). */
export const PREDICTOR_WINDOW_MS = 240_000;
/** `maxInput = maxOutput`. */
export const PREDICTOR_MAX_TOKENS = 1_048_576;
/** `OptimisticColdPrediction`. */
export const COLD_PREDICTION = 1;
/** Default bound on tracked models. */
export const DEFAULT_PREDICTOR_MAX_MODELS = 1024;

/** Number of buckets for a maximum: `ceil(log2(max + 1))`. */
export function predictorBucketCount(maxTokens: number): number {
  return Math.ceil(Math.log2(maxTokens + 1));
}

/** `token2bucket`: `round(log2(tokens))` (0 for tokens <= 0), clamped to `limit - 1`. */
export function predictorBucket(tokens: number, limit: number): number {
  const bucket = tokens > 0 ? Math.round(Math.log2(tokens)) : 0;
  return Math.min(bucket, limit - 1);
}

/** Options for {@link OutputPredictor}. */
export interface OutputPredictorOptions {
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** Uniform integer in `[0, n)` (default `Math.random`-based); tests inject a deterministic one. */
  randInt?: (n: number) => number;
  maxInputTokens?: number;
  maxOutputTokens?: number;
  windowMs?: number;
  maxModels?: number;
}

interface Slot {
  /** `floor(ts / slotMs)` of the data in this slot; -1 when empty. */
  epoch: number;
  /** Sparse input×output index → count. */
  counts: Map<number, number>;
}

interface ModelHistogram {
  /** Summary over the live window: input×output index → count. */
  inputs: Int32Array;
  /** Per input bucket sum. */
  sums: Int32Array;
  slots: Slot[];
}

/** Per-model moving histogram of output lengths by input length. */
export class OutputPredictor {
  private readonly models = new Map<string, ModelHistogram>();
  private readonly now: () => number;
  private readonly randInt: (n: number) => number;
  private readonly inputBuckets: number;
  private readonly outputBuckets: number;
  private readonly slotCount: number;
  private readonly maxModels: number;

  constructor(opts: OutputPredictorOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.randInt = opts.randInt ?? ((n: number) => Math.floor(Math.random() * n));
    this.inputBuckets = predictorBucketCount(opts.maxInputTokens ?? PREDICTOR_MAX_TOKENS);
    this.outputBuckets = predictorBucketCount(opts.maxOutputTokens ?? PREDICTOR_MAX_TOKENS);
    this.slotCount = Math.max(1, Math.ceil((opts.windowMs ?? PREDICTOR_WINDOW_MS) / PREDICTOR_SLOT_MS));
    this.maxModels = Math.max(1, opts.maxModels ?? DEFAULT_PREDICTOR_MAX_MODELS);
  }

  /** Models currently tracked. */
  size(): number {
    return this.models.size;
  }

  /** `AddTrace(in, out, cnt)`: one (or `count`) finished request(s) of this shape. */
  record(model: string, inputTokens: number, outputTokens: number, count = 1): void {
    let h = this.models.get(model);
    if (h === undefined) {
      if (this.models.size >= this.maxModels) {
        const oldest = this.models.keys().next();
        if (oldest.done !== true) this.models.delete(oldest.value);
      }
      h = this.newHistogram();
    } else {
      this.models.delete(model); // re-insert below: Map order = recency
    }
    this.models.set(model, h);
    const epoch = Math.floor(this.now() / PREDICTOR_SLOT_MS);
    this.expire(h, epoch);
    const inBucket = predictorBucket(inputTokens, this.inputBuckets);
    const idx = inBucket * this.outputBuckets + predictorBucket(outputTokens, this.outputBuckets);
    const slot = h.slots[epoch % this.slotCount];
    if (slot === undefined) return;
    if (slot.epoch !== epoch) {
      this.clearSlot(h, slot);
      slot.epoch = epoch;
    }
    slot.counts.set(idx, (slot.counts.get(idx) ?? 0) + count);
    h.inputs[idx] = (h.inputs[idx] ?? 0) + count;
    h.sums[inBucket] = (h.sums[inBucket] ?? 0) + count;
  }

  /**
   * `Predict(in)`: weighted random over the output buckets seen for this input bucket in the window,
   * returning `2^bucket`; `undefined` when there is no history.
   */
  predict(model: string, inputTokens: number): number | undefined {
    const h = this.models.get(model);
    if (h === undefined) return undefined;
    this.expire(h, Math.floor(this.now() / PREDICTOR_SLOT_MS));
    const inBucket = predictorBucket(inputTokens, this.inputBuckets);
    const range = h.sums[inBucket] ?? 0;
    if (range <= 0) return undefined;
    const cursor = this.randInt(range);
    let acc = 0;
    const base = inBucket * this.outputBuckets;
    for (let o = 0; o < this.outputBuckets; o++) {
      acc += h.inputs[base + o] ?? 0;
      if (cursor < acc) return 2 ** o;
    }
    return 2 ** (this.outputBuckets - 1);
  }

  /** {@link predict} with AIBrix's optimistic cold prediction (1) when there is no history. */
  predictOrCold(model: string, inputTokens: number): number {
    return this.predict(model, inputTokens) ?? COLD_PREDICTION;
  }

  private newHistogram(): ModelHistogram {
    const slots: Slot[] = [];
    for (let i = 0; i < this.slotCount; i++) slots.push({ epoch: -1, counts: new Map() });
    return {
      inputs: new Int32Array(this.inputBuckets * this.outputBuckets),
      sums: new Int32Array(this.inputBuckets),
      slots,
    };
  }

  /** Drop slots older than the window ending at `epoch`. */
  private expire(h: ModelHistogram, epoch: number): void {
    for (const slot of h.slots) {
      if (slot.epoch >= 0 && slot.epoch <= epoch - this.slotCount) this.clearSlot(h, slot);
    }
  }

  private clearSlot(h: ModelHistogram, slot: Slot): void {
    for (const [idx, n] of slot.counts) {
      h.inputs[idx] = (h.inputs[idx] ?? 0) - n;
      const inBucket = Math.floor(idx / this.outputBuckets);
      h.sums[inBucket] = (h.sums[inBucket] ?? 0) - n;
    }
    slot.counts.clear();
    slot.epoch = -1;
  }
}
