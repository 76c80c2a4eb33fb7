/**
 * The IPC side of a benchmark child process (forked by `children.ts`): answers CPU-usage queries with
 * `process.cpuUsage()` (µs, user + system, every thread of the process) and stops the child when the parent goes
 * away, so a crashed benchmark never leaves servers behind.
 *
 * @module
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

/** Parent → child: "send me your CPU usage" (and, with `vitals`, loop delay and memory); `id` is echoed back. */
export interface CpuQuery {
  readonly t: "cpu?";
  readonly id: number;
  readonly vitals?: boolean;
}

/**
 * Event-loop delay since the previous vitals query and memory now. `rssAfterGcBytes` is measured right after a full
 * GC when the child runs with `--expose-gc` (else null): what the process keeps, not what it has not collected yet.
 */
export interface Vitals {
  readonly eldP50Ms: number;
  readonly eldP99Ms: number;
  readonly eldMaxMs: number;
  readonly rssBytes: number;
  readonly rssAfterGcBytes: number | null;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
}

/** Child → parent: the answer to a {@link CpuQuery}. */
export interface CpuReply {
  readonly t: "cpu";
  readonly id: number;
  readonly userMicros: number;
  readonly systemMicros: number;
  readonly vitals?: Vitals;
}

/** Child → parent: the no-op server is listening (kvroute reports its ports on stdout instead). */
export interface ListeningMessage {
  readonly t: "listening";
  readonly grpcPort: number;
}

/** Read and reset the loop-delay histogram; GC first (when exposed) for the kept RSS. */
/** The loop-delay histogram (`IntervalHistogram` in @types/node 20, `ELDHistogram` in 24). */
type LoopDelayHistogram = ReturnType<typeof monitorEventLoopDelay>;

function vitals(delay: LoopDelayHistogram): Vitals {
  const eldP50Ms = delay.percentile(50) / 1e6;
  const eldP99Ms = delay.percentile(99) / 1e6;
  const eldMaxMs = delay.max / 1e6;
  delay.reset();
  const before = process.memoryUsage();
  const gc = (globalThis as { gc?: () => void }).gc;
  let rssAfterGcBytes: number | null = null;
  if (gc) {
    gc();
    rssAfterGcBytes = process.memoryUsage.rss();
  }
  return {
    eldP50Ms,
    eldP99Ms,
    eldMaxMs,
    rssBytes: before.rss,
    rssAfterGcBytes,
    heapUsedBytes: before.heapUsed,
    externalBytes: before.external,
  };
}

/** Narrow an IPC message to a {@link CpuQuery}. */
export function isCpuQuery(m: unknown): m is CpuQuery {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "cpu?";
}

/** Narrow an IPC message to a {@link CpuReply}. */
export function isCpuReply(m: unknown): m is CpuReply {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "cpu";
}

/** Narrow an IPC message to a {@link ListeningMessage}. */
export function isListening(m: unknown): m is ListeningMessage {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "listening";
}

/**
 * Install the child's IPC handlers. `onParentGone` runs once when the IPC channel closes (the parent exited or
 * crashed); it should stop the process.
 *
 * @throws Error when the process was not started with an IPC channel (`child_process.fork`).
 */
export function serveCpuQueries(onParentGone: () => void): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("this benchmark child must be started with child_process.fork");
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on("message", (m: unknown) => {
    if (!isCpuQuery(m)) return;
    const u = process.cpuUsage();
    const reply: CpuReply = {
      t: "cpu",
      id: m.id,
      userMicros: u.user,
      systemMicros: u.system,
      ...(m.vitals ? { vitals: vitals(delay) } : {}),
    };
    send(reply);
  });
  process.once("disconnect", onParentGone);
}
