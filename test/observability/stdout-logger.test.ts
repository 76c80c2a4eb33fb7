/**
 * The process logger's bounded asynchronous buffer: a burst beyond the bound drops whole lines and counts them,
 * what was kept is written complete and in order by `flushSync`, and the request line keeps its shape.
 */
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createStdoutLogger } from "../../src/observability/logger";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A logger writing to a fresh file; returns it with a reader of the file's lines. */
function fileLogger(options: { maxBufferedBytes: number; batchBytes?: number }): {
  logger: ReturnType<typeof createStdoutLogger>;
  lines: () => Record<string, unknown>[];
  close: () => Promise<void>;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kvroute-log-"));
  dirs.push(dir);
  const file = path.join(dir, "out.log");
  const fd = openSync(file, "w");
  const logger = createStdoutLogger("info", { fd, flushMs: 60_000, ...options });
  return {
    logger,
    lines: () =>
      readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    // The logger owns `fd`: it closes it after its last write and stops its flush timer (closing the number here
    // instead left the timer to fsync a closed, or reused, descriptor: EBADF later in the same jest worker).
    close: () => logger.close(),
  };
}

describe("stdout logger", () => {
  it("drops whole lines beyond its bound, counts them, and flushes the rest complete and in order", async () => {
    // The batch size is above the bound, so no write starts during the burst and `flushSync` writes all that is kept.
    const { logger, lines, close } = fileLogger({ maxBufferedBytes: 12 * 1024, batchBytes: 16_000 });
    // One synchronous burst: no asynchronous write can complete meanwhile, so the buffer is the only room.
    const sent = 500;
    for (let i = 0; i < sent; i++) logger.log.info({ i, pad: "x".repeat(200) }, "request finished");
    expect(logger.droppedLines()).toBeGreaterThan(0);
    logger.flushSync();
    const written = lines();
    expect(written.length + logger.droppedLines()).toBe(sent);
    expect(written.length).toBeLessThanOrEqual((12 * 1024) / 200);
    const order = written.map((l) => l["i"] as number);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    for (const l of written) expect(l["msg"]).toBe("request finished");
    await close();
  });

  it("keeps every line under the bound, and redacts as before", async () => {
    const { logger, lines, close } = fileLogger({ maxBufferedBytes: 1 << 20 });
    for (let i = 0; i < 50; i++)
      logger.log.info({ i, authorization: "Bearer secret", prompt: "hello" }, "line");
    await logger.flush();
    const written = lines();
    expect(logger.droppedLines()).toBe(0);
    expect(written.map((l) => l["i"])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(written[0]).toMatchObject({ service: "kvroute", level: "info", authorization: "[redacted]" });
    expect(JSON.stringify(written)).not.toContain("secret");
    expect(JSON.stringify(written)).not.toContain("hello");
    await close();
  });

  it("flush lets the write under way finish first: every line, in order", async () => {
    const { logger, lines, close } = fileLogger({ maxBufferedBytes: 1 << 20, batchBytes: 1024 });
    // Writes start during this loop (every ~4 lines) and are still under way when it ends.
    for (let i = 0; i < 200; i++) logger.log.info({ i, pad: "y".repeat(200) }, "line");
    await logger.flush();
    expect(lines().map((l) => l["i"])).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await close();
  });

  it("flushSync with nothing buffered writes nothing and does not throw", async () => {
    const { logger, lines, close } = fileLogger({ maxBufferedBytes: 4096, batchBytes: 0 });
    logger.flushSync();
    expect(lines()).toEqual([]);
    await close();
  });
});
