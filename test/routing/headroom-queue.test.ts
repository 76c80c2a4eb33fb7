import { Code, RouteError } from "../../src/errors";
import { createHeadroomQueue, type HeadroomQueueObserver } from "../../src/routing/headroom-queue";

/** An observer recording `event:model` lines. */
function recorder(): HeadroomQueueObserver & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onEnqueued: (m) => events.push(`enqueued:${m}`),
    onRejected: (m) => events.push(`rejected:${m}`),
    onTimeout: (m) => events.push(`timeout:${m}`),
    onCancelled: (m) => events.push(`cancelled:${m}`),
    onDequeued: (m) => events.push(`dequeued:${m}`),
  };
}

/** A slot that `attempt` can take once `open` is true (a stand-in for pod headroom). */
function gate() {
  let room = 0;
  return {
    free: (n = 1) => (room += n),
    attempt:
      <T>(value: T) =>
      (): T | undefined => {
        if (room <= 0) return undefined;
        room--;
        return value;
      },
  };
}

async function rejection(p: Promise<unknown>): Promise<RouteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RouteError) return e;
    throw e;
  }
  throw new Error("expected a rejection");
}

describe("headroom queue", () => {
  it("refuses beyond the bound per model with 429 and the slo-queue-full header", async () => {
    const obs = recorder();
    const q = createHeadroomQueue({ maxQueuedPerModel: 2, maxWaitMs: 60_000, observer: obs });
    const g = gate();
    const waits = [q.wait("m", g.attempt(1)), q.wait("m", g.attempt(2))];
    const other = q.wait("n", g.attempt(3)); // another model has its own bound
    const err = await rejection(q.wait("m", g.attempt(4)));
    expect(err.code).toBe(Code.RateLimited);
    expect(err.errorHeader).toEqual(["x-error-slo-queue-full", "true"]);
    expect(q.length("m")).toBe(2);
    expect(q.lengths()).toEqual([
      ["m", 2],
      ["n", 1],
    ]);
    g.free(3);
    q.wakeAll();
    expect(await Promise.all([...waits, other])).toEqual([1, 2, 3]);
    expect(obs.events.filter((e) => e.startsWith("rejected"))).toEqual(["rejected:m"]);
    expect(q.lengths()).toEqual([]);
  });

  it("with a bound of 0 refuses every wait", async () => {
    const q = createHeadroomQueue({ maxQueuedPerModel: 0 });
    expect((await rejection(q.wait("m", () => 1))).code).toBe(Code.RateLimited);
  });

  it("times out with 503 naming the model and the wait, and the next waiter moves up", async () => {
    const obs = recorder();
    const q = createHeadroomQueue({ maxWaitMs: 5, observer: obs });
    const err = await rejection(q.wait("m", () => undefined));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.message).toBe("no pod of model m had headroom within 5 ms");
    expect(err.errorHeader).toEqual(["x-error-slo-queue-timeout", "true"]);
    expect(q.length("m")).toBe(0);
    expect(obs.events).toEqual(["enqueued:m", "timeout:m"]);
  });

  it("a waiter whose signal aborts leaves the queue at once; an aborted signal never enters", async () => {
    const obs = recorder();
    const q = createHeadroomQueue({ maxWaitMs: 60_000, observer: obs });
    const g = gate();
    const abort = new AbortController();
    const first = q.wait("m", g.attempt("first"), abort.signal);
    const second = q.wait("m", g.attempt("second"));
    abort.abort();
    expect(q.length("m")).toBe(1);
    expect((await rejection(first)).message).toMatch(/cancelled/);
    expect((await rejection(q.wait("m", g.attempt("x"), abort.signal))).message).toMatch(/cancelled/);
    g.free();
    q.wake("m");
    expect(await second).toBe("second");
    expect(obs.events).toEqual(["enqueued:m", "enqueued:m", "cancelled:m", "dequeued:m"]);
  });

  it("when the head leaves, the next waiter is tried at once", async () => {
    const q = createHeadroomQueue({ maxWaitMs: 60_000 });
    const abort = new AbortController();
    const head = q.wait("m", () => undefined, abort.signal);
    const next = q.wait("m", () => "next");
    abort.abort();
    await expect(head).rejects.toThrow();
    expect(await next).toBe("next");
  });

  it("wakes in FIFO order and stops at the first waiter that still has no room", async () => {
    const q = createHeadroomQueue({ maxWaitMs: 60_000 });
    const g = gate();
    const order: string[] = [];
    const ws = ["a", "b", "c"].map((v) => q.wait("m", g.attempt(v)).then((x) => order.push(x)));
    q.wake("m"); // no room: nothing moves
    expect(q.length("m")).toBe(3);
    g.free(2);
    q.wake("m");
    expect(q.length("m")).toBe(1);
    g.free();
    q.wake("m");
    await Promise.all(ws);
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("a head that does not fit blocks smaller waiters behind it (no starvation)", () => {
    const q = createHeadroomQueue({ maxWaitMs: 60_000 });
    let room = 1;
    const big = q.wait("m", () => (room >= 2 ? "big" : undefined));
    const small = q.wait("m", () => (room >= 1 ? "small" : undefined));
    q.wake("m");
    expect(q.length("m")).toBe(2);
    room = 2;
    q.wake("m");
    return expect(Promise.all([big, small])).resolves.toEqual(["big", "small"]);
  });

  it("an attempt that throws rejects only its waiter", async () => {
    const q = createHeadroomQueue({ maxWaitMs: 60_000 });
    const bad = q.wait("m", () => {
      throw new Error("strategy bug");
    });
    const good = q.wait("m", () => "ok");
    q.wake("m");
    await expect(bad).rejects.toThrow("strategy bug");
    expect(await good).toBe("ok");
    expect(q.length("m")).toBe(0);
  });
});
