/**
 * The IPC side of a benchmark child process (forked by `children.ts`): answers CPU-usage queries with
 * `process.cpuUsage()` (µs, user + system, every thread of the process) and stops the child when the parent goes
 * away, so a crashed benchmark never leaves servers behind.
 *
 * @module
 */

/** Parent → child: "send me your CPU usage"; `id` is echoed back. */
export interface CpuQuery {
  readonly t: "cpu?";
  readonly id: number;
}

/** Child → parent: the answer to a {@link CpuQuery}. */
export interface CpuReply {
  readonly t: "cpu";
  readonly id: number;
  readonly userMicros: number;
  readonly systemMicros: number;
}

/** Child → parent: the no-op server is listening (kvroute reports its ports on stdout instead). */
export interface ListeningMessage {
  readonly t: "listening";
  readonly grpcPort: number;
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
  process.on("message", (m: unknown) => {
    if (!isCpuQuery(m)) return;
    const u = process.cpuUsage();
    const reply: CpuReply = { t: "cpu", id: m.id, userMicros: u.user, systemMicros: u.system };
    send(reply);
  });
  process.once("disconnect", onParentGone);
}
