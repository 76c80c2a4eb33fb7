/**
 * The simulated engine's prefill/decode disaggregation, in memory on a virtual clock: a prefill-only request reports
 * its prompt's blocks, a remote-prefilled request pulls the blocks it does not cache (timed as bytes per token over
 * the link, pulls queued on the link) and computes only the rest, and decodes on a pod that only receives
 * remote-prefilled prompts are not stalled by long prefills the way they are on an undisaggregated pod.
 */
import {
  createSimEngine,
  virtualClock,
  type SimEngine,
  type SimEngineParams,
  type SimRequest,
  type SimRequestDone,
  type VirtualClock,
} from "../../src/sim/engine";

/** 4-token blocks; prefill 10 ms/token, a decode step 10 ms; a pull 1 ms/token (1000 B/token at 1 MB/s). */
const params = (over: Partial<SimEngineParams> = {}): SimEngineParams => ({
  numGpuBlocks: 128,
  blockSize: 4,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 512,
  prefillSecondsPerToken: 0.01,
  decodeStepBaseSeconds: 0.01,
  decodeStepPerSeqSeconds: 0,
  decodeStepPerKvTokenSeconds: 0,
  kvBytesPerToken: 1000,
  kvTransferBytesPerSecond: 1e6,
  ...over,
});

interface Trace {
  firstAt?: number;
  tokenAt: number[];
  done?: SimRequestDone;
}

function setup(p: SimEngineParams = params()): {
  clock: VirtualClock;
  engine: SimEngine;
  send: (id: string, tokens: number[], maxTokens: number, extra?: Partial<SimRequest>) => Trace;
} {
  const clock = virtualClock();
  const engine = createSimEngine(p, clock);
  const send = (id: string, tokens: number[], maxTokens: number, extra: Partial<SimRequest> = {}): Trace => {
    const tr: Trace = { tokenAt: [] };
    engine.submit({
      id,
      tokens: Uint32Array.from(tokens),
      maxTokens,
      onFirstToken: () => (tr.firstAt = clock.now()),
      onToken: () => tr.tokenAt.push(clock.now()),
      onDone: (r) => (tr.done = r),
      ...extra,
    });
    return tr;
  };
  return { clock, engine, send };
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const maxGap = (t: readonly number[]): number => Math.max(...t.slice(1).map((x, i) => x - (t[i] as number)));

describe("sim engine: prefill/decode disaggregation", () => {
  test("a remote-decode (prefill-only) request reports the blocks holding its prompt", () => {
    const { clock, send } = setup();
    const tr = send("p", range(1, 18), 1, { remoteDecode: true });
    clock.runUntilIdle();
    // 18 tokens in 4-token blocks: 5 blocks, distinct ids.
    expect(tr.done?.blockIds).toHaveLength(5);
    expect(new Set(tr.done?.blockIds).size).toBe(5);
    // A plain request reports none.
    const plain = send("q", range(100, 18), 1);
    clock.runUntilIdle();
    expect(plain.done?.blockIds).toBeUndefined();
  });

  test("a remote-prefilled request pulls its full blocks over the link and computes only the rest", () => {
    const { clock, engine, send } = setup();
    const tr = send("d", range(1, 40), 3, { remotePrefill: { blocks: 10 } });
    clock.runUntilIdle();
    // 40 tokens: the last token is always computed here, so 9 full blocks (36 tokens) are pulled: 36 ms;
    // then 4 tokens prefilled (40 ms) give the first token; then two decode steps of 10 ms.
    expect(tr.firstAt).toBeCloseTo(36 + 40, 6);
    expect(tr.tokenAt[2]).toBeCloseTo(36 + 40 + 20, 6);
    expect(tr.done).toMatchObject({
      promptTokens: 40,
      completionTokens: 3,
      cachedTokens: 36,
      transferredTokens: 36,
    });
    expect(engine.stats()).toMatchObject({ kvTransfers: 1, kvTransferredTokens: 36, prefixHitTokens: 0 });

    // The pulled blocks are cached like computed ones: the same prompt again is a local hit, no pull.
    const again = send("e", range(1, 40), 1);
    clock.runUntilIdle();
    expect(again.done?.cachedTokens).toBe(36);
    expect(engine.stats().kvTransfers).toBe(1);
  });

  test("local prefix hits are not pulled again; without remote blocks the prompt is prefilled locally", () => {
    const { clock, send } = setup();
    send("warm", range(1, 20), 1);
    clock.runUntilIdle();
    const t0 = clock.now();
    // The warm prompt's 5 blocks (20 tokens) are cached here; 4 more (16 tokens) are pulled.
    const tr = send("d", range(1, 40), 1, { remotePrefill: { blocks: 10 } });
    clock.runUntilIdle();
    expect(tr.done).toMatchObject({ cachedTokens: 36, transferredTokens: 16 });
    expect((tr.firstAt ?? 0) - t0).toBeCloseTo(16 + 40, 6);

    // `remote_block_ids` empty: nothing to pull, an ordinary local prefill of all 40 tokens.
    const t1 = clock.now();
    const local = send("l", range(500, 40), 1, { remotePrefill: { blocks: 0 } });
    clock.runUntilIdle();
    expect(local.done?.transferredTokens).toBeUndefined();
    expect((local.firstAt ?? 0) - t1).toBeCloseTo(400, 6);
  });

  test("pulls queue on the pod's one link", () => {
    const { clock, send } = setup();
    const a = send("a", range(1, 41), 1, { remotePrefill: { blocks: 11 } });
    const b = send("b", range(1000, 41), 1, { remotePrefill: { blocks: 11 } });
    clock.runUntilIdle();
    // 40 tokens each: a's pull ends at 40 ms, b's at 80 ms; each then computes 1 token (10 ms).
    expect(a.firstAt).toBeCloseTo(50, 6);
    expect(b.firstAt).toBeCloseTo(90, 6);
  });

  test("a cancelled pull frees its blocks and never calls back", () => {
    const { clock, engine, send } = setup();
    const tr = send("d", range(1, 40), 2, { remotePrefill: { blocks: 10 } });
    clock.advance(5);
    expect(engine.stats()).toMatchObject({ waiting: 1, running: 0 });
    expect(engine.stats().kvUsage).toBeGreaterThan(0);
    expect(engine.cancel("d")).toBe(true);
    clock.runUntilIdle();
    expect(tr.firstAt).toBeUndefined();
    expect(engine.stats()).toMatchObject({ waiting: 0, kvUsage: 0, kvTransfers: 0 });
  });

  test("a long prompt stalls decodes on an undisaggregated pod, not on a decode pod that pulls it", () => {
    const long = range(10_000, 401);
    const run = (remote: boolean): number => {
      const { clock, send } = setup();
      const decoding = send("chat", range(1, 8), 12);
      clock.advance(150);
      send("long", long, 1, remote ? { remotePrefill: { blocks: 101 } } : {});
      clock.runUntilIdle();
      return maxGap(decoding.tokenAt);
    };
    // Prefilled here: one step carries all 401 prompt tokens (4 s) and the running decode waits for it.
    expect(run(false)).toBeGreaterThanOrEqual(4000);
    // Pulled: the decode's steps only ever share the batch with 1 locally computed token (10 ms).
    expect(run(true)).toBeLessThanOrEqual(20 + 1e-6);
  });
});
