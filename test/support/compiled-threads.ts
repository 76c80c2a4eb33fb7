/**
 * jest setup: the worker threads kvroute starts (the metrics scrape thread, the tokenizer workers) run the run's
 * compiled build (`compiled-build.ts`), as the process tests' children do. From the `.ts` sources under jest, kvroute
 * starts a thread with an inline bootstrap that registers tsx and then loads `<entry>.ts`; registering tsx and
 * compiling through it cost ~0.14 s of CPU per thread, and the suite starts about sixty. The same bootstrap is
 * rewritten here to start `<entry>.js` from the build, which swc compiled once from the same sources.
 *
 * Only that exact bootstrap of an entry under `src/` is rewritten; any other thread starts as asked. A test that
 * must run the tsx bootstrap itself (the path `npx kvroute` takes without a build) wraps it in
 * {@link withSourceThreads}.
 *
 * @module
 */
import { join, relative } from "node:path";
// The module object itself (a default import of a CommonJS module): a namespace import would be a copy.
import threads from "node:worker_threads";
import type { WorkerOptions } from "node:worker_threads";
import { compiled } from "./compiled-build";

const ROOT = join(__dirname, "..", "..");
/** kvroute's thread bootstrap from source: `require("<tsx/cjs>"); require("<entry>.ts");` (see its `spawn()`). */
const SOURCE_BOOTSTRAP = /^require\(("[^"]*")\); require\(("[^"]*\.ts")\);$/;
/** Node's own Worker, kept on the (process-wide) module across the test files a jest worker runs. */
const ORIGINAL = Symbol.for("kvroute.test.originalWorker");

type WorkerClass = typeof threads.Worker;
const mutableThreads = threads as unknown as Record<PropertyKey, unknown> & { Worker: WorkerClass };
const Original = (mutableThreads[ORIGINAL] ??= threads.Worker) as WorkerClass;

let fromSource = false;

/**
 * The compiled entry for `spec` when it is kvroute's source bootstrap of a `src/` entry, else undefined (`spec`
 * starts unchanged).
 */
export function compiledEntry(spec: string | URL, options: WorkerOptions | undefined): string | undefined {
  if (fromSource || options?.eval !== true || typeof spec !== "string") return undefined;
  const m = SOURCE_BOOTSTRAP.exec(spec);
  if (!m?.[1]?.includes("tsx") || m[2] === undefined) return undefined;
  const entry = relative(ROOT, JSON.parse(m[2]) as string);
  if (!entry.startsWith(`src${"/"}`)) return undefined;
  return compiled(entry)[0];
}

class CompiledWorker extends Original {
  constructor(spec: string | URL, options?: WorkerOptions) {
    const entry = compiledEntry(spec, options);
    if (entry === undefined) super(spec, options);
    else {
      const { eval: _eval, ...rest } = options ?? {};
      super(entry, rest);
    }
  }
}

/** Runs `fn` with kvroute's threads started from the `.ts` sources through tsx, as without this setup. */
export async function withSourceThreads<T>(fn: () => Promise<T>): Promise<T> {
  fromSource = true;
  try {
    return await fn();
  } finally {
    fromSource = false;
  }
}

mutableThreads.Worker = CompiledWorker;
