/**
 * The request reporter's lines at the process's usual level (info): with `--log-requests` each finished request is
 * one line at info; without it nothing is written, and the line's object is never built (a getter on the record
 * shows whether it was read). Its metrics count either way.
 */
import { Writable } from "node:stream";
import { createClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker } from "../../src/cluster/load-tracker";
import type { RequestRecord } from "../../src/extproc/response-phase";
import { createRequestReporter } from "../../src/extproc/request-reporter";
import { createLogger } from "../../src/observability/logger";
import { createMetrics } from "../../src/observability/metrics";

const RECORD: RequestRecord = {
  requestId: "r1",
  model: "m1",
  pod: "p1",
  address: "10.0.0.1:8000",
  strategy: "random",
  fallbackReason: undefined,
  fallbackTo: undefined,
  status: 200,
  outcome: "success",
  stream: false,
  promptTokens: 3,
  completionTokens: 5,
  totalTokens: 8,
  usageUnreadable: undefined,
  decisionMs: 0.123456,
  firstByteMs: 12.3456789,
  firstTokenMs: undefined,
  totalMs: 45.6789,
  user: undefined,
  endpoint: "p1",
};

function reporter(logRequests: boolean): {
  lines: Record<string, unknown>[];
  finish: (r: RequestRecord) => void;
} {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString("utf8").split("\n")) if (text) lines.push(JSON.parse(text));
      cb();
    },
  });
  const metrics = createMetrics(createLoadTracker(), createClusterStore());
  const r = createRequestReporter(metrics, createLogger("info", sink), (s) => s, { logRequests });
  return { lines, finish: (rec) => r.sessionHooks.onFinished?.(rec) };
}

describe("request reporter lines", () => {
  it("with --log-requests: one line at info, durations rounded to 0.01 ms", () => {
    const { lines, finish } = reporter(true);
    finish(RECORD);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: "request finished",
      decisionMs: 0.12,
      firstByteMs: 12.35,
      totalMs: 45.68,
    });
  });

  it("without it, at info: no line, and the record's fields are not even read", () => {
    const { lines, finish } = reporter(false);
    let read = 0;
    const record = {
      ...RECORD,
      get firstByteMs() {
        read += 1;
        return 1;
      },
    };
    finish(record);
    expect(lines).toEqual([]);
    expect(read).toBe(0);
  });
});
