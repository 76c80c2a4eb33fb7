/**
 * The pre-route hook's `finished` through the state machine, with the real in-process tenant budget hook: a
 * reservation made by `refuse` ends exactly once on every path — settled with the usage on completion, given back
 * whole when the request fails after it (no pod), is cancelled after routing, or is refused — and none is made for
 * a stream that ends before its verdict is read.
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import type { Session } from "../../src/extproc/session";
import { createTenantBudgets, createTenantTokenWindows } from "../../src/usage";
import type { TenantTokenWindows } from "../../src/usage/tenant-token-window";
import { makeFleet, MODEL } from "../routing/pods";
import { fleetDirector } from "../support/director-fixture";
import { sessionFactory } from "../support/session-fixture";
import { CHAT_HEADERS, body, chatBody, headers, responseBody, responseHeaders, setHeaders } from "./harness";

/** The tenant of every request here (`user` header, no Redis: a tenant key, not a record). */
const TENANT = "user:u1";

describe("session: the hook's effects end once", () => {
  let windows: TenantTokenWindows;
  let session: () => Session;
  let checks: string[];

  beforeEach(() => {
    windows = createTenantTokenWindows({ now: () => 0 });
    checks = [];
    const hook = createTenantBudgets({
      settings: { tenantHeader: undefined, defaultTpm: 1000, overrides: new Map() },
      store: { t: "memory", windows },
      observer: { onCheck: (o) => checks.push(o) },
    });
    session = sessionFactory({ router: fleetDirector(makeFleet(2)), extra: { admission: hook } });
  });

  /** Headers and a body asking for `maxTokens` of `model`: the body's replies. */
  async function start(s: Session, maxTokens: number, model = MODEL): Promise<ProcessingResponse[]> {
    s.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
    return Promise.resolve(s.handle(body(chatBody(model, "hi", { max_tokens: maxTokens }))));
  }

  it("settles to the usage on completion", async () => {
    const s = session();
    const [decision] = await start(s, 500);
    expect(setHeaders(decision)["target-pod"]).toBeDefined();
    expect(windows.used(TENANT)).toBe(501);
    s.handle(responseHeaders(200));
    s.handle(responseBody('{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}', true));
    s.close("client-ended");
    expect(windows.used(TENANT)).toBe(7);
  });

  it("gives the reservation back when the request fails after it (no pod serves the model)", async () => {
    const [r] = await start(session(), 500, "no-such-model");
    expect(r?.immediate_response?.status.code).toBe(400);
    expect(checks).toEqual(["reserved"]);
    expect(windows.used(TENANT)).toBe(0);
  });

  it("gives it back when the stream is cancelled after routing, and refuses what does not fit meanwhile", async () => {
    const s = session();
    await start(s, 600);
    const [refused] = await start(session(), 600);
    expect(refused?.immediate_response?.status.code).toBe(429);
    expect(windows.used(TENANT)).toBe(601);
    s.close("cancelled");
    s.close("cancelled");
    expect(windows.used(TENANT)).toBe(0);
  });

  it("reserves nothing for a stream that ends before its verdict is read", async () => {
    const s = session();
    const replies = start(s, 500);
    s.close("cancelled");
    expect(await replies).toEqual([]);
    expect(checks).toEqual([]);
    expect(windows.used(TENANT)).toBe(0);
  });
});
