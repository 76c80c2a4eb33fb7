/**
 * Per-request scheduler state of the simulated engine (vLLM's `Request`), and how a request's full blocks get their
 * chain hashes and enter the prefix cache (with the BlockStored events that announce them).
 *
 * @module
 */
import type { BlockPool } from "./block-pool";
import { hashBlock } from "./hash";
import type { SimEngineParams, SimKvEvent, SimRequest } from "./types";
import { blockDigest, noneHash, publishedHash } from "./vllm-hash";

/** Per-request scheduler state (vLLM's `Request`). */
export interface Seq {
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
  state: "waiting" | "loading" | "running" | "done";
  /**
   * A remote prefill (P/D): `pending` until admitted, `loading` while its KV is pulled (out of the waiting queue,
   * holding its blocks, as vLLM's WAITING_FOR_REMOTE_KVS), `loaded` once back in the queue with the pulled tokens
   * computed; dropped after that (a preempted request recomputes locally, as vLLM does).
   */
  remote:
    | { blocks: number; state: "pending" | "loading" | "loaded"; timer?: { cancel(): void } | undefined }
    | undefined;
  /** Prompt tokens pulled from a prefill pod (0 when none). */
  transferred: number;
}

export const total = (s: Seq): number => s.prompt.length + s.out.length;

/** Token id at position i of prompt + output. */
export const tokenAt = (s: Seq, i: number): number =>
  i < s.prompt.length ? (s.prompt[i] as number) : (s.out[i - s.prompt.length] as number);

/** The hashing and prefix-cache registration of a request's blocks, for one engine's pool and hash settings. */
export function seqCaching(
  pool: BlockPool,
  params: SimEngineParams,
): { ensureHashes(s: Seq, n: number): void; registerFull(s: Seq, upTo: number): void } {
  const B = params.blockSize;
  const rootHash = params.hashSeed ?? 0n;
  const rootDigest = params.blockHash === "sha256_cbor" ? noneHash(params.pythonHashSeed ?? "0") : undefined;

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

  return { ensureHashes, registerFull };
}
