/**
 * Logging engine-metrics scrape failures without flooding: one line when a pod starts failing (warn) and one when
 * it recovers (info), never one per failed scrape (at 50 ms intervals a dead pod would write 20 lines a second),
 * within a global line budget (`createStateChangeLog`). A pod that has only ever answered writes nothing.
 *
 * @module
 */
// Shared, not through observability's index: the scrape thread loads this, and must not load prom-client and pino.
import { createStateChangeLog } from "../../state-change-log";
import type { StateLogSink } from "../../state-change-log";
import type { ScrapeResult } from "./engine-metrics-store";

/** The log calls this makes (a pino logger fits). */
export type ScrapeLog = StateLogSink;

/** Options of {@link createScrapeStateLog}. */
export interface ScrapeStateLogOptions {
  /** Clock, ms. Default `performance.now`. */
  readonly now?: () => number;
  /** Most lines per window over all pods. Default 20. */
  readonly maxLines?: number;
  /** Window of the line budget, ms. Default 60 000. */
  readonly windowMs?: number;
}

/** Per-pod failing/healthy state, logged on change. */
export interface ScrapeStateLog {
  /** One scrape of `podKey` ended with `result`; `detail` says why it failed. */
  onResult(podKey: string, result: ScrapeResult, detail?: string): void;
  /** The pod left the fleet: forget its state. */
  forget(podKey: string): void;
}

export function createScrapeStateLog(log: ScrapeLog, o: ScrapeStateLogOptions = {}): ScrapeStateLog {
  const states = createStateChangeLog(log, {
    ...o,
    downMsg: "engine metrics scrape failing; the pod's metrics age out until it recovers",
    upMsg: "engine metrics scrape recovered",
    downForField: "failedForMs",
  });
  return {
    onResult(podKey, result, detail) {
      if (result === "ok") states.up(podKey);
      else states.down(podKey, { reason: result, detail: detail ?? result });
    },
    forget: (podKey) => states.forget(podKey),
  };
}
