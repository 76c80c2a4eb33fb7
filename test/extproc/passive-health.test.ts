/**
 * Fault test of passive health, for every built-in strategy: a real kvroute (gRPC + scraper) over four real
 * loopback pods. The test plays Envoy: it runs the ext_proc conversation, forwards the request to the picked pod
 * itself, and reports the upstream result back through the response phase — the pod's own response (with
 * `x-envoy-upstream-service-time`, as Envoy's router adds it), or Envoy's 503 local reply when the connect fails.
 *
 * Under load (8 requests in flight) one pod is killed: it must be ejected within its first few failures, and
 * after that it must get at most 1 % of the decisions (in practice none: passive health's clock is injected and
 * frozen, so the backoff cannot end by itself). Then the pod restarts and the clock is stepped past the longest
 * backoff: the pod must get traffic again through a probe. Driven by request counts and events, never by time.
 */
import type { Pod } from "../../src/cluster/pod";
import { formatAddress } from "../../src/cluster/pod";
import type { PodHealthDetails } from "../../src/cluster/health";
import { createStrategyRegistry } from "../../src/routing";
import { registerBuiltins } from "../../src/routing/strategies";
import { forward, startKillablePod } from "../support/killable-pods";
import type { KillablePod } from "../support/killable-pods";
import type { ExtProcClient, Harness } from "./harness";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";

const CONCURRENCY = 8;
const CONSECUTIVE = 5;
/**
 * Decisions counted after the ejection: at least this many, and the `CONCURRENCY - 1` already in flight when the
 * count is reached (27 in all, in practice). 1 % of them may go to the dead pod (rounded down: none). Passive health
 * filters the candidates once, in the director, before any strategy runs. With that filter bypassed, every run
 * failed here (two per strategy): the dead pod got 3 to 14 of the 27, a quarter on average, and about 1/6 for the
 * least-hit strategy. A strategy that reached around the filter at that rate would pass unseen with probability
 * (5/6)^27 < 1 % ((5/6)^20 < 3 % at the least), a bypass in the director (every strategy at once) never.
 */
const AFTER_EJECTION = 20;
/**
 * A dead pod is ejected once `CONSECUTIVE` of its failures are reported; when the last of them is reported, at most
 * `CONCURRENCY - 1` other requests can be in flight towards it. So it gets at most this many requests in all.
 */
const FIRST_FAILURES = CONSECUTIVE + CONCURRENCY - 1;
/**
 * Strategies that score pods by kvroute's own measured latency/throughput/duration (`throughput`: a pod without an
 * observation scores 0; `least-latency` and `least-busy-time` rank by decayed wall-clock means; the test failed
 * twice on a loaded machine with the restarted pod healthy but picked only twice in the phase). Whether the
 * restarted pod wins a pick again depends on the rate measured for it during the warm-up — wall-clock time through
 * this test process, which a loaded machine can skew several-fold between pods — not on passive health. For them
 * the test asserts what passive health owns: the pod is healthy (routable) again.
 */
const NEEDS_OBSERVATIONS: ReadonlySet<string> = new Set(["throughput", "least-latency", "least-busy-time"]);
/**
 * Where the engine metrics are scraped: on kvroute's scrape thread (its default), on the main event loop
 * (`--metrics-scrape-thread=false`), or not at all. Both scrapers hand passive health the same result per scrape
 * (test/cluster/metrics/scrape-thread.test.ts); each strategy runs on the main loop, which spares the ~60 ms of CPU
 * a thread costs to start, and the default strategy runs on the thread too, kvroute's default set-up.
 */
type Scrape = "thread" | "main-loop" | "off";
/** kvroute's default routing strategy (`--routing-algorithm`). */
const DEFAULT_STRATEGY = "least-request";
/** Requests before the kill. */
const WARM_UP = 8;
/** Hits on the restarted pod that show it is back. */
const HITS_AFTER_RESTART = 3;
/** Envoy's local reply to a refused connect (Envoy 1.3x wording). */
const CONNECT_FAILURE_BODY =
  "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, " +
  "transport failure reason: delayed connect error: Connection refused";

const STRATEGIES: readonly string[] = (() => {
  const registry = createStrategyRegistry();
  registerBuiltins(registry);
  return registry.types();
})();

let fleet: KillablePod[] = [];

beforeAll(async () => {
  fleet = await Promise.all([0, 1, 2, 3].map(() => startKillablePod()));
});

afterAll(async () => {
  await Promise.all(fleet.filter((p) => p.alive).map((p) => p.kill()));
});

function podsOf(): Pod[] {
  return fleet.map((p, i) => ({
    key: `default/pod-${i}`,
    name: `pod-${i}`,
    namespace: "default",
    ip: "127.0.0.1",
    port: p.port,
    address: formatAddress("127.0.0.1", p.port),
    metricsPort: p.port,
    models: ["m1"],
    adapters: [],
    ready: true,
    engine: "vllm",
    labels: {},
  }));
}

let seq = 0;

/** One request, Envoy's way. Resolves with the address kvroute picked (or undefined when it answered itself). */
async function envoyRequest(client: ExtProcClient): Promise<string | undefined> {
  const n = seq++;
  const s = client.open();
  await s.exchange(headers({ ...CHAT_HEADERS, "x-request-id": `req-${n}` }));
  // Each prompt its own from the first block on, and several blocks long: a prefix strategy then finds at most the
  // chat template's first block on the pods that served before, so the restarted pod (which holds nothing) is not
  // out-scored for ever by hits. Short prompts under one shared first block made `prefix-cache-and-load` send all
  // 1000 requests of the restart phase elsewhere once on a loaded machine.
  const payload = chatBody("m1", `request ${n} `.repeat(8) + "x".repeat(n % 7));
  const [decision] = await s.exchange(body(payload));
  const target = setHeaders(decision)["target-pod"];
  if (target === undefined) {
    s.end();
    return undefined;
  }
  const upstream = await forward(target, CHAT_HEADERS[":path"], payload);
  if (upstream.t === "connect-failure") {
    await s.exchange(responseHeaders(503, { "content-type": "text/plain" }));
    await s.exchange(responseBody(CONNECT_FAILURE_BODY, true));
  } else {
    await s.exchange(
      responseHeaders(upstream.status, {
        "content-type": "application/json",
        "x-envoy-upstream-service-time": "1",
      }),
    );
    await s.exchange(responseBody(upstream.body, true));
  }
  s.end();
  await s.status;
  return target;
}

/**
 * Run requests `CONCURRENCY` at a time until `done()` holds or `max` were sent; `before` runs just before each
 * request's body is sent (when kvroute decides) and its value is handed to `after` with the picked address.
 */
async function drive<T>(
  client: ExtProcClient,
  max: number,
  done: () => boolean,
  before: () => T,
  after: (state: T, target: string | undefined) => void,
): Promise<number> {
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < max && !done()) {
      sent += 1;
      const state = before();
      after(state, await envoyRequest(client));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return sent;
}

function healthOf(h: Harness, key: string): PodHealthDetails | null {
  return (h.server.passiveHealth?.podDetails(key)["health"] ?? null) as PodHealthDetails | null;
}

interface Run {
  readonly victimHitsWhileDead: number;
  readonly ejected: boolean;
  readonly decisionsAfterEjection: number;
  readonly victimHitsAfterEjection: number;
  readonly victimHitsAfterRestart: number;
  /** False for a strategy that scores by measured rates (see NEEDS_OBSERVATIONS). */
  readonly canReturn: boolean;
  readonly stateAfterRestart: string | undefined;
}

/** Kill pod 1 under load, then restart it; what the victim got in each phase. */
async function killAndRestart(strategy: string, scrape: Scrape): Promise<Run> {
  const clock = { t: 0 };
  const h = await startHarness(
    podsOf(),
    [
      ...["--routing-algorithm", strategy, "--log-level", "warn", "--metrics-interval-ms", "100"],
      ...(scrape === "main-loop" ? ["--metrics-scrape-thread=false"] : []),
    ],
    {},
    {
      scrapeMetrics: scrape !== "off",
      healthNow: () => clock.t,
    },
  );
  try {
    const victim = fleet[1] as KillablePod;
    const victimAddress = `127.0.0.1:${victim.port}`;
    const victimKey = "default/pod-1";
    const isOut = (): boolean => (healthOf(h, victimKey)?.state ?? "healthy") !== "healthy";
    await drive(
      h.client,
      WARM_UP,
      () => false,
      () => undefined,
      () => undefined,
    );
    expect(isOut()).toBe(false);

    await victim.kill();
    // Counted from its ejection, or from its first FIRST_FAILURES requests if nothing ejects it.
    let victimHits = 0;
    let afterFirstFailures = 0;
    let hitsAfter = 0;
    await drive(
      h.client,
      2000,
      () => afterFirstFailures >= AFTER_EJECTION,
      () => victimHits >= FIRST_FAILURES || isOut(),
      (late, target) => {
        if (target === victimAddress) victimHits += 1;
        if (!late) return;
        afterFirstFailures += 1;
        if (target === victimAddress) hitsAfter += 1;
      },
    );
    const ejected = isOut();

    await victim.restart();
    let hitsAfterRestart = 0;
    // A strategy that scores by measured rates picks the pod again only when its warm-up rate allows (see above).
    const canReturn = !NEEDS_OBSERVATIONS.has(strategy);
    await drive(
      h.client,
      1000,
      // The others: until a probe (the next scrape, or a trial request) has found the pod up again.
      canReturn
        ? () => hitsAfterRestart >= HITS_AFTER_RESTART
        : () => healthOf(h, victimKey)?.state === "healthy",
      // Time passes while the pod is out: the backoff ends, and a probe (scrape or trial request) decides. A scrape
      // that failed before the restart and is reported after it fails the first probe; the next backoff ends too.
      () => {
        if (healthOf(h, victimKey)?.state === "ejected") clock.t += 10 * 60_000;
      },
      (_, target) => {
        if (target === victimAddress) hitsAfterRestart += 1;
      },
    );
    return {
      victimHitsWhileDead: victimHits,
      ejected,
      decisionsAfterEjection: afterFirstFailures,
      victimHitsAfterEjection: hitsAfter,
      victimHitsAfterRestart: hitsAfterRestart,
      canReturn,
      stateAfterRestart: healthOf(h, victimKey)?.state,
    };
  } finally {
    await h.close();
    if (!(fleet[1] as KillablePod).alive) await (fleet[1] as KillablePod).restart();
  }
}

describe("passive health: a pod killed under load and restarted", () => {
  it("lists every built-in strategy", () => {
    expect(STRATEGIES.length).toBeGreaterThanOrEqual(19);
    expect(STRATEGIES).toContain(DEFAULT_STRATEGY);
  });

  const runs: [string, Scrape][] = [
    ...STRATEGIES.map((s): [string, Scrape] => [s, "main-loop"]),
    [DEFAULT_STRATEGY, "thread"],
  ];
  it.each(runs)(
    "%s (scraped on the %s): the dead pod is ejected within its first failures, gets ≤ 1 %% after, and returns after restart",
    async (strategy, scrape) => {
      const run = await killAndRestart(strategy, scrape);
      // Ejected by its own failures: at most the trigger plus what was already in flight towards it.
      expect(run.ejected).toBe(true);
      expect(run.victimHitsWhileDead).toBeLessThanOrEqual(FIRST_FAILURES);
      expect(run.decisionsAfterEjection).toBeGreaterThanOrEqual(AFTER_EJECTION);
      expect(run.victimHitsAfterEjection).toBeLessThanOrEqual(run.decisionsAfterEjection * 0.01);
      expect(run.stateAfterRestart).toBe("healthy");
      expect(run.canReturn ? run.victimHitsAfterRestart : HITS_AFTER_RESTART).toBeGreaterThanOrEqual(
        HITS_AFTER_RESTART,
      );
    },
    60_000,
  );

  it("without scraping, a trial request probes the restarted pod back (least-request)", async () => {
    const run = await killAndRestart("least-request", "off");
    expect(run.ejected).toBe(true);
    expect(run.victimHitsWhileDead).toBeLessThanOrEqual(FIRST_FAILURES);
    expect(run.victimHitsAfterEjection).toBe(0);
    expect(run.victimHitsAfterRestart).toBeGreaterThanOrEqual(HITS_AFTER_RESTART);
    expect(run.stateAfterRestart).toBe("healthy");
  }, 60_000);
});
