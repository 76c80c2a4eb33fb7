/**
 * The worker entry as it runs from a compiled build: the run's compiled copy of `src/` (jest's global setup,
 * test/support/compiled-build.ts; CommonJS `.js` files as `tsc` emits to `dist/`), so the pool starts
 * `worker-main.js` directly rather than the `.ts` source.
 */
import { createBlockHasher } from "../../src/prefix/block-hasher";
import { compiled } from "../support/compiled-build";

jest.setTimeout(30_000);

interface CompiledPool {
  WorkerPool: new (options: { workers: number }) => {
    encode(spec: { type: "character" | "tiktoken" }, text: string): Promise<Uint32Array>;
    prepare(
      spec: { type: "character" },
      input: { t: "text"; text: string },
      plan: { seed: bigint; context: string; blockSizes: number[] },
    ): Promise<{ tokens: Uint32Array; keys?: { keys: ReadonlyMap<number, BigUint64Array> } }>;
    stats(): { dispatched: number; completed: number };
    close(): Promise<void>;
  };
}

it("runs the compiled worker-main.js", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WorkerPool } = require(compiled("src/tokenize/worker-pool.ts")[0] as string) as CompiledPool;
  const pool = new WorkerPool({ workers: 1 });
  try {
    expect(Array.from(await pool.encode({ type: "tiktoken" }, "hello world"))).toEqual([15339, 1917]);
    expect(Array.from(await pool.encode({ type: "character" }, "ab"))).toEqual([97, 98]);
    // The worker hashes block keys too (the compiled `prefix/` modules, xxhash-wasm loaded in the worker).
    const prepared = await pool.prepare(
      { type: "character" },
      { t: "text", text: "abcdefghij" },
      { seed: 3n, context: "", blockSizes: [4] },
    );
    const inline = (await createBlockHasher(3n)).chain(prepared.tokens, 4, "");
    expect(inline.length).toBe(2);
    expect(Array.from(prepared.keys?.keys.get(4) ?? [])).toEqual(Array.from(inline));
    expect(pool.stats()).toMatchObject({ dispatched: 3, completed: 3 });
  } finally {
    await pool.close();
  }
});
