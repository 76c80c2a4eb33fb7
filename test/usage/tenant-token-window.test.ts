/**
 * The in-process budget window's arithmetic, in memory with an injected clock: reservations against the budget,
 * settlement in the reservation's bucket while it is in the window, the boundary rule once it has left, the sliding
 * expiry, and the tenant bound. Plus the reservation size (prompt + max_tokens / prediction / default).
 */
import type { InferenceRequest } from "../../src/request";
import { BUDGET_BUCKET_MS, createTenantTokenWindows } from "../../src/usage/tenant-token-window";
import type { WindowReservation } from "../../src/usage/tenant-token-window";
import { DEFAULT_RESERVED_OUTPUT_TOKENS, reservedTokens } from "../../src/usage/token-reservation";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function reserved(r: ReturnType<ReturnType<typeof createTenantTokenWindows>["reserve"]>): WindowReservation {
  if (!r.ok) throw new Error(`refused with ${r.used} in use`);
  return r.reservation;
}

describe("tenant token windows", () => {
  it("admits while the reservation fits, refuses past the budget without counting the refusal", () => {
    const c = clock();
    const w = createTenantTokenWindows({ now: c.now });
    reserved(w.reserve("t", 600, 1000));
    expect(w.reserve("t", 401, 1000)).toEqual({ ok: false, used: 600 });
    expect(w.used("t")).toBe(600);
    reserved(w.reserve("t", 400, 1000));
    expect(w.used("t")).toBe(1000);
    // A reservation larger than the whole budget never fits.
    expect(w.reserve("other", 1001, 1000).ok).toBe(false);
    expect(w.used("other")).toBe(0);
  });

  it("settles to the actual usage in the reservation's bucket; undefined releases it; twice does nothing", () => {
    const c = clock();
    const w = createTenantTokenWindows({ now: c.now });
    const a = reserved(w.reserve("t", 600, 1000));
    const b = reserved(w.reserve("t", 300, 1000));
    c.advance(BUDGET_BUCKET_MS * 2);
    w.settle(a, 250);
    expect(w.used("t")).toBe(550);
    w.settle(a, 10_000);
    expect(w.used("t")).toBe(550);
    w.settle(b, undefined);
    expect(w.used("t")).toBe(250);
  });

  it("counts tokens for one minute, sliding by bucket", () => {
    const c = clock(0);
    const w = createTenantTokenWindows({ now: c.now });
    reserved(w.reserve("t", 100, 1000));
    c.advance(BUDGET_BUCKET_MS * 3);
    reserved(w.reserve("t", 200, 1000));
    c.advance(BUDGET_BUCKET_MS * 2 + BUDGET_BUCKET_MS - 1);
    expect(w.used("t")).toBe(300);
    c.advance(1);
    expect(w.used("t")).toBe(200);
    c.advance(BUDGET_BUCKET_MS * 3);
    expect(w.used("t")).toBe(0);
  });

  it("once its bucket left the window, a surplus is dropped and a shortfall charged to the current bucket", () => {
    const c = clock(0);
    const w = createTenantTokenWindows({ now: c.now });
    const surplus = reserved(w.reserve("t", 500, 1000));
    const shortfall = reserved(w.reserve("t", 100, 1000));
    c.advance(BUDGET_BUCKET_MS * 6);
    expect(w.used("t")).toBe(0);
    w.settle(surplus, 50);
    expect(w.used("t")).toBe(0);
    w.settle(shortfall, 350);
    expect(w.used("t")).toBe(250);
  });

  it("a clock stepping back is treated as standing still", () => {
    const c = clock(BUDGET_BUCKET_MS * 10);
    const w = createTenantTokenWindows({ now: c.now });
    reserved(w.reserve("t", 100, 1000));
    c.advance(-BUDGET_BUCKET_MS * 5);
    expect(w.used("t")).toBe(100);
  });

  it("forgets the least recently touched tenant at the bound; reservations settle in whichever record is current", () => {
    const c = clock();
    const w = createTenantTokenWindows({ now: c.now, maxTenants: 2 });
    const old = reserved(w.reserve("a", 900, 1000));
    const forgotten = reserved(w.reserve("b", 900, 1000));
    reserved(w.reserve("a", 50, 1000));
    reserved(w.reserve("c", 900, 1000));
    expect(w.size()).toBe(2);
    // b was the least recent: it starts again from zero (the bound errs open, for it only).
    expect(w.used("b")).toBe(0);
    expect(w.used("a")).toBe(950);
    w.settle(old, 100);
    expect(w.used("a")).toBe(150);
    // A forgotten tenant's reservation only brings its shortfall back (to the current bucket of a new record).
    w.settle(forgotten, 1000);
    expect(w.used("b")).toBe(100);
  });
});

describe("reservation size", () => {
  const request = (over: Partial<InferenceRequest>): InferenceRequest => ({
    endpoint: "chat-completions",
    path: "/v1/chat/completions",
    model: "m",
    stream: false,
    includeUsage: false,
    user: undefined,
    maxTokens: undefined,
    prompt: { t: "text", text: "x" },
    promptTokens: 40,
    bodyBytes: 100,
    ...over,
  });

  it("prompt + max_tokens, else the prediction, else the default; embeddings reserve their prompt only", () => {
    const predict = (model: string, prompt: number): number | undefined =>
      model === "known" ? prompt * 2 : undefined;
    expect(reservedTokens(request({ maxTokens: 100 }), predict)).toBe(140);
    expect(reservedTokens(request({ model: "known" }), predict)).toBe(120);
    expect(reservedTokens(request({}), predict)).toBe(40 + DEFAULT_RESERVED_OUTPUT_TOKENS);
    expect(reservedTokens(request({}), undefined)).toBe(40 + DEFAULT_RESERVED_OUTPUT_TOKENS);
    expect(reservedTokens(request({ endpoint: "embeddings", maxTokens: 100 }), predict)).toBe(40);
  });
});
