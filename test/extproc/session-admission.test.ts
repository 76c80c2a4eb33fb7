/**
 * The state machine with a user admission check in it, driven directly over a real private redis-server: the
 * check starts at request headers and the body's reply waits for it; a stream that ends meanwhile reserves
 * nothing; a rejection is the immediate response; the record carries the user for the TPM charge.
 */
import Redis from "ioredis";
import type { ProcessingResponse } from "../../src/extproc/messages";
import type { RequestRecord } from "../../src/extproc/response-phase";
import type { Session } from "../../src/extproc/session";
import { createRedisConnection, createUserLimits } from "../../src/usage";
import type { RedisConnection } from "../../src/usage";
import { createUserAdmission } from "../../src/usage/user-admission";
import type { AdmissionOutcome, UserAdmission } from "../../src/usage/user-admission";
import { makeFleet, MODEL } from "../routing/pods";
import type { Fleet } from "../routing/pods";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { fleetDirector } from "../support/director-fixture";
import { sessionFactory, tickingClock } from "../support/session-fixture";
import { captureLogger } from "../usage/helpers";
import { CHAT_HEADERS, body, chatBody, headers, responseBody, responseHeaders, setHeaders } from "./harness";

describe("session with user admission", () => {
  let server: TestRedisServer;
  let redis: RedisConnection;
  let reader: Redis;
  let admission: UserAdmission;
  const outcomes: AdmissionOutcome[] = [];
  let fleet: Fleet;
  let finished: RequestRecord[];
  let session: () => Session;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisConnection({ host: server.host, port: server.port, log: captureLogger() });
    await redis.whenReady();
    reader = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    const limits = createUserLimits({ redis, log: captureLogger() });
    admission = createUserAdmission({ limits, observer: { onCheck: (o) => outcomes.push(o) } });
    await reader.set("aibrix-users/u1", JSON.stringify({ name: "u1", rpm: 1, tpm: 0 }));
  });
  afterAll(async () => {
    reader.disconnect();
    await redis.close();
    await server.stop();
  });
  beforeEach(async () => {
    // A fresh minute window for every test: the counters are the only state the tests share.
    await reader.flushdb();
    await reader.set("aibrix-users/u1", JSON.stringify({ name: "u1", rpm: 1, tpm: 0 }));
    outcomes.length = 0;
    fleet = makeFleet(3);
    finished = [];
    session = sessionFactory({
      router: fleetDirector(fleet),
      hooks: { onFinished: (r) => finished.push(r) },
      now: tickingClock(),
      extra: { admission },
    });
  });

  /** The body reply must wait for Redis: it is a promise. */
  function pending(r: ProcessingResponse[] | Promise<ProcessingResponse[]>): Promise<ProcessingResponse[]> {
    expect(r).toBeInstanceOf(Promise);
    return Promise.resolve(r);
  }

  it("answers the headers at once, routes after the check, and reports the user", async () => {
    const s = session();
    const hr = s.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
    expect(Array.isArray(hr)).toBe(true);
    const [decision] = await pending(s.handle(body(chatBody(MODEL))));
    expect(setHeaders(decision)["target-pod"]).toBeDefined();
    expect(fleet.load.totalRequests()).toBe(1);
    const [rh] = s.handle(responseHeaders(200)) as ProcessingResponse[];
    expect(setHeaders(rh)["x-update-rpm"]).toBe("1");
    s.handle(responseBody('{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}', true));
    s.close("client-ended");
    expect(finished).toEqual([expect.objectContaining({ user: "u1", totalTokens: 7, outcome: "success" })]);
    expect(outcomes).toEqual(["allowed"]);
  });

  it("a stream closed while Redis answers reserves nothing and is reported once, as cancelled", async () => {
    const s = session();
    s.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
    const replies = pending(s.handle(body(chatBody(MODEL))));
    s.close("cancelled");
    expect(await replies).toEqual([]);
    expect(fleet.load.totalRequests()).toBe(0);
    expect(finished).toEqual([
      expect.objectContaining({
        outcome: "cancelled",
        closeReason: "cancelled",
        pod: undefined,
        user: undefined,
      }),
    ]);
  });

  it("a stream closed before its body leaves the started check harmless", async () => {
    const s = session();
    s.handle(headers({ ...CHAT_HEADERS, user: "nobody" }));
    s.close("cancelled");
    // The record's read is already in flight (ioredis cannot abort it); its answer is then ignored: the check stops
    // as cancelled (no RPM counted), nothing waits for it and nothing is reserved.
    while (outcomes.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes).toEqual(["cancelled"]);
    expect(fleet.load.totalRequests()).toBe(0);
  });

  it("a rejection is the immediate response and ends the stream", async () => {
    const first = session();
    first.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
    await pending(first.handle(body(chatBody(MODEL))));
    const s = session();
    s.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
    const [r] = await pending(s.handle(body(chatBody(MODEL))));
    expect(r?.immediate_response?.status.code).toBe(429);
    expect(s.ended).toBe(true);
    expect(fleet.load.totalRequests()).toBe(1); // only the first request's pick
    first.close("cancelled");
    s.close("client-ended");
    expect(outcomes).toEqual(["allowed", "rpm_exceeded"]);
  });

  it("Redis down: the user is routed unchecked and still named for the charge", async () => {
    await server.kill();
    try {
      const s = session();
      s.handle(headers({ ...CHAT_HEADERS, user: "u1" }));
      const [decision] = await pending(s.handle(body(chatBody(MODEL))));
      expect(setHeaders(decision)["target-pod"]).toBeDefined();
      const [rh] = s.handle(responseHeaders(200)) as ProcessingResponse[];
      expect(setHeaders(rh)["x-update-rpm"]).toBeUndefined();
      s.handle(responseBody("{}", true));
      expect(finished[0]?.user).toBe("u1");
      expect(outcomes).toEqual(["unavailable"]);
    } finally {
      await server.restart();
      await redis.whenReady();
      // The reader reconnects on its own backoff; wait for it too (its offline queue holds the ping meanwhile).
      await reader.ping();
    }
  });
});
