/**
 * The stream's abort signal through a real gRPC stream: a client that cancels while its long prompt waits behind a
 * busy tokenizer pool, and a drain that starts meanwhile. The pool is kept busy by a job that blocks its only worker
 * until the test releases it, so "queued" is a fact, not a timing; the job is known to be queued once the pool's
 * `prepare` was called (it queues synchronously).
 */
import * as grpc from "@grpc/grpc-js";
import type { WorkerPool } from "../../src/tokenize";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "./harness";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
/** Longer than the character tokenizer's inline bound (16 384): it goes to a worker. */
const LONG = "x".repeat(20_000);
const PREFIX_HEADERS = { ...CHAT_HEADERS, "routing-strategy": "prefix-cache" };

describe("a stream's signal reaches the tokenizer pool", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  /** Start kvroute with one worker, held busy; resolves once a stream's long prompt is queued behind it. */
  async function queuedBehindBusyPool(): Promise<{
    pool: WorkerPool;
    /** Unblock the worker; resolves with how the holding job ended (`closed` when a drain closed the pool). */
    release: () => Promise<"answered" | "closed">;
    stream: ReturnType<Harness["client"]["open"]>;
  }> {
    h = await startHarness(PODS, ["--tokenize-workers", "1"]);
    const pool = h.server.tokenizerPool;
    if (pool === undefined) throw new Error("no tokenizer pool");
    const hold = pool.holdOneForTest();
    const ended = hold.done.then(
      () => "answered" as const,
      () => "closed" as const,
    );
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const original = pool.prepare.bind(pool);
    jest.spyOn(pool, "prepare").mockImplementation((...args) => {
      const p = original(...args);
      queued();
      return p;
    });
    const stream = h.client.open();
    await stream.exchange(headers(PREFIX_HEADERS));
    stream.send(body(chatBody("m1", LONG)));
    await isQueued;
    expect(pool.stats()).toMatchObject({ queued: 1, inFlight: 1 });
    return {
      pool,
      stream,
      release: () => {
        hold.release();
        return ended;
      },
    };
  }

  async function cancelled(stage: "queued" | "running"): Promise<number> {
    const m = await h.server.metrics.tokenizeCancelled.get();
    return m.values.find((v) => v.labels["stage"] === stage)?.value ?? 0;
  }

  it("a client cancel drops its queued tokenize job before any worker runs it, and reserves nothing", async () => {
    const { pool, stream, release } = await queuedBehindBusyPool();
    const dispatched = pool.stats().dispatched;
    const idle = h.server.extProc.idle();
    stream.cancel();
    expect((await stream.status).code).toBe(grpc.status.CANCELLED);
    await idle;
    expect(pool.stats()).toMatchObject({ queued: 0, cancelledQueued: 1 });
    expect(await cancelled("queued")).toBe(1);
    expect(await release()).toBe("answered");
    // The worker is free again and took nothing more: the dropped job never reached it.
    expect(pool.stats()).toMatchObject({ dispatched, inFlight: 0, queued: 0 });
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("a drain refuses a stream still tokenizing with the 503 envelope and drops its job", async () => {
    const { pool, stream, release } = await queuedBehindBusyPool();
    const drained = h.server.drain({ delayMs: 0, timeoutMs: 60_000 });
    const reply = await stream.next();
    expect(reply?.immediate_response?.status.code).toBe(503);
    const set = reply?.immediate_response?.headers?.set_headers ?? [];
    const draining = set.find((x) => x.header?.key === "x-error-draining");
    expect(draining).toBeDefined();
    expect((await stream.status).code).toBe(grpc.status.OK);
    expect(pool.stats()).toMatchObject({ queued: 0, cancelledQueued: 1 });
    expect(await cancelled("queued")).toBe(1);
    expect(h.server.load.totalRequests()).toBe(0);
    await drained;
    // The drain closed the pool, holding job and all, once no stream was open.
    expect(await release()).toBe("closed");
  });
});
