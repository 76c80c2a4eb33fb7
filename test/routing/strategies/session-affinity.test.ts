import type { Pod } from "../../../src/cluster/pod";
import { createDirector, type DirectorObserver } from "../../../src/routing/director";
import { createStrategyRegistry } from "../../../src/routing/registry";
import {
  factory,
  MAX_SESSION_KEY_BYTES,
  Reason,
  SESSION_ID_HEADER,
  SESSION_KEY_HEADER,
  TYPE,
} from "../../../src/routing/strategies/session-affinity";
import {
  fnvMix,
  fnvStart,
  rendezvousIndex,
  rendezvousWins,
} from "../../../src/routing/strategies/session-affinity/fnv";
import { headersOf, makeContext, makeFleet, makePod, makeRequest, seededRandom, type Fleet } from "../pods";
import { runStrategyContract } from "../strategy-contract";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

runStrategyContract({
  name: TYPE,
  factory,
  headerSets: [
    {},
    { [SESSION_KEY_HEADER]: "conversation-42" },
    { [SESSION_ID_HEADER]: b64("10.0.0.1:8000") },
    { [SESSION_ID_HEADER]: "%%%not-base64" },
  ],
});

/** Reference: 64-bit FNV-1a of key ‖ 0 ‖ address with BigInt, as AIBrix's Go code computes it. */
function referenceHash(key: string, address: string): bigint {
  const mask = (1n << 64n) - 1n;
  let h = 14695981039346656037n;
  for (const b of [...Buffer.from(key, "utf8"), 0, ...Buffer.from(address, "utf8")]) {
    h ^= BigInt(b);
    h = (h * 1099511628211n) & mask;
  }
  return h;
}

/** Reference rendezvous winner: highest hash, ties to the smaller address. */
function referenceWinner(key: string, pods: readonly Pod[]): Pod {
  let best: Pod | undefined;
  let bestHash = -1n;
  for (const p of pods) {
    const h = referenceHash(key, p.address);
    if (h > bestHash || (h === bestHash && best !== undefined && p.address < best.address)) {
      best = p;
      bestHash = h;
    }
  }
  return best as Pod;
}

function directorFor(fleet: Fleet, observer: DirectorObserver = {}) {
  const registry = createStrategyRegistry();
  registry.register(factory);
  const director = createDirector({
    registry,
    cluster: () => fleet.store.snapshot(),
    load: fleet.load,
    defaultStrategy: TYPE,
    random: seededRandom(3),
    observer,
  });
  return (headers: Record<string, string>) => {
    const pick = director.route({
      requestId: "r",
      request: makeRequest(),
      headers: headersOf(headers),
      strategyHeader: undefined,
    });
    if (pick.t === "none") throw new Error("expected a pick");
    pick.release({ kind: "success" });
    return pick;
  };
}

describe("session-affinity", () => {
  const strategy = factory.create({}, { now: () => 0 });

  it("sticks to the pod named by x-session-id and echoes it", () => {
    const fleet = makeFleet(5);
    const route = directorFor(fleet);
    for (const pod of fleet.pods) {
      for (let k = 0; k < 10; k++) {
        const pick = route({
          [SESSION_ID_HEADER]: b64(pod.address),
          [SESSION_KEY_HEADER]: "ignored-when-sticky",
        });
        expect(pick).toMatchObject({ t: "routed", pod });
        expect(pick.responseHeaders).toEqual([[SESSION_ID_HEADER, b64(pod.address)]]);
      }
    }
  });

  it("matches bracketed IPv6 addresses", () => {
    const pods = [makePod(0, { ip: "fd00::1" }), makePod(1, { ip: "fd00::2" })];
    const result = strategy.score(
      makeContext(makeFleet(0).load, { headers: { [SESSION_ID_HEADER]: b64("[fd00::2]:8000") } }),
      pods,
    );
    expect(result.t === "scores" && Array.from(result.scores)).toEqual([0, 1]);
  });

  it.each<[string, Record<string, string>, string]>([
    ["no headers", {}, Reason.NoSessionKey],
    ["empty key", { [SESSION_KEY_HEADER]: "" }, Reason.NoSessionKey],
    [
      "session id of a pod that is gone",
      { [SESSION_ID_HEADER]: b64("10.9.9.9:8000") },
      Reason.UnknownSessionId,
    ],
    ["session id that is not base64", { [SESSION_ID_HEADER]: "10.0.0.1:8000" }, Reason.UnknownSessionId],
    [
      "session id without padding",
      { [SESSION_ID_HEADER]: b64("10.0.0.1:8000").replace(/=+$/, "") },
      Reason.UnknownSessionId,
    ],
    [
      "key over 256 bytes",
      { [SESSION_KEY_HEADER]: "k".repeat(MAX_SESSION_KEY_BYTES + 1) },
      Reason.SessionKeyTooLong,
    ],
    ["multi-byte key over 256 bytes", { [SESSION_KEY_HEADER]: "é".repeat(129) }, Reason.SessionKeyTooLong],
  ])("falls back (counted) on %s", (_label, headers, reason) => {
    const onFallback = jest.fn();
    const fleet = makeFleet(4);
    const pick = directorFor(fleet, { onFallback })(headers);
    expect(pick).toMatchObject({ t: "fallback", reason });
    expect(onFallback).toHaveBeenCalledWith(TYPE, reason);
    expect(pick.responseHeaders).toEqual([[SESSION_ID_HEADER, b64(pick.pod.address)]]);
  });

  it("uses the key when the session id names a pod that is gone", () => {
    const fleet = makeFleet(4);
    const key = "after-failover";
    const pick = directorFor(fleet)({ [SESSION_ID_HEADER]: b64("10.9.9.9:8000"), [SESSION_KEY_HEADER]: key });
    expect(pick).toMatchObject({ t: "routed", pod: referenceWinner(key, fleet.pods) });
  });

  it("accepts a key of exactly 256 bytes", () => {
    const fleet = makeFleet(4);
    const key = "k".repeat(MAX_SESSION_KEY_BYTES);
    expect(directorFor(fleet)({ [SESSION_KEY_HEADER]: key })).toMatchObject({
      t: "routed",
      pod: referenceWinner(key, fleet.pods),
    });
  });

  it("maps keys by rendezvous hashing exactly as the reference, stable across calls and pod order", () => {
    const fleet = makeFleet(8);
    const route = directorFor(fleet);
    const reversed = [...fleet.pods].reverse();
    for (let k = 0; k < 200; k++) {
      const key = `session-${k}`;
      const expected = referenceWinner(key, fleet.pods);
      expect(route({ [SESSION_KEY_HEADER]: key }).pod).toBe(expected);
      expect(route({ [SESSION_KEY_HEADER]: key }).pod).toBe(expected);
      const r = strategy.score(makeContext(fleet.load, { headers: { [SESSION_KEY_HEADER]: key } }), reversed);
      expect(r.t === "scores" && reversed[Array.from(r.scores).indexOf(1)]).toBe(expected);
    }
  });

  it("moves only the keys of a removed pod, and spreads them over the rest", () => {
    const fleet = makeFleet(8);
    const keys = Array.from({ length: 2000 }, (_, k) => `user-${k}`);
    const before = new Map(keys.map((k) => [k, directorFor(fleet)({ [SESSION_KEY_HEADER]: k }).pod.key]));
    const removed = fleet.pods[3] as Pod;
    fleet.store.replace(fleet.pods.filter((p) => p !== removed));
    const route = directorFor(fleet);
    const landed = new Set<string>();
    let moved = 0;
    for (const k of keys) {
      const now = route({ [SESSION_KEY_HEADER]: k }).pod.key;
      if (before.get(k) === removed.key) {
        moved++;
        landed.add(now);
      } else {
        expect(now).toBe(before.get(k));
      }
    }
    expect(moved).toBeGreaterThan(150); // about 2000/8
    expect(landed.size).toBe(7);
  });

  it("spreads keys roughly evenly", () => {
    const fleet = makeFleet(4);
    const route = directorFor(fleet);
    const counts = new Map<string, number>();
    for (let k = 0; k < 4000; k++) {
      const pod = route({ [SESSION_KEY_HEADER]: `k${k}` }).pod.key;
      counts.set(pod, (counts.get(pod) ?? 0) + 1);
    }
    for (const n of counts.values()) expect(n).toBeGreaterThan(800);
  });

  describe("fnv", () => {
    const hex = (s: Uint32Array) => ((BigInt(s[0] as number) << 32n) | BigInt(s[1] as number)).toString(16);

    it.each<[string, string]>([
      ["", "cbf29ce484222325"],
      ["a", "af63dc4c8601ec8c"],
      ["foobar", "85944171f73967e8"],
    ])("FNV-1a 64 of %j is %s", (input, expected) => {
      const s = fnvStart();
      fnvMix(s, input);
      expect(hex(s)).toBe(expected);
    });

    it("agrees with the BigInt reference on random keys and addresses, including non-ASCII", () => {
      const rng = seededRandom(77);
      const alphabet = "abcXYZ019:.-[]é€🙂\u0000";
      const word = () =>
        Array.from(
          { length: Math.floor(rng() * 40) },
          () => alphabet[Math.floor(rng() * alphabet.length)],
        ).join("");
      for (let k = 0; k < 500; k++) {
        const key = word();
        const addr = word();
        const s = fnvStart();
        fnvMix(s, Buffer.from(key, "utf8"));
        fnvMix(s, [0]);
        fnvMix(s, addr);
        expect(hex(s)).toBe(referenceHash(key, addr).toString(16));
      }
    });

    it("picks like the reference for non-ASCII (static host name) addresses too", () => {
      const pods = ["höst-a", "host-b", "hôst-c", "10.0.0.1", "ホスト"].map((ip, i) => makePod(i, { ip }));
      for (let k = 0; k < 300; k++) {
        const key = `k${k}`;
        expect(pods[rendezvousIndex(Buffer.from(key), pods)]).toBe(referenceWinner(key, pods));
      }
      expect(rendezvousIndex(Buffer.from("x"), [])).toBe(-1);
    });

    it.each<[number, number, string, boolean]>([
      [2, 0, "b", true],
      [1, 0xffffffff, "b", true], // halves compare unsigned
      [0, 0xffffffff, "a", false],
      [1, 5, "a", true],
      [1, 5, "b", false],
      [1, 4, "a", false],
    ])("(hi=%d, lo=%d, %j) beats (1, 5, 'ab'): %s", (hi, lo, addr, wins) => {
      expect(rendezvousWins(hi, lo, addr, 1, 5, "ab")).toBe(wins);
    });
  });
});
