/**
 * The scrape benchmark's goal run: the real kvroute (`main()`, standalone, every pod in an endpoints file) scraping
 * `--pods` loopback endpoints that serve a real-size vLLM v1 body, measured from outside: the kvroute process's
 * CPU (`process.cpuUsage()`, user + system, every thread) and its event-loop delay, in 1 s slices. A second kvroute
 * with the same fleet that scrapes only once an hour runs beside it, measured in the same slices: the baseline of
 * a kvroute that does nothing (timers, IPC, the loop-delay monitor).
 *
 * @module
 */
import { forkCompiled } from "./compiled";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { freePort } from "./children";
import type { GoalRow } from "./goal-table";

/** Loop-delay sampling period in the child, ms (subtracted from every figure it reports). */
export const ELD_RESOLUTION_MS = 10;

/** Parent → child: CPU so far and loop delay since the last query. */
export interface ScrapeVitalsQuery {
  readonly t: "scrape-vitals?";
  readonly id: number;
}

/** Child → parent: the answer to a {@link ScrapeVitalsQuery} (delays in ms beyond the sampling period). */
export interface ScrapeVitals {
  readonly t: "scrape-vitals";
  readonly id: number;
  readonly cpuMicros: number;
  /** The kernel's part of `cpuMicros`. */
  readonly systemMicros: number;
  /** CPU of the main thread alone (the ext_proc event loop), user + system. */
  readonly mainThreadMicros: number;
  readonly eldP50Ms: number;
  readonly eldP99Ms: number;
  readonly eldMaxMs: number;
}

/** Narrow an IPC message to a {@link ScrapeVitalsQuery}. */
export function isScrapeVitalsQuery(m: unknown): m is ScrapeVitalsQuery {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "scrape-vitals?";
}

function isScrapeVitals(m: unknown): m is ScrapeVitals {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "scrape-vitals";
}

const START_TIMEOUT_MS = 30_000;
const QUERY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;

/** A kvroute child of this benchmark. */
interface KvrouteChild {
  readonly name: string;
  readonly httpPort: number;
  vitals(): Promise<ScrapeVitals>;
  /** `kvroute_engine_scrapes_total` summed by result, from its admin `/metrics`. */
  scrapes(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

async function startKvrouteChild(
  name: string,
  endpointsFile: string,
  intervalMs: number,
  extraExecArgv: readonly string[],
  extraArgs: readonly string[],
): Promise<KvrouteChild> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const child: ChildProcess = forkCompiled(
    "scrape-kvroute-process.ts",
    [
      "--standalone",
      "--endpoints-config",
      endpointsFile,
      "--grpc-bind-address",
      `127.0.0.1:${grpcPort}`,
      "--http-bind-address",
      `127.0.0.1:${httpPort}`,
      "--log-level",
      "warn",
      "--drain-delay-ms",
      "0",
      "--metrics-interval-ms",
      String(intervalMs),
      ...extraArgs,
    ],
    { execArgv: extraExecArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] },
  );
  const kill = (): void => void child.kill("SIGKILL");
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let nextId = 1;
  const waiters = new Map<number, (v: ScrapeVitals) => void>();
  child.on("message", (m: unknown) => {
    if (!isScrapeVitals(m)) return;
    waiters.get(m.id)?.(m);
    waiters.delete(m.id);
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let dead = false;
  void exited.then(() => (dead = true));
  for (;;) {
    if (dead) throw new Error(`${name} exited before it was ready`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`${name} did not become ready in time`);
    }
    const ok = await get(httpPort, "/readyz").then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name,
    httpPort,
    vitals: () =>
      new Promise<ScrapeVitals>((resolve, reject) => {
        const id = nextId++;
        const t = setTimeout(() => {
          waiters.delete(id);
          reject(new Error(`${name} did not answer a vitals query`));
        }, QUERY_TIMEOUT_MS);
        waiters.set(id, (v) => {
          clearTimeout(t);
          resolve(v);
        });
        const q: ScrapeVitalsQuery = { t: "scrape-vitals?", id };
        child.send(q);
      }),
    async scrapes() {
      const { body } = await get(httpPort, "/metrics");
      const out: Record<string, number> = {};
      for (const m of body.matchAll(/^kvroute_engine_scrapes_total\{[^}]*result="([^"]+)"[^}]*\} (\S+)$/gm)) {
        const result = m[1] ?? "";
        out[result] = (out[result] ?? 0) + Number(m[2]);
      }
      return out;
    },
    async stop() {
      process.removeListener("exit", kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(kill, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
    },
  };
}

/** What the goal run measured. */
export interface KvrouteScrapeRun {
  readonly slices: number;
  /** Per slice, % of one core: the scraping kvroute and the idle one. */
  readonly cpuPercent: readonly number[];
  readonly idleCpuPercent: readonly number[];
  /** Per slice, % of one core spent in the kernel by the scraping kvroute. */
  readonly systemPercent: readonly number[];
  /** Per slice, % of one core used by the scraping kvroute's main thread (its event loop) alone. */
  readonly mainThreadPercent: readonly number[];
  /** Per slice, ms beyond the sampling period. */
  readonly eldP50Ms: readonly number[];
  readonly eldP99Ms: readonly number[];
  readonly idleEldP99Ms: readonly number[];
  readonly scrapesPerSecond: number;
  readonly results: Record<string, number>;
}

/** Options of {@link runKvrouteScrape}. */
export interface KvrouteScrapeOptions {
  readonly ports: readonly number[];
  readonly model: string;
  readonly intervalMs: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Extra Node flags for the scraping kvroute (e.g. `--cpu-prof`). */
  readonly execArgv: readonly string[];
  /** Extra kvroute flags for both kvroutes (e.g. `--metrics-scrape-thread false`). */
  readonly kvrouteArgs: readonly string[];
  readonly progress: (text: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Start both kvroutes over the endpoints, measure `seconds` 1 s slices after a warm-up, stop them. */
export async function runKvrouteScrape(o: KvrouteScrapeOptions): Promise<KvrouteScrapeRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kvroute-scrape-bench-"));
  const endpointsFile = path.join(dir, "endpoints.yaml");
  writeFileSync(
    endpointsFile,
    `models:\n  - name: ${o.model}\n    endpoints:\n${o.ports.map((p) => `      - "127.0.0.1:${p}"\n`).join("")}`,
  );
  const children: KvrouteChild[] = [];
  try {
    o.progress(`starting two kvroutes over ${o.ports.length} pods (one scraping every ${o.intervalMs} ms)`);
    const busy = await startKvrouteChild(
      "kvroute (scraping)",
      endpointsFile,
      o.intervalMs,
      o.execArgv,
      o.kvrouteArgs,
    );
    children.push(busy);
    const idle = await startKvrouteChild("kvroute (idle)", endpointsFile, 3_600_000, [], o.kvrouteArgs);
    children.push(idle);
    await sleep(o.warmupSeconds * 1000);
    const before = await busy.scrapes();
    const cpuPercent: number[] = [];
    const idleCpuPercent: number[] = [];
    const systemPercent: number[] = [];
    const mainThreadPercent: number[] = [];
    const eldP50Ms: number[] = [];
    const eldP99Ms: number[] = [];
    const idleEldP99Ms: number[] = [];
    const slices = Math.max(1, Math.round(o.seconds));
    o.progress(`measuring ${slices} × 1 s slices`);
    let b0 = await busy.vitals();
    let i0 = await idle.vitals();
    let t0 = performance.now();
    const start = t0;
    for (let s = 0; s < slices; s++) {
      await sleep(1000);
      const [b1, i1] = await Promise.all([busy.vitals(), idle.vitals()]);
      const t1 = performance.now();
      const wallMicros = (t1 - t0) * 1000;
      cpuPercent.push((100 * (b1.cpuMicros - b0.cpuMicros)) / wallMicros);
      idleCpuPercent.push((100 * (i1.cpuMicros - i0.cpuMicros)) / wallMicros);
      systemPercent.push((100 * (b1.systemMicros - b0.systemMicros)) / wallMicros);
      mainThreadPercent.push((100 * (b1.mainThreadMicros - b0.mainThreadMicros)) / wallMicros);
      eldP50Ms.push(b1.eldP50Ms);
      eldP99Ms.push(b1.eldP99Ms);
      idleEldP99Ms.push(i1.eldP99Ms);
      [b0, i0, t0] = [b1, i1, t1];
    }
    const elapsedS = (performance.now() - start) / 1000;
    const after = await busy.scrapes();
    const results: Record<string, number> = {};
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)]))
      results[k] = (after[k] ?? 0) - (before[k] ?? 0);
    const total = Object.values(results).reduce((a, b) => a + b, 0);
    return {
      slices,
      cpuPercent,
      idleCpuPercent,
      systemPercent,
      mainThreadPercent,
      eldP50Ms,
      eldP99Ms,
      idleEldP99Ms,
      scrapesPerSecond: total / elapsedS,
      results,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const range = (xs: readonly number[], digits: number): string =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

/**
 * The goal rows of a run. `shape` names the configuration measured. When the endpoints (or a loaded machine)
 * delivered fewer scrapes than intended, the CPU row is scaled up to the intended rate (idle + net × intended ÷
 * achieved), never down: a figure measured at a lower rate would look better than the truth.
 */
export function kvrouteScrapeGoals(r: KvrouteScrapeRun, shape: string, intended: number): GoalRow[] {
  const ok = r.results.ok ?? 0;
  const idleCpu = mean(r.idleCpuPercent);
  const scale = Math.max(1, intended / Math.max(1, r.scrapesPerSecond));
  const atIntended = (x: number): number => idleCpu + (x - idleCpu) * scale;
  const cpu = r.cpuPercent.map(atIntended);
  const perScrapeMicros = ((mean(r.cpuPercent) - idleCpu) * 1e4) / Math.max(1, r.scrapesPerSecond);
  const errors = Object.entries(r.results)
    .filter(([k, v]) => k !== "ok" && v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const achieved = `${r.scrapesPerSecond.toFixed(0)} scrapes/s of ${intended} intended (ok ${ok}${errors ? `; ${errors}` : ""})`;
  return [
    {
      measure: `kvroute process CPU (all threads), ${shape}`,
      goal: 10,
      direction: "at-most",
      measured: mean(cpu),
      unit: "% core",
      spread: `${range(cpu, 1)} over ${r.slices} × 1 s`,
      note:
        `${achieved}${scale > 1.001 ? `; scaled ×${scale.toFixed(2)} to the intended rate (measured ${mean(r.cpuPercent).toFixed(1)} %)` : ""}; ` +
        `${perScrapeMicros.toFixed(0)} µs of CPU per scrape; of the measured CPU, kernel ` +
        `${mean(r.systemPercent).toFixed(1)} % and the main thread (event loop) ${mean(r.mainThreadPercent).toFixed(1)} % ` +
        `of a core; an idle kvroute with the same fleet, same slices: ` +
        `${idleCpu.toFixed(1)} % (${range(r.idleCpuPercent, 1)})`,
    },
    {
      measure: `kvroute event-loop delay p50 (median slice), ${shape}`,
      goal: 1,
      direction: "at-most",
      measured: median(r.eldP50Ms),
      unit: "ms",
      spread: `${range(r.eldP50Ms, 2)} over slices`,
      note: `beyond the ${ELD_RESOLUTION_MS} ms sampling period`,
    },
    {
      measure: `kvroute event-loop delay p99 (median slice), ${shape}`,
      goal: 2,
      direction: "at-most",
      measured: median(r.eldP99Ms),
      unit: "ms",
      spread: `${range(r.eldP99Ms, 2)} over slices`,
      note:
        `the bound of the extproc loop-delay goal; an idle kvroute in the same slices: ` +
        `${median(r.idleEldP99Ms).toFixed(2)} ms (${range(r.idleEldP99Ms, 2)})`,
    },
  ];
}
