/** Scrape failures logged once per pod per change, within a global line budget. Injected clock. */
import { createScrapeStateLog } from "../../../src/cluster/metrics/scrape-state-log";

function recordingLog(): {
  lines: Array<[string, string, Record<string, unknown>]>;
  warn: never;
  info: never;
} {
  const lines: Array<[string, string, Record<string, unknown>]> = [];
  return {
    lines,
    warn: ((obj: Record<string, unknown>, msg: string) => lines.push(["warn", msg, obj])) as never,
    info: ((obj: Record<string, unknown>, msg: string) => lines.push(["info", msg, obj])) as never,
  };
}

describe("createScrapeStateLog", () => {
  it("logs a pod starting to fail once (warn) and recovering once (info)", () => {
    let t = 0;
    const log = recordingLog();
    const s = createScrapeStateLog(log, { now: () => t });
    s.onResult("a", "ok");
    for (let i = 0; i < 100; i++) {
      s.onResult("a", i % 2 ? "timeout" : "connect-error", "ECONNREFUSED");
      t += 50;
    }
    s.onResult("a", "ok");
    s.onResult("a", "ok");
    expect(log.lines.map(([level, , obj]) => [level, obj["pod"], obj["reason"]])).toEqual([
      ["warn", "a", "connect-error"],
      ["info", "a", undefined],
    ]);
    expect(log.lines[1]?.[2]["failedForMs"]).toBe(5000);
  });

  it("bounds lines per window over all pods and reports how many were dropped", () => {
    let t = 0;
    const log = recordingLog();
    const s = createScrapeStateLog(log, { now: () => t, maxLines: 2, windowMs: 1000 });
    for (const pod of ["a", "b", "c", "d"]) s.onResult(pod, "timeout");
    expect(log.lines).toHaveLength(2);
    t = 1000;
    s.onResult("a", "ok");
    expect(log.lines).toHaveLength(3);
    expect(log.lines[2]?.[2]["suppressedLines"]).toBe(2);
  });

  it("forgets a pod that left: its next failure is a new one", () => {
    const log = recordingLog();
    const s = createScrapeStateLog(log, { now: () => 0 });
    s.onResult("a", "timeout");
    s.forget("a");
    s.onResult("a", "timeout");
    expect(log.lines.map(([level]) => level)).toEqual(["warn", "warn"]);
  });
});
