/**
 * Start-up loading of tokenizers: every configured local tokenizer is loaded in every worker (real worker threads)
 * before kvroute reports ready, a tokenizer that fails to load is reported and its model routes without prefix
 * information, and nothing is reloaded per request.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBlockHasher } from "../../src/prefix/block-hasher";
import { createPromptPreparer } from "../../src/prefix/prepare-prompt";
import type { InferenceRequest } from "../../src/request/inference-request";
import { createTokenizerRegistry } from "../../src/tokenize";
import { WorkerPool } from "../../src/tokenize/worker-pool";
import { startHarness, pod } from "../extproc/harness";
import { healthClient } from "../support/health-client";
import { scratchDir } from "../support/scratch-dir";
import { writeByteLevelTokenizer } from "./synthetic";

jest.setTimeout(60_000);

/*
 * What is loaded is a tiny synthetic byte-level BPE (`hf:`), not tiktoken: loading cl100k_base costs ~0.3 s of
 * CPU in each thread (main and every worker) and proves nothing more about when and where loads happen. The
 * synthetic one still goes through a real `hf:` load (file, @huggingface/tokenizers, the tiktoken fast path).
 */
/** Writes a synthetic `tokenizer.json` in which "he" is one token (256) and every other byte its own id. */
const heTokenizer = (): string => writeByteLevelTokenizer({ he: 256 }, ["h e"]);

/** A `tokenizer.json` that exists (so the configuration validates) but does not load. */
function corruptTokenizer(): string {
  const file = join(scratchDir("kvroute-badtok-"), "tokenizer.json");
  writeFileSync(file, "{ not json");
  return file;
}

describe("WorkerPool.preload", () => {
  it("starts every worker and loads each spec in each", async () => {
    const pool = new WorkerPool({ workers: 2 });
    try {
      const hf = heTokenizer();
      const yo = writeByteLevelTokenizer({ yo: 256 }, ["y o"]);
      const outcomes = await pool.preload([
        { type: "hf", path: yo },
        { type: "hf", path: hf },
      ]);
      expect(outcomes).toEqual([
        [{ key: `hf:${yo}` }, { key: `hf:${hf}` }],
        [{ key: `hf:${yo}` }, { key: `hf:${hf}` }],
      ]);
      expect(pool.stats()).toMatchObject({ dispatched: 2, completed: 2, inFlight: 0 });
      expect(Array.from(await pool.encode({ type: "hf", path: hf }, "hey"))).toEqual([256, 121]);
    } finally {
      await pool.close();
    }
  });

  it("reports a spec that fails to load in each worker, and the others still load", async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      const bad = corruptTokenizer();
      const hf = heTokenizer();
      const [outcomes] = await pool.preload([
        { type: "hf", path: bad },
        { type: "hf", path: hf },
      ]);
      expect(outcomes?.[0]).toMatchObject({ key: `hf:${bad}`, error: expect.any(String) });
      expect(outcomes?.[1]).toEqual({ key: `hf:${hf}` });
      await expect(pool.encode({ type: "hf", path: bad }, "x")).rejects.toMatchObject({
        reason: "worker-error",
      });
    } finally {
      await pool.close();
    }
  });
  it("a worker that replaces a crashed one loads the preloaded specs before taking requests", async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      const hf = heTokenizer();
      await pool.preload([{ type: "hf", path: hf }]);
      await expect(pool.crashOneForTest()).rejects.toMatchObject({ reason: "worker-crash" });
      expect(Array.from(await pool.encode({ type: "hf", path: hf }, "hey"))).toEqual([256, 121]);
      // preload, crash, the replacement's load, the encode
      expect(pool.stats()).toMatchObject({ dispatched: 4, completed: 3, crashes: 1 });
    } finally {
      await pool.close();
    }
  });
});

describe("registry preload", () => {
  it("loads every model's tokenizer; a broken one is reported and its model prepares without tokens", async () => {
    const bad = corruptTokenizer();
    const hf = heTokenizer();
    const registry = createTokenizerRegistry({
      defaultSpec: `hf:${hf}`,
      perModel: { broken: { type: "hf", path: bad }, plain: "character" },
      workers: 1,
    });
    try {
      const report = await registry.preload();
      expect([...report.loaded].sort()).toEqual(["character", `hf:${hf}`]);
      expect(report.failed).toEqual([{ tokenizer: `hf:${bad}`, error: expect.any(String) }]);
      expect(registry.pool?.stats().dispatched).toBe(1); // one load job for the one worker
      const reasons: string[] = [];
      const prepare = createPromptPreparer({
        tokenizers: registry,
        hasher: await createBlockHasher(0n),
        approximate: { t: "kvroute", blockSize: 4 },
        onUnavailable: (r) => reasons.push(r),
      });
      const request = (model: string): InferenceRequest => ({
        endpoint: "completions",
        path: "/v1/completions",
        model,
        stream: false,
        includeUsage: false,
        user: undefined,
        maxTokens: undefined,
        prompt: { t: "text", text: "hello world" },
        promptTokens: 2,
        bodyBytes: 10,
      });
      const broken = await prepare(request("broken"), "");
      expect(broken.tokens).toBeUndefined();
      expect(broken.unavailableReason).toBe("tokenizer-failed");
      // "he" + the bytes of "llo world"
      expect(Array.from((await prepare(request("other"), "")).tokens ?? [])).toEqual([
        256, 108, 108, 111, 32, 119, 111, 114, 108, 100,
      ]);
      expect(reasons).toEqual(["tokenizer-failed"]);
    } finally {
      await registry.close();
    }
  });
  it("a default tokenizer that fails to load is a start-up error, as it always was", async () => {
    const bad = corruptTokenizer();
    const registry = createTokenizerRegistry({ defaultSpec: `hf:${bad}`, workers: 1 });
    try {
      expect(() => registry.preload()).toThrow(/JSON/);
    } finally {
      await registry.close();
    }
    await expect(startHarness([], ["--tokenizer", `hf:${bad}`])).rejects.toThrow(/JSON/);
  });
});

describe("readiness", () => {
  it("turns SERVING only once the workers have loaded the tokenizers", async () => {
    const hf = heTokenizer();
    const h = await startHarness([pod("p1", "127.0.0.1", ["m1"])], ["--tokenizer", `hf:${hf}`]);
    const health = healthClient(h.server.grpcPort);
    try {
      const watch = health.watch("readiness");
      const loadedBeforeServing = await new Promise<boolean>((resolve) =>
        watch.on("data", (m: { status: string }) => {
          if (m.status === "SERVING")
            resolve(h.log.lines.some((l) => l["msg"] === "tokenizers: loaded in every worker"));
        }),
      );
      watch.on("error", () => undefined);
      watch.cancel();
      expect(loadedBeforeServing).toBe(true);
      expect(h.server.isReady()).toBe(true);
    } finally {
      health.close();
      await h.close();
    }
  });

  it("a tokenizer that fails to load is reported, and kvroute turns ready all the same", async () => {
    const bad = corruptTokenizer();
    const dir = scratchDir("kvroute-tokcfg-");
    const file = join(dir, "tokenizers.yaml");
    writeFileSync(file, `models:\n  broken:\n    type: hf\n    path: ${bad}\n`);
    const h = await startHarness([pod("p1", "127.0.0.1", ["m1"])], ["--tokenizers-config", file]);
    const health = healthClient(h.server.grpcPort);
    try {
      await servingSeen(health);
      const failed = h.log.lines.find(
        (l) => l["msg"] === "tokenizers: load failed; its models route without prefix information",
      );
      expect(failed?.["tokenizer"]).toBe(`hf:${bad}`);
      expect(h.server.isReady()).toBe(true);
    } finally {
      health.close();
      await h.close();
    }
  });
});

/** Resolves when readiness turns SERVING. */
async function servingSeen(health: ReturnType<typeof healthClient>): Promise<void> {
  const watch = health.watch("readiness");
  watch.on("error", () => undefined);
  await new Promise<void>((resolve) =>
    watch.on("data", (m: { status: string }) => {
      if (m.status === "SERVING") resolve();
    }),
  );
  watch.cancel();
}
