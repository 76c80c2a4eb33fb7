/**
 * GPU profiles (AIBrix `pkg/cache/model_gpu_profile.go`): parsing, the signature tolerance rule,
 * newest-by-`created`, and refresh against a real, private redis-server (outage keeps the last good profiles;
 * recovery after restart).
 */
import Redis from "ioredis";
import {
  deploymentOf,
  gpuProfileKey,
  latencySeconds,
  lookup,
  parseGpuProfile,
  profileValue,
  throughputRps,
} from "../../src/cluster";
import type { GpuProfile } from "../../src/cluster";
import { createGpuProfiles, createRedisConnection } from "../../src/usage";
import type { GpuProfileRefreshResult, RedisConnection } from "../../src/usage";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger, StateWaiter } from "./helpers";

/** A GPU-optimizer-shaped profile: indexes [output tokens], [input tokens]. */
function profileJson(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gpu: "llama-a100",
    cost: 1.5,
    tputs: [
      [4, 2],
      [2, 1],
    ],
    indexes: [
      [4, 16],
      [64, 256],
    ],
    created: 1700000000.5,
    e2e: [
      [0.5, 1],
      [1, 2],
    ],
    ttft: [
      [0.1, 0.2],
      [0.1, 0.2],
    ],
    tpot: [
      [0.01, 0.02],
      [0.01, 0.02],
    ],
    slos: { percentile: 99, tput: 0, tt: 0, e2e: 2, ttft: 0.5, tpat: 0, tpot: 0.05 },
    ...over,
  };
}

function parsed(over: Record<string, unknown> = {}): GpuProfile {
  const r = parseGpuProfile(JSON.stringify(profileJson(over)));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe("parseGpuProfile", () => {
  it("loads every field and converts indexes to log2", () => {
    const p = parsed();
    expect(p.deployment).toBe("llama-a100");
    expect(p.cost).toBe(1.5);
    expect(p.created).toBe(1700000000.5);
    expect(p.indexes).toEqual([
      [2, 4],
      [6, 8],
    ]);
    expect(p.tputs).toEqual([
      [4, 2],
      [2, 1],
    ]);
    expect(p.e2e?.[1]?.[1]).toBe(2);
    expect(p.ttft?.[0]?.[1]).toBe(0.2);
    expect(p.tpot?.[0]?.[0]).toBe(0.01);
    expect(p.slos).toEqual({ percentile: 99, tput: 0, tt: 0, e2e: 2, ttft: 0.5, tpat: 0, tpot: 0.05 });
  });

  it("accepts absent optional fields (e2e/ttft/tpot/slos, SLO members default to 0)", () => {
    const p = parsed({ e2e: undefined, ttft: null, tpot: undefined, slos: { tpot: 0.1 } });
    expect(p.e2e).toBeUndefined();
    expect(p.ttft).toBeUndefined();
    expect(p.slos).toEqual({ percentile: 0, tput: 0, tt: 0, e2e: 0, ttft: 0, tpat: 0, tpot: 0.1 });
    expect(parsed({ slos: undefined }).slos).toBeUndefined();
  });

  it.each<[string, string | Record<string, unknown>, RegExp]>([
    ["not JSON", "{", /not JSON/],
    ["an array", "[]", /object/],
    ["missing gpu", profileJson({ gpu: undefined }), /^gpu/],
    ["gpu a number", profileJson({ gpu: 3 }), /^gpu/],
    ["missing cost", profileJson({ cost: undefined }), /^cost/],
    ["cost a string", profileJson({ cost: "1" }), /^cost/],
    ["missing created", profileJson({ created: undefined }), /^created/],
    ["created a string", profileJson({ created: "1700000000" }), /^created/],
    ["missing tputs", profileJson({ tputs: undefined }), /^tputs/],
    ["tputs flat", profileJson({ tputs: [1, 2] }), /^tputs\[0\]/],
    ["tputs with a string", profileJson({ tputs: [[1, "2"]] }), /^tputs\[0\]\[1\]/],
    ["missing indexes", profileJson({ indexes: undefined }), /^indexes/],
    ["index zero", profileJson({ indexes: [[0, 2], [1]] }), /positive/],
    ["index negative", profileJson({ indexes: [[1, 2], [-1]] }), /positive/],
    ["index descending", profileJson({ indexes: [[4, 2], [1]] }), /ascending/],
    ["e2e wrong type", profileJson({ e2e: "x" }), /^e2e/],
    ["ttft with null cell", profileJson({ ttft: [[null]] }), /^ttft\[0\]\[0\]/],
    ["slos not an object", profileJson({ slos: 3 }), /^slos/],
    ["slos field a string", profileJson({ slos: { e2e: "2" } }), /^slos\.e2e/],
    ["slos percentile fractional", profileJson({ slos: { percentile: 99.5 } }), /percentile/],
  ])("rejects %s", (_name, input, error) => {
    const r = parseGpuProfile(typeof input === "string" ? input : JSON.stringify(input));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it("builds the AIBrix key", () => {
    expect(gpuProfileKey("llama_7b", "dep-a")).toBe("aibrix:profile_llama_7b_dep-a");
  });
});

describe("lookup (GetSignature, SignatureTolerance = 0.5 in log2 space)", () => {
  // Index [4, 16, 64] → log2 [2, 4, 6]; the midpoint between 4 and 16 is log2 = 3, i.e. 8 tokens.
  const one = { indexes: [[2, 4, 6]] };
  it.each<[string, number, number]>([
    ["below the first index → clamped to 0", 1, 0],
    ["zero (log2 = -Infinity) → 0", 0, 0],
    ["equal to the first index", 4, 0],
    ["between, below the midpoint → lower", 7.99, 0],
    ["exactly at the midpoint → higher (not strictly below)", 8, 1],
    ["between, above the midpoint → higher", 9, 1],
    ["equal to a middle index", 16, 1],
    ["between 16 and 64, below midpoint 32 → lower", 31, 1],
    ["between 16 and 64, at midpoint 32 → higher", 32, 2],
    ["equal to the last index", 64, 2],
    ["above the last index → clamped to last", 1e9, 2],
    ["+Infinity → last", Infinity, 2],
  ])("%s", (_name, feature, expected) => {
    expect(lookup(one, [feature])).toEqual({ ok: true, value: [expected] });
  });

  it("looks up each dimension independently ([output, input])", () => {
    const p = parsed(); // log2 indexes [2,4] and [6,8]
    expect(lookup(p, [5, 300])).toEqual({ ok: true, value: [0, 1] });
    expect(lookup(p, [12, 100])).toEqual({ ok: true, value: [1, 0] });
  });

  it("a single-index dimension is always 0", () => {
    expect(lookup({ indexes: [[5]] }, [1e6])).toEqual({ ok: true, value: [0] });
  });

  it.each<[string, { indexes: number[][] }, number[], RegExp]>([
    ["no features", { indexes: [[1]] }, [], /missing values/],
    ["a negative feature", { indexes: [[1]] }, [-1], /positive/],
    ["a NaN feature", { indexes: [[1]] }, [NaN], /positive/],
    ["fewer index dimensions than features", { indexes: [[1]] }, [1, 2], /mismatch/],
    ["an empty index dimension", { indexes: [[]] }, [1], /at least 1/],
  ])("errors on %s", (_name, profile, features, error) => {
    const r = lookup(profile, features);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it("reads matrices at [sig0][sig1], undefined out of bounds", () => {
    const p = parsed();
    expect(throughputRps(p, [1, 0])).toBe(2);
    expect(latencySeconds(p, [0, 1])).toBe(1);
    expect(profileValue(p.tputs, [2, 0])).toBeUndefined();
    expect(profileValue(p.tputs, [0])).toBeUndefined();
    expect(profileValue(undefined, [0, 0])).toBeUndefined();
  });
});

describe("deploymentOf", () => {
  it("is the pod's discovered deployment (labels, owner references, endpoints file), undefined when unknown", () => {
    expect(deploymentOf({ deployment: "llama-h100" })).toBe("llama-h100");
    expect(deploymentOf({ deployment: "" })).toBeUndefined();
    expect(deploymentOf({})).toBeUndefined();
  });
});

describe("createGpuProfiles against redis-server", () => {
  let server: TestRedisServer;
  let conn: RedisConnection | undefined;
  let writer: Redis | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
    writer?.disconnect();
    writer = undefined;
  });
  afterAll(async () => {
    await server.stop();
  });

  async function connect(states?: StateWaiter): Promise<RedisConnection> {
    const opts = { host: server.host, port: server.port, log: captureLogger(), maxBackoffMs: 50 };
    const c = createRedisConnection(
      states === undefined ? opts : { ...opts, onStateChange: states.onStateChange },
    );
    await c.whenReady();
    return c;
  }

  async function newWriter(): Promise<Redis> {
    const w = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    await w.ping();
    return w;
  }

  it("loads profiles, keeps the newest by created, counts malformed and ignores other keys", async () => {
    conn = await connect();
    writer = await newWriter();
    await writer.flushall();
    await writer.set(gpuProfileKey("m1", "dep-a"), JSON.stringify(profileJson({ created: 100, cost: 1 })));
    await writer.set(gpuProfileKey("m_2", "dep_b"), JSON.stringify(profileJson({ created: 5 })));
    await writer.set(gpuProfileKey("m3", "bad"), "{not json");
    await writer.hset(gpuProfileKey("m4", "hash"), "f", "v");
    await writer.set("aibrix:other", JSON.stringify(profileJson()));
    const log = captureLogger();
    let seen: GpuProfileRefreshResult | undefined;
    const profiles = createGpuProfiles({
      redis: conn,
      log,
      now: () => 42,
      scanCount: 2,
      onRefresh: (r) => (seen = r),
    });

    const r1 = await profiles.refresh();
    expect(r1).toEqual({ ok: true, keys: 4, updated: 2, malformed: 1, missing: 1, truncated: false });
    expect(seen).toEqual(r1);
    expect(profiles.get("m1", "dep-a")?.cost).toBe(1);
    expect(profiles.get("m_2", "dep_b")?.created).toBe(5);
    expect(profiles.get("m3", "bad")).toBeUndefined();
    expect(profiles.getForPod("m1", {})).toBeUndefined();
    // The deployment discovery derived (the deployment label, else the owner ReplicaSet).
    expect(profiles.getForPod("m1", { deployment: "dep-a" })?.cost).toBe(1);
    expect(profiles.stats()).toMatchObject({
      refreshes: 1,
      failures: 0,
      malformed: 1,
      lastSuccessMs: 42,
      profiles: 2,
    });
    expect(log.lines).toContain("warn malformed gpu profile skipped");

    // Older created: not replaced. Equal created: not replaced. Newer: replaced.
    await writer.set(gpuProfileKey("m1", "dep-a"), JSON.stringify(profileJson({ created: 99, cost: 2 })));
    await profiles.refresh();
    expect(profiles.get("m1", "dep-a")?.cost).toBe(1);
    await writer.set(gpuProfileKey("m1", "dep-a"), JSON.stringify(profileJson({ created: 100, cost: 3 })));
    await profiles.refresh();
    expect(profiles.get("m1", "dep-a")?.cost).toBe(1);
    await writer.set(gpuProfileKey("m1", "dep-a"), JSON.stringify(profileJson({ created: 101, cost: 4 })));
    const r2 = await profiles.refresh();
    expect(r2).toMatchObject({ ok: true, updated: 1 });
    expect(profiles.get("m1", "dep-a")?.cost).toBe(4);

    // A key that later turns malformed keeps its last good profile.
    await writer.set(gpuProfileKey("m_2", "dep_b"), "[]");
    await profiles.refresh();
    expect(profiles.get("m_2", "dep_b")?.created).toBe(5);
  });

  it("caps the keys read per refresh", async () => {
    conn = await connect();
    writer = await newWriter();
    await writer.flushall();
    for (let i = 0; i < 5; i++) {
      await writer.set(gpuProfileKey(`m${i}`, "d"), JSON.stringify(profileJson({ created: i })));
    }
    const profiles = createGpuProfiles({ redis: conn, log: captureLogger(), maxKeys: 3, scanCount: 10 });
    const r = await profiles.refresh();
    expect(r).toMatchObject({ ok: true, keys: 3, truncated: true });
    expect(profiles.stats().profiles).toBe(3);
  });

  it("shares one in-flight refresh between concurrent callers", async () => {
    conn = await connect();
    const profiles = createGpuProfiles({ redis: conn, log: captureLogger() });
    const [a, b] = [profiles.refresh(), profiles.refresh()];
    expect(a).toBe(b);
    await a;
    expect(profiles.stats().refreshes).toBe(1);
  });

  it("start() refreshes at once; stop() is idempotent", async () => {
    conn = await connect();
    let resolve: (r: GpuProfileRefreshResult) => void = () => undefined;
    const first = new Promise<GpuProfileRefreshResult>((r) => (resolve = r));
    const profiles = createGpuProfiles({ redis: conn, log: captureLogger(), onRefresh: (r) => resolve(r) });
    profiles.start();
    profiles.start();
    expect((await first).ok).toBe(true);
    profiles.stop();
    profiles.stop();
  });

  it("keeps the last good profiles while Redis is down and recovers after a restart", async () => {
    const states = new StateWaiter();
    conn = await connect(states);
    writer = await newWriter();
    await writer.flushall();
    await writer.set(gpuProfileKey("m", "d"), JSON.stringify(profileJson({ created: 1, cost: 7 })));
    const log = captureLogger();
    const profiles = createGpuProfiles({ redis: conn, log });
    expect((await profiles.refresh()).ok).toBe(true);
    writer.disconnect();
    writer = undefined;

    await server.kill();
    await states.next("down");
    expect(await profiles.refresh()).toEqual({ ok: false, reason: "unavailable" });
    expect(await profiles.refresh()).toEqual({ ok: false, reason: "unavailable" });
    expect(profiles.get("m", "d")?.cost).toBe(7);
    expect(profiles.stats()).toMatchObject({ failures: 2, profiles: 1 });
    // One warning for the outage, not one per failed refresh.
    expect(log.lines.filter((l) => l.startsWith("warn gpu profile refresh failed"))).toHaveLength(1);

    await server.restart();
    await states.next("up");
    writer = await newWriter();
    await writer.set(gpuProfileKey("m", "d2"), JSON.stringify(profileJson({ created: 2, cost: 8 })));
    // The connection may still be settling right after the restart; wait on readiness events, never sleep.
    let after = await profiles.refresh();
    for (let i = 0; i < 5 && !after.ok; i++) {
      await conn.whenReady();
      after = await profiles.refresh();
    }
    expect(after).toMatchObject({ ok: true, keys: 1, updated: 1 });
    expect(profiles.get("m", "d2")?.cost).toBe(8);
    // The restarted server is empty; like AIBrix, profiles whose key vanished are kept.
    expect(profiles.get("m", "d")?.cost).toBe(7);
    expect(log.lines).toContain("info gpu profile refresh recovered");
  });
});
