import {
  createSimEngine,
  preset,
  SimOverloadedError,
  SimRequestTooLongError,
  virtualClock,
  type SimEngine,
  type SimEngineParams,
  type SimKvEvent,
  type SimRequestDone,
  type VirtualClock,
} from "../../src/sim/engine";
import { hashBlock, loraKey } from "../../src/sim/engine/hash";

/** Tiny engine: 4-token blocks so block arithmetic stays readable. */
const small = (over: Partial<SimEngineParams> = {}): SimEngineParams => ({
  numGpuBlocks: 64,
  blockSize: 4,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 256,
  prefillSecondsPerToken: 0.001,
  decodeStepBaseSeconds: 0.01,
  decodeStepPerSeqSeconds: 0.001,
  decodeStepPerKvTokenSeconds: 0.0001,
  ...over,
});

interface Trace {
  firstAt?: number;
  doneAt?: number;
  done?: SimRequestDone;
  tokens: number[];
}

function setup(params: SimEngineParams): {
  clock: VirtualClock;
  engine: SimEngine;
  events: SimKvEvent[][];
  send: (id: string, tokens: ArrayLike<number>, maxTokens: number, lora?: string) => Trace;
} {
  const clock = virtualClock();
  const engine = createSimEngine(params, clock);
  const events: SimKvEvent[][] = [];
  engine.onKvEvents((e) => events.push(e));
  const send = (id: string, tokens: ArrayLike<number>, maxTokens: number, lora?: string): Trace => {
    const tr: Trace = { tokens: [] };
    engine.submit({
      id,
      tokens: Uint32Array.from(tokens),
      maxTokens,
      ...(lora === undefined ? {} : { lora }),
      onFirstToken: () => (tr.firstAt = clock.now()),
      onToken: (i) => tr.tokens.push(i),
      onDone: (r) => {
        tr.done = r;
        tr.doneAt = clock.now();
      },
      nextToken: (i) => 5000 + i,
    });
    return tr;
  };
  return { clock, engine, events, send };
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const flat = (batches: SimKvEvent[][]): SimKvEvent[] => batches.flat();

describe("sim engine", () => {
  test("a repeated prompt hits the prefix cache block-granularly", () => {
    const { clock, engine, send } = setup(small());
    const a = send("a", range(1, 20), 3);
    clock.runUntilIdle();
    const b = send("b", range(1, 20), 3);
    clock.runUntilIdle();
    expect(a.done).toEqual({ promptTokens: 20, completionTokens: 3, cachedTokens: 0, preempted: 0 });
    // 20 tokens = 5 full blocks, but one token must be computed: the hit is capped at 4 blocks.
    expect(b.done?.cachedTokens).toBe(16);
    expect(b.tokens).toEqual([0, 1, 2]);
    const s = engine.stats();
    expect(s).toMatchObject({ prefixQueriedTokens: 40, prefixHitTokens: 16, promptTokens: 40, finished: 2 });
    expect(s.generationTokens).toBe(6);
    // A different LoRA shares no blocks with the base model.
    const c = send("c", range(1, 20), 1, "sql-lora");
    clock.runUntilIdle();
    expect(c.done?.cachedTokens).toBe(0);
    // Idle engine holds no timer.
    expect(clock.pending()).toBe(0);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, kvUsage: 0 });
  });

  test("stored events form a chain with parents and the block's token ids (prompt and output)", () => {
    const { clock, events, send } = setup(small());
    send("a", range(1, 10), 7, "tenant-lora");
    clock.runUntilIdle();
    const stored = flat(events).filter((e) => e.t === "stored");
    const hashes: bigint[] = [];
    const tokens: number[] = [];
    for (const e of stored) {
      if (e.t !== "stored") continue;
      expect(e.parentHash).toBe(hashes.length === 0 ? undefined : hashes[hashes.length - 1]);
      expect(e.tokenIds).toHaveLength(e.blockHashes.length * 4);
      expect(e.blockSize).toBe(4);
      expect(e.lora).toBe("tenant-lora");
      hashes.push(...e.blockHashes);
      tokens.push(...e.tokenIds);
    }
    // 10 prompt + 7 output; the last output token's KV is never computed: 16 tokens = 4 full blocks.
    const seq = [...range(1, 10), ...range(5000, 6)];
    expect(tokens).toEqual(seq);
    expect(hashes).toHaveLength(4);
    // First batch holds the prompt's two full blocks in one event; decode adds one block per event.
    expect(stored[0]).toMatchObject({ t: "stored", blockHashes: hashes.slice(0, 2) });
    let parent = 0n;
    hashes.forEach((h, i) => {
      parent = hashBlock(parent, (j) => seq[j] as number, i * 4, 4, loraKey("tenant-lora"));
      expect(h).toBe(parent);
    });
  });

  test("LRU eviction emits removed, oldest-freed first, and hits fall under pressure", () => {
    const { clock, events, send } = setup(small({ numGpuBlocks: 16 }));
    send("a", range(100, 32), 1);
    clock.runUntilIdle();
    const aHashes = flat(events).flatMap((e) => (e.t === "stored" ? e.blockHashes : []));
    expect(aHashes).toHaveLength(8);
    send("b", range(200, 32), 1);
    clock.runUntilIdle();
    expect(flat(events).some((e) => e.t === "removed")).toBe(false); // 8 never-used blocks went first
    events.length = 0;
    send("c", range(300, 32), 1);
    clock.runUntilIdle();
    const removed = flat(events).flatMap((e) => (e.t === "removed" ? e.blockHashes : []));
    // a's blocks were freed tail-first, so its chain is evicted from the last block backwards.
    expect(removed).toEqual([...aHashes].reverse());
    const a2 = send("a2", range(100, 32), 1);
    clock.runUntilIdle();
    expect(a2.done?.cachedTokens).toBe(0);

    // Hit rate of a round-robin over 6 prompts of 8 blocks: all fit in 64 blocks, thrash in 24.
    const hitRate = (numGpuBlocks: number): number => {
      const env = setup(small({ numGpuBlocks }));
      for (let round = 0; round < 4; round++)
        for (let p = 0; p < 6; p++) {
          env.send(`${round}-${p}`, range(1000 * (p + 1), 33), 1);
          env.clock.runUntilIdle();
        }
      const s = env.engine.stats();
      return s.prefixHitTokens / s.prefixQueriedTokens;
    };
    expect(hitRate(64)).toBeGreaterThan(0.7);
    expect(hitRate(24)).toBeLessThan(0.1);
  });

  test("batching respects maxNumSeqs and chunks prefill by maxNumBatchedTokens", () => {
    const seqs = setup(small({ maxNumSeqs: 2 }));
    for (let i = 0; i < 5; i++) seqs.send(`r${i}`, range(10 * i + 1, 8), 4);
    seqs.clock.advance(0);
    expect(seqs.engine.stats()).toMatchObject({ running: 2, waiting: 3 });
    seqs.clock.runUntilIdle();
    expect(seqs.engine.stats()).toMatchObject({ running: 0, waiting: 0, finished: 5 });

    const chunk = setup(small({ maxNumBatchedTokens: 32 }));
    const t = chunk.send("long", range(1, 100), 1);
    chunk.clock.runUntilIdle();
    // 25 full blocks cached over ceil(100 / 32) = 4 steps of at most 8 blocks each.
    const perStep = chunk.events.map((b) =>
      b.reduce((n, e) => n + (e.t === "stored" ? e.blockHashes.length : 0), 0),
    );
    expect(perStep).toEqual([8, 8, 8, 1]);
    expect(t.firstAt).toBeCloseTo(100, 6); // prefill-only steps: 100 tokens × 1 ms
  });

  test("KV exhaustion preempts the newest running request, which recomputes and still finishes", () => {
    // 12 blocks of 4: two requests growing to 36 tokens (9 blocks) each cannot both stay resident.
    const { clock, engine, send } = setup(small({ numGpuBlocks: 12 }));
    const a = send("a", range(1, 16), 20);
    const b = send("b", range(101, 16), 20);
    clock.runUntilIdle();
    expect(engine.stats().preemptions).toBeGreaterThanOrEqual(1);
    expect(a.done).toMatchObject({ completionTokens: 20, preempted: 0 });
    expect(b.done?.completionTokens).toBe(20);
    expect(b.done?.preempted).toBeGreaterThanOrEqual(1);
    expect(b.tokens).toEqual(range(0, 20)); // no token is emitted twice after recompute
    expect(engine.stats().kvUsage).toBe(0);
  });

  test("step time: cold vs warm TTFT follows uncached tokens (Qwen3-32B anchor ≈ 7×), decode slows with batch", () => {
    const { clock, send } = setup(preset("qwen3-32b-2xh100"));
    const cold = send("cold", range(1, 10000), 1);
    clock.runUntilIdle();
    const t0 = clock.now();
    // Same 8,600-token document, new 1,400-token question (the blog's warm request reuses the prefix).
    const warm = send("warm", [...range(1, 8600), ...range(50000, 1400)], 1);
    clock.runUntilIdle();
    const coldTtft = (cold.firstAt ?? 0) / 1000;
    const warmTtft = ((warm.firstAt ?? 0) - t0) / 1000;
    expect(coldTtft).toBeCloseTo(1.0, 6);
    expect(warm.done?.cachedTokens).toBe(8592); // 537 full blocks of 16
    expect(coldTtft / warmTtft).toBeGreaterThan(6.5);
    expect(coldTtft / warmTtft).toBeLessThan(7.5);

    const itl = (concurrent: number): number => {
      const env = setup(preset("qwen3-8b-h100"));
      const traces = range(0, concurrent).map((i) => env.send(`d${i}`, range(1 + i * 4096, 1024), 50));
      env.clock.runUntilIdle();
      const tr = traces[0] as Trace;
      return ((tr.doneAt ?? 0) - (tr.firstAt ?? 0)) / 49;
    };
    const one = itl(1);
    expect(one).toBeGreaterThan(6);
    expect(one).toBeLessThan(7);
    expect(itl(64)).toBeGreaterThan(one * 1.5);
  });

  test("cancel frees blocks and stops callbacks; resetPrefixCache emits cleared and drops hits", () => {
    const { clock, engine, events, send } = setup(small());
    const t = send("a", range(1, 40), 100);
    clock.advance(100);
    expect(t.firstAt).toBeDefined();
    expect(engine.stats().kvUsage).toBeGreaterThan(0);
    expect(engine.cancel("a")).toBe(true);
    expect(engine.cancel("a")).toBe(false);
    expect(engine.stats()).toMatchObject({ running: 0, kvUsage: 0 });
    clock.runUntilIdle();
    expect(t.done).toBeUndefined();
    expect(clock.pending()).toBe(0);

    events.length = 0;
    engine.resetPrefixCache();
    expect(events).toEqual([[{ t: "cleared" }]]);
    const again = send("b", range(1, 40), 1);
    clock.runUntilIdle();
    expect(again.done?.cachedTokens).toBe(0);
  });

  test("bounds: waiting queue overflow and over-long requests throw typed errors", () => {
    const { engine, send } = setup(small({ maxWaiting: 2, maxModelLen: 64 }));
    send("a", [1, 2], 1);
    send("b", [1, 2], 1);
    expect(() => send("c", [1, 2], 1)).toThrow(SimOverloadedError);
    expect(() => send("d", range(1, 60), 8)).toThrow(SimRequestTooLongError);
    let caught: unknown;
    try {
      send("e", [1], 1);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SimOverloadedError);
    expect((caught as SimOverloadedError).status).toBe(503);
    engine.stop();
  });
});
