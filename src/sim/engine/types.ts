/**
 * Public interface of the simulated vLLM engine (issue 6). The HTTP/metrics/ZeroMQ server in src/sim is
 * written against these names; add fields, never rename.
 */

export interface SimEngineParams {
  numGpuBlocks: number;
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  prefillSecondsPerToken: number;
  decodeStepBaseSeconds: number;
  decodeStepPerSeqSeconds: number;
  decodeStepPerKvTokenSeconds: number;
  /** Bound on the waiting queue; `submit` throws SimOverloadedError beyond it. Default 1024. */
  maxWaiting?: number;
  /** Bound on prompt + maxTokens (vLLM max_model_len); `submit` throws SimRequestTooLongError beyond it. */
  maxModelLen?: number;
  /** Seed mixed into the root parent hash (vLLM's NONE_HASH role) of the `sim` hash. Default 0n. */
  hashSeed?: bigint;
  /**
   * Block hash: `sim` (default), a fast 64-bit chain of the simulator's own; or `sha256_cbor`, vLLM's
   * `--prefix-caching-hash-algo sha256_cbor`, so published hashes equal a real pod's (slower: one sha256 per block).
   */
  blockHash?: "sim" | "sha256_cbor";
  /** `PYTHONHASHSEED` of the `sha256_cbor` hash (its NONE_HASH). Default "0". */
  pythonHashSeed?: string;
  /**
   * KV cache bytes per token of the whole model (all layers, K and V), for the P/D transfer time
   * (`kv-transfer.ts`). Default 256 KiB (Qwen3-32B in bf16).
   */
  kvBytesPerToken?: number;
  /** Bandwidth of the link a decode pod pulls remote-prefilled KV over, bytes/s. Default 12.5e9 (100 Gb/s). */
  kvTransferBytesPerSecond?: number;
}

export interface SimRequestDone {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  preempted: number;
  /**
   * With {@link SimRequest.remoteDecode}: the ids of the blocks that held the prompt when it finished (vLLM's
   * NIXL `remote_block_ids`, which a decode pod pulls).
   */
  blockIds?: number[];
  /** Prompt tokens whose KV was pulled from a prefill pod rather than computed (0 when none). */
  transferredTokens?: number;
}

export interface SimRequest {
  readonly id: string;
  readonly tokens: Uint32Array;
  readonly maxTokens: number;
  readonly lora?: string;
  onFirstToken(): void;
  onToken(index: number): void;
  onDone(r: SimRequestDone): void;
  /**
   * Token id the engine "samples" at output position `index` (optional). The server supplies it when it wants
   * the generated text it streams to match the KV it caches (multi-turn reuse); otherwise a deterministic
   * filler id is used, identical for identical prompts (like greedy decoding).
   */
  nextToken?(index: number): number;
  /**
   * vLLM's `kv_transfer_params.do_remote_decode`: a prefill-only request whose KV a decode pod will pull; the
   * engine reports the prompt's block ids when it finishes ({@link SimRequestDone.blockIds}).
   */
  readonly remoteDecode?: boolean;
  /**
   * vLLM's `kv_transfer_params.do_remote_prefill`: the prompt was prefilled on another pod, which holds it in
   * `blocks` KV blocks. The engine pulls the full blocks it does not already cache (paying the transfer time of
   * `kv-transfer.ts`) and computes only the rest locally. 0 blocks: an ordinary local prefill.
   */
  readonly remotePrefill?: { readonly blocks: number };
}

export type SimKvEvent =
  | {
      t: "stored";
      blockHashes: bigint[];
      parentHash: bigint | undefined;
      tokenIds: number[];
      blockSize: number;
      lora?: string;
    }
  | { t: "removed"; blockHashes: bigint[] }
  | { t: "cleared" };

export interface SimEngineStats {
  running: number;
  waiting: number;
  /** Fraction of blocks held by requests (0..1), like vllm:kv_cache_usage_perc. */
  kvUsage: number;
  numGpuBlocks: number;
  blockSize: number;
  prefixQueriedTokens: number;
  prefixHitTokens: number;
  promptTokens: number;
  generationTokens: number;
  finished: number;
  preemptions: number;
  /** Exceptions thrown by request callbacks (caught so one bad stream cannot wedge the pod). */
  callbackErrors: number;
  /** Requests whose prompt KV was pulled from a prefill pod, and the tokens pulled. */
  kvTransfers: number;
  kvTransferredTokens: number;
}

export interface SimClock {
  /** Milliseconds. */
  now(): number;
  setTimer(ms: number, fn: () => void): { cancel(): void };
}

export interface SimEngine {
  /** Queue a request. @throws SimAdmissionError subclasses (carry the HTTP status) when refused. */
  submit(r: SimRequest): void;
  /** Drop a waiting or running request and free its blocks; no callback is called. False if unknown. */
  cancel(id: string): boolean;
  stats(): SimEngineStats;
  onKvEvents(listener: (events: SimKvEvent[]) => void): void;
  resetPrefixCache(): void;
  stop(): void;
}

/** Base class so the server can map every admission refusal with one `instanceof`. */
export class SimAdmissionError extends Error {
  constructor(
    message: string,
    /** HTTP status the server should answer with. */
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Waiting queue full: answer 503 (vLLM itself would queue without bound; the simulator must not). */
export class SimOverloadedError extends SimAdmissionError {
  constructor(readonly waiting: number) {
    super(`simulated engine overloaded: ${waiting} requests waiting`, 503);
  }
}

/** Prompt + max_tokens exceeds max_model_len, or the prompt can never fit in KV: answer 400 like vLLM. */
export class SimRequestTooLongError extends SimAdmissionError {
  constructor(
    readonly tokens: number,
    readonly limit: number,
  ) {
    super(`request of ${tokens} tokens exceeds the limit of ${limit}`, 400);
  }
}

/** Malformed request (empty prompt, max_tokens < 1, duplicate id): answer 400. */
export class SimInvalidRequestError extends SimAdmissionError {
  constructor(message: string) {
    super(message, 400);
  }
}

/** Engine stopped: answer 503. */
export class SimStoppedError extends SimAdmissionError {
  constructor() {
    super("simulated engine stopped", 503);
  }
}
