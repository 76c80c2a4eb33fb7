/**
 * The worker entry as it runs from a compiled build: `src/tokenize/*.ts` transpiled to CommonJS `.js` files in a
 * scratch directory (as `tsc` would emit to `dist/`), so the pool starts `worker-main.js` directly, without tsx.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { transformFileSync } from "@swc/core";
import { createBlockHasher } from "../../src/prefix/block-hasher";

jest.setTimeout(30_000);

const SRC = join(__dirname, "..", "..", "src");
// Inside the repository so that the compiled files resolve `tiktoken` & co. from its node_modules. The layout
// mirrors `src/`: `tokenize/*.js`, plus the modules outside that folder the tokenizers import.
const OUT = join(__dirname, `.dist-${process.pid}`);
const OUTSIDE_TOKENIZE = ["seeded-random.ts", "background-thread-priority.ts", "errors.ts", "client-echo.ts"];
/**
 * Folders compiled whole besides `tokenize/`: the worker hashes block keys (`prefix/`) beside the encoding, and
 * imports them through prefix's index, which loads what prefix imports (`request/`).
 */
const FOLDERS = ["tokenize", "prefix", "request"];

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

function compile(from: string, to: string): void {
  const { code } = transformFileSync(from, {
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
  });
  writeFileSync(to.replace(/\.ts$/, ".js"), code);
}

beforeAll(() => {
  for (const folder of FOLDERS) {
    mkdirSync(join(OUT, folder), { recursive: true });
    for (const file of readdirSync(join(SRC, folder)).filter((f) => f.endsWith(".ts"))) {
      compile(join(SRC, folder, file), join(OUT, folder, file));
    }
  }
  for (const file of OUTSIDE_TOKENIZE) compile(join(SRC, file), join(OUT, file));
});

afterAll(() => rmSync(OUT, { recursive: true, force: true }));

it("runs the compiled worker-main.js", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WorkerPool } = require(join(OUT, "tokenize", "worker-pool.js")) as CompiledPool;
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
