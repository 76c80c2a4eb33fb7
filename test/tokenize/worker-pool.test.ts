/**
 * The worker pool: offloading, equality with inline encoding, the queue bound, abort and crash recovery. Its
 * workers run the run's compiled build (test/support/compiled-threads.ts), except in the first test, which starts
 * one from the `.ts` source through tsx (what `npx kvroute` does without a build).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer as RustTokenizer } from "@anush008/tokenizers";
import { WorkerPool } from "../../src/tokenize/worker-pool";
import { TokenizeError } from "../../src/tokenize/errors";
import { createTokenizerRegistry } from "../../src/tokenize/registry";
import { loadEncoder } from "../../src/tokenize/encoder";
import { CRAFTED_SAMPLES } from "../../src/tokenize/parity-sample";
import { chatRenderer } from "../../src/tokenize/hf";
import { withSourceThreads } from "../support/compiled-threads";
import { qwen3MiniTokenizerJson } from "./fixtures";
import { writeByteLevelTokenizer } from "./synthetic";

// A bound against a hang, not a speed check: loading a tokenizer twice (main thread and worker) is CPU-bound, and
// loading the full Qwen3 so took over 60 s on a 2-core machine shared with CPU burners and other jobs.
jest.setTimeout(180_000);

const LONG = CRAFTED_SAMPLES.join("\n").repeat(4);

describe("WorkerPool", () => {
  let pool: WorkerPool;
  beforeEach(() => (pool = new WorkerPool({ workers: 1, maxQueue: 2 })));
  afterEach(() => pool.close());

  it("encodes in a worker started from the .ts source, identically to inline", async () => {
    // A tiny synthetic hf: tokenizer, not tiktoken's cl100k_base (~0.3 s of CPU per load, here and in the worker):
    // its load still runs the encoder code and both tokenizer packages through the source worker.
    const spec = { type: "hf", path: writeByteLevelTokenizer({ he: 256 }, ["h e"]) } as const;
    const inline = loadEncoder(spec);
    const ids = await withSourceThreads(() => pool.encode(spec, LONG));
    expect(Array.from(ids)).toEqual(Array.from(inline.encode(LONG)));
    expect(ids.length).toBeLessThan(new TextEncoder().encode(LONG).length); // "he" merged: not just bytes
    expect(pool.stats()).toMatchObject({ dispatched: 1, completed: 1, queued: 0, inFlight: 0 });
    inline.free?.();
  });

  it("rejects with queue-full beyond the bound, and aborts queued jobs", async () => {
    // `character` loads nothing: the queue's behaviour does not depend on what the jobs encode.
    const first = pool.encode({ type: "character" }, LONG); // in flight
    const controller = new AbortController();
    const second = pool.encode({ type: "character" }, LONG, controller.signal); // queued
    const third = pool.encode({ type: "character" }, "x"); // queued
    await expect(pool.encode({ type: "character" }, "y")).rejects.toMatchObject({ reason: "queue-full" });
    expect(pool.stats()).toMatchObject({ queued: 2, inFlight: 1, rejectedQueueFull: 1 });
    controller.abort();
    await expect(second).rejects.toMatchObject({ reason: "aborted" });
    expect(pool.stats().queued).toBe(1);
    expect((await first).length).toBeGreaterThan(100);
    expect(Array.from(await third)).toEqual([120]);
    expect(pool.stats().dispatched).toBe(2);
  });

  it("rejects an already-aborted signal at once", async () => {
    await expect(pool.encode({ type: "character" }, "x", AbortSignal.abort())).rejects.toMatchObject({
      reason: "aborted",
    });
  });

  it("rejects the in-flight job of a crashed worker and restarts it", async () => {
    const crash = pool.crashOneForTest();
    const after = pool.encode({ type: "character" }, "ok");
    await expect(crash).rejects.toBeInstanceOf(TokenizeError);
    await expect(crash).rejects.toMatchObject({ reason: "worker-crash" });
    expect(Array.from(await after)).toEqual([111, 107]);
    expect(pool.stats().crashes).toBe(1);
  });

  it("reports a load failure in the worker as worker-error", async () => {
    await expect(pool.encode({ type: "hf", path: "/nonexistent/tokenizer.json" }, "x")).rejects.toMatchObject(
      {
        reason: "worker-error",
      },
    );
  });

  it("rejects after close", async () => {
    await pool.close();
    await expect(pool.encode({ type: "character" }, "x")).rejects.toMatchObject({ reason: "closed" });
  });
});

describe("registry offloading", () => {
  it("sends texts over the threshold to a worker and short ones inline (Qwen3 fast path in both)", async () => {
    // Qwen3's pipeline and chat template with its first merges only: which thread encodes does not depend on the
    // vocabulary's size, and the full one costs ~1 s of CPU per load (tokenize/parity.test.ts checks it).
    const tokenizerJson = qwen3MiniTokenizerJson();
    const registry = createTokenizerRegistry({
      defaultSpec: `hf:${tokenizerJson}`,
      workerThresholdChars: 1000,
      workers: 1,
    });
    try {
      const tok = registry.forModel("qwen3");
      const short = await tok.encode("hello world");
      expect(registry.pool?.stats().dispatched).toBe(0);
      const long = await tok.encode(LONG);
      expect(registry.pool?.stats().dispatched).toBe(1);
      // The reference is the Rust oracle (a second JS load would double this test's time).
      const rust = RustTokenizer.fromFile(tokenizerJson);
      const oracle = async (text: string): Promise<number[]> =>
        (await rust.encode(text, null, { addSpecialTokens: false })).getIds();
      expect(Array.from(long)).toEqual(await oracle(LONG));
      expect(Array.from(short)).toEqual(await oracle("hello world"));
      const chat = [{ role: "user", content: LONG }];
      const config = JSON.parse(
        readFileSync(join(dirname(tokenizerJson), "tokenizer_config.json"), "utf8"),
      ) as Record<string, unknown>;
      const rendered = chatRenderer(config)?.(chat) ?? "";
      expect(Array.from((await tok.encodeChat?.(chat)) ?? [])).toEqual(await oracle(rendered));
      expect(registry.pool?.stats().dispatched).toBe(2);
    } finally {
      await registry.close();
    }
  });
});
