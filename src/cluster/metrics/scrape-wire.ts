/**
 * The scrape thread's results in compact form: one row of numbers per scrape in a `Float64Array` (result, time,
 * every numeric {@link EngineMetrics} field, NaN when absent), the pod keys and failure messages as string arrays,
 * and only what is rare (LoRA state, parse problems, log lines) as objects. Structured cloning a typed array is a
 * copy; cloning one object per scrape with a dozen named fields and a Map cost the thread ~5 % of a core at
 * 2000 scrapes/s (`npm run bench -- scrape --cpu-prof`).
 *
 * @module
 * @internal
 */
import type { EngineMetrics, LoraState, ModelLoad } from "../engine-metrics";
import type { ScrapeFailureReason, ScrapeResult } from "./engine-metrics-store";
import type { ParseProblems } from "./interpret-body";

const RESULTS: readonly ScrapeResult[] = [
  "ok",
  "http-error",
  "timeout",
  "connect-error",
  "too-large",
  "malformed",
];
const RESULT_CODE: ReadonlyMap<ScrapeResult, number> = new Map(RESULTS.map((r, i) => [r, i]));

type NumericField = Exclude<keyof EngineMetrics, "scrapedAtMs" | "lora" | "byModel">;
const FIELDS: readonly NumericField[] = [
  "requestsRunning",
  "requestsWaiting",
  "kvCacheUsage",
  "gpuCacheUsage",
  "utilization",
  "prefixCacheQueriesTotal",
  "prefixCacheHitsTotal",
  "promptTokensTotal",
  "generationTokensTotal",
  "blockSize",
  "numGpuBlocks",
];
/** Row layout: result code, seconds, age (ms), models in `models`, then {@link FIELDS}. */
const RESULT = 0;
const SECONDS = 1;
const AGE = 2;
const MODELS = 3;
const FIRST_FIELD = 4;
const WIDTH = FIRST_FIELD + FIELDS.length;

/** Something rare that happened during the scrape of row `row`, before its observer call. */
export type WireExtra =
  | { readonly row: number; readonly k: "lora"; readonly lora: LoraState }
  | { readonly row: number; readonly k: "problems"; readonly problems: ParseProblems }
  | {
      readonly row: number;
      readonly k: "log";
      readonly level: "warn" | "info";
      readonly obj: object;
      readonly msg: string;
    };

/** One batch of scrapes, ready for `postMessage`. */
export interface WireBatch {
  readonly rows: Float64Array;
  readonly keys: readonly string[];
  /** Failure messages ("" for ok rows). */
  readonly messages: readonly string[];
  /** Per model of each ok row, in row order: name, then running and waiting (NaN when absent). */
  readonly modelNames: readonly string[];
  readonly modelNumbers: readonly number[];
  readonly extras: readonly WireExtra[];
}

/** Builds a {@link WireBatch} from the scraper's calls for one scrape: store write, problems, log, observer. */
export class WireWriter {
  private rows = new Float64Array(64 * WIDTH);
  private n = 0;
  private keys: string[] = [];
  private messages: string[] = [];
  private modelNames: string[] = [];
  private modelNumbers: number[] = [];
  private extras: WireExtra[] = [];
  /** The scrape being assembled: its store write comes first, its observer call last. */
  private metrics: EngineMetrics | undefined;
  private message = "";

  get size(): number {
    return this.n;
  }

  /** The store write of the scrape being assembled. */
  ok(metrics: EngineMetrics): void {
    this.metrics = metrics;
    this.message = "";
  }

  fail(_reason: ScrapeFailureReason, message: string): void {
    this.metrics = undefined;
    this.message = message;
  }

  problems(problems: ParseProblems): void {
    this.extras.push({ row: this.n, k: "problems", problems });
  }

  log(level: "warn" | "info", obj: object, msg: string): void {
    this.extras.push({ row: this.n, k: "log", level, obj, msg });
  }

  /** The observer call that ends a scrape: completes its row. `nowMs` is the thread's clock. */
  scrape(key: string, seconds: number, result: ScrapeResult, nowMs: number): void {
    if ((this.n + 1) * WIDTH > this.rows.length) {
      const next = new Float64Array(this.rows.length * 2);
      next.set(this.rows);
      this.rows = next;
    }
    const r = this.n * WIDTH;
    const rows = this.rows;
    rows[r + RESULT] = RESULT_CODE.get(result) ?? 0;
    rows[r + SECONDS] = seconds;
    const m = result === "ok" ? this.metrics : undefined;
    rows[r + AGE] = m ? Math.max(0, nowMs - m.scrapedAtMs) : 0;
    rows[r + MODELS] = m ? m.byModel.size : 0;
    for (let i = 0; i < FIELDS.length; i++) {
      const f = FIELDS[i] as NumericField;
      rows[r + FIRST_FIELD + i] = m?.[f] ?? Number.NaN;
    }
    if (m) {
      for (const [name, load] of m.byModel) {
        this.modelNames.push(name);
        this.modelNumbers.push(load.requestsRunning ?? Number.NaN, load.requestsWaiting ?? Number.NaN);
      }
      if (m.lora) this.extras.push({ row: this.n, k: "lora", lora: m.lora });
    }
    this.keys.push(key);
    this.messages.push(m ? "" : this.message);
    this.metrics = undefined;
    this.message = "";
    this.n += 1;
  }

  /** The batch so far (its rows copied out), and start a new one. */
  take(): WireBatch {
    const out: WireBatch = {
      rows: this.rows.slice(0, this.n * WIDTH),
      keys: this.keys,
      messages: this.messages,
      modelNames: this.modelNames,
      modelNumbers: this.modelNumbers,
      extras: this.extras,
    };
    this.n = 0;
    this.keys = [];
    this.messages = [];
    this.modelNames = [];
    this.modelNumbers = [];
    this.extras = [];
    return out;
  }
}

/** One decoded scrape, in the order its calls must be replayed. */
export interface WireScrape {
  readonly key: string;
  readonly result: ScrapeResult;
  readonly seconds: number;
  /** For `ok`: the metrics, `scrapedAtMs` set from `nowMs − age`. */
  readonly metrics: EngineMetrics | undefined;
  readonly message: string;
  /** Problems and log lines of this scrape, in order. */
  readonly extras: readonly WireExtra[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Decode `b` on the receiving thread, whose clock reads `nowMs`. */
export function* readWireBatch(b: WireBatch, nowMs: number): Generator<WireScrape> {
  const rows = b.rows;
  const n = rows.length / WIDTH;
  let model = 0;
  let extra = 0;
  for (let i = 0; i < n; i++) {
    const r = i * WIDTH;
    const result = RESULTS[rows[r + RESULT] ?? 0] ?? "ok";
    const extras: WireExtra[] = [];
    while (extra < b.extras.length && (b.extras[extra] as WireExtra).row === i)
      extras.push(b.extras[extra++] as WireExtra);
    let metrics: EngineMetrics | undefined;
    const models = rows[r + MODELS] ?? 0;
    if (result === "ok") {
      const byModel = new Map<string, ModelLoad>();
      for (let j = 0; j < models; j++, model++) {
        const load: Mutable<ModelLoad> = {};
        const running = b.modelNumbers[2 * model] ?? Number.NaN;
        const waiting = b.modelNumbers[2 * model + 1] ?? Number.NaN;
        if (!Number.isNaN(running)) load.requestsRunning = running;
        if (!Number.isNaN(waiting)) load.requestsWaiting = waiting;
        byModel.set(b.modelNames[model] ?? "", load);
      }
      const m: Mutable<EngineMetrics> = { scrapedAtMs: nowMs - (rows[r + AGE] ?? 0), byModel };
      for (let f = 0; f < FIELDS.length; f++) {
        const v = rows[r + FIRST_FIELD + f] ?? Number.NaN;
        if (!Number.isNaN(v)) m[FIELDS[f] as NumericField] = v;
      }
      const lora = extras.find((e) => e.k === "lora");
      if (lora?.k === "lora") m.lora = lora.lora;
      metrics = m;
    }
    yield {
      key: b.keys[i] ?? "",
      result,
      seconds: rows[r + SECONDS] ?? 0,
      metrics,
      message: b.messages[i] ?? "",
      extras: extras.filter((e) => e.k !== "lora"),
    };
  }
}
