/**
 * The outlier detector in memory with injected time: triggers, backoff, the ejection bound, panic, probes and
 * fleet changes. Every case steps a fake clock; nothing waits on the wall clock.
 */
import { createClusterStore } from "../../../src/cluster/cluster-state";
import type { ClusterStore } from "../../../src/cluster/cluster-state";
import { createOutlierDetector, maxEjectable } from "../../../src/cluster/health";
import type {
  EjectionCause,
  EjectionTrigger,
  OutlierDetector,
  OutlierOptions,
  RequestVerdict,
} from "../../../src/cluster/health";
import type { Pod } from "../../../src/cluster/pod";
import { makePod } from "../../routing/pods";

const OPTIONS: OutlierOptions = {
  consecutiveFailures: 5,
  failureRatio: 0.5,
  minRequests: 20,
  windowMs: 10_000,
  baseEjectionMs: 5_000,
  maxEjectionMs: 60_000,
  maxEjectedPercent: 50,
};

interface Setup {
  readonly detector: OutlierDetector;
  readonly cluster: ClusterStore;
  readonly pods: Pod[];
  readonly clock: { t: number };
  readonly ejections: [string, EjectionTrigger, EjectionCause, number][];
  readonly refused: string[];
  readonly probes: string[];
  panics: number;
}

function setup(n = 4, options: Partial<OutlierOptions> = {}): Setup {
  const cluster = createClusterStore();
  const pods = Array.from({ length: n }, (_, i) => makePod(i));
  cluster.replace(pods);
  const clock = { t: 1_000 };
  const s: Setup = {
    cluster,
    pods,
    clock,
    ejections: [],
    refused: [],
    probes: [],
    panics: 0,
    detector: undefined as unknown as OutlierDetector,
  };
  const detector = createOutlierDetector({
    ...OPTIONS,
    ...options,
    cluster,
    now: () => clock.t,
    observer: {
      onEjected: (pod, trigger, cause, ms) => s.ejections.push([pod.name, trigger, cause, ms]),
      onEjectionRefused: (pod) => s.refused.push(pod.name),
      onProbe: (pod, result, via) => s.probes.push(`${pod.name}:${result}:${via}`),
      onPanic: () => {
        s.panics += 1;
      },
    },
  });
  return Object.assign(s, { detector });
}

/** Route one request to `pod` and report its verdict at once. */
function request(d: OutlierDetector, pod: Pod, verdict: RequestVerdict): void {
  d.report(d.routed(pod), verdict);
}

const names = (pods: readonly Pod[]): string[] => pods.map((p) => p.name);

describe("outlier detector: triggers", () => {
  it("ejects after N consecutive failures, and a success in between resets the count", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    for (let i = 0; i < 4; i++) request(s.detector, a, "connect-failure");
    request(s.detector, a, "success");
    for (let i = 0; i < 4; i++) request(s.detector, a, "server-error");
    expect(s.ejections).toEqual([]);
    expect(s.detector.details(a.key)).toMatchObject({ state: "healthy", consecutiveFailures: 4 });
    request(s.detector, a, "server-error");
    expect(s.ejections).toEqual([["pod-0", "consecutive", "server-error", 5_000]]);
    expect(names(s.detector.routable(s.pods))).toEqual(["pod-1", "pod-2", "pod-3"]);
    expect(s.detector.details(a.key)).toMatchObject({ state: "ejected", ejectedForMs: 5_000, ejections: 1 });
  });

  it("ejects on the failure ratio once the window holds the minimum volume", () => {
    const s = setup(4, { consecutiveFailures: 0 });
    const [a] = s.pods as [Pod];
    // Alternate: 50 % failures, never two in a row. Below 20 requests the ratio is not judged.
    for (let i = 0; i < 19; i++) request(s.detector, a, i % 2 === 0 ? "timeout" : "success");
    expect(s.ejections).toEqual([]);
    request(s.detector, a, "success");
    expect(s.ejections).toEqual([]); // 10 of 20 = 0.5, but this one was a success: judged on failures only
    request(s.detector, a, "timeout");
    expect(s.ejections).toEqual([["pod-0", "ratio", "timeout", 5_000]]);
  });

  it("forgets window entries older than the window", () => {
    const s = setup(4, { consecutiveFailures: 0, minRequests: 4 });
    const [a] = s.pods as [Pod];
    request(s.detector, a, "server-error");
    request(s.detector, a, "server-error");
    s.clock.t += 11_000;
    for (let i = 0; i < 4; i++) request(s.detector, a, "success");
    request(s.detector, a, "server-error"); // 1 of 5 in the window, not 3 of 7
    expect(s.ejections).toEqual([]);
    expect(s.detector.details(a.key)?.window).toEqual({ requests: 5, failures: 1 });
  });

  it("counts neutral outcomes neither way", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    for (let i = 0; i < 4; i++) request(s.detector, a, "connect-failure");
    for (let i = 0; i < 10; i++) request(s.detector, a, "neutral");
    request(s.detector, a, "connect-failure");
    expect(s.ejections.map((e) => e[1])).toEqual(["consecutive"]);
  });

  it("ejects after N consecutive unreachable scrapes, counted apart from requests", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    for (let i = 0; i < 4; i++) s.detector.reportScrape(a.key, "unreachable");
    // Request successes do not reset the scrape count, and scrape successes do not reset request failures.
    request(s.detector, a, "success");
    s.detector.reportScrape(a.key, "unreachable");
    expect(s.ejections).toEqual([["pod-0", "consecutive", "scrape-unreachable", 5_000]]);
  });

  it("a reachable scrape resets the unreachable count", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    for (let i = 0; i < 4; i++) s.detector.reportScrape(a.key, "unreachable");
    s.detector.reportScrape(a.key, "reachable");
    for (let i = 0; i < 4; i++) s.detector.reportScrape(a.key, "unreachable");
    expect(s.ejections).toEqual([]);
  });
});

describe("outlier detector: backoff and probes", () => {
  function ejectByRequests(s: Setup, pod: Pod, verdict: RequestVerdict = "connect-failure"): void {
    for (let i = 0; i < 5; i++) request(s.detector, pod, verdict);
  }

  it("after the backoff a pod is probed with one trial at a time; a successful trial returns it", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a, "server-error");
    s.clock.t += 4_999;
    expect(names(s.detector.routable(s.pods))).not.toContain("pod-0");
    s.clock.t += 1;
    expect(s.detector.details(a.key)?.state).toBe("probing");
    expect(names(s.detector.routable(s.pods))).toContain("pod-0");
    const trial = s.detector.routed(a);
    expect(trial.trial).toBe(true);
    // The trial slot is taken: no second request while it runs.
    expect(names(s.detector.routable(s.pods))).not.toContain("pod-0");
    // A scrape does not return a pod ejected for answering 5xx: it proves the server is up, nothing more.
    s.detector.reportScrape(a.key, "reachable");
    expect(s.detector.details(a.key)?.state).toBe("probing");
    s.detector.report(trial, "success");
    expect(s.detector.details(a.key)?.state).toBe("healthy");
    expect(s.probes).toEqual(["pod-0:success:request"]);
    expect(names(s.detector.routable(s.pods))).toContain("pod-0");
  });

  it("a failed trial ejects again for base × n, capped at the maximum", () => {
    const s = setup(4, { maxEjectionMs: 12_000 });
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a);
    const lengths = [5_000];
    for (let i = 0; i < 3; i++) {
      s.clock.t += 60_000;
      s.detector.routable(s.pods);
      s.detector.report(s.detector.routed(a), "connect-failure");
      lengths.push(s.ejections.at(-1)?.[3] ?? -1);
    }
    expect(lengths).toEqual([5_000, 10_000, 12_000, 12_000]);
    expect(s.ejections.slice(1).map((e) => e[1])).toEqual(["probe", "probe", "probe"]);
    expect(s.probes).toEqual(["pod-0:failure:request", "pod-0:failure:request", "pod-0:failure:request"]);
  });

  it("a reachable scrape returns a pod ejected for being unreachable, once its backoff is over", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a, "connect-failure");
    s.detector.reportScrape(a.key, "reachable");
    expect(s.detector.details(a.key)?.state).toBe("ejected"); // not before the backoff ends
    s.clock.t += 5_000;
    s.detector.reportScrape(a.key, "reachable");
    expect(s.detector.details(a.key)?.state).toBe("healthy");
    expect(s.probes).toEqual(["pod-0:success:scrape"]);
  });

  it("an unreachable scrape while probing ejects again", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a);
    s.clock.t += 5_000;
    s.detector.reportScrape(a.key, "unreachable");
    expect(s.ejections.at(-1)).toEqual(["pod-0", "probe", "scrape-unreachable", 10_000]);
  });

  it("forgives one past ejection per maximum ejection time of good health", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a);
    s.clock.t += 5_000;
    s.detector.report(s.detector.routed(a), "success"); // probe: back
    ejectByRequests(s, a); // flapping: the second ejection is longer
    expect(s.ejections.at(-1)?.[3]).toBe(10_000);
    s.clock.t += 10_000;
    s.detector.report(s.detector.routed(a), "success");
    s.clock.t += 60_000; // one maximum-ejection span of health forgives one ejection
    ejectByRequests(s, a);
    expect(s.ejections.at(-1)?.[3]).toBe(10_000);
    expect(s.detector.details(a.key)).toMatchObject({ ejectionMultiplier: 2, ejections: 3 });
  });

  it("ignores outcomes of requests routed before the pod's last ejection or return", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    const early = [1, 2, 3].map(() => s.detector.routed(a));
    ejectByRequests(s, a);
    s.clock.t += 5_000;
    // Old requests finishing now neither return the pod nor fail its probe.
    for (const t of early) s.detector.report(t, "success");
    expect(s.detector.details(a.key)?.state).toBe("probing");
    const trial = s.detector.routed(a);
    s.detector.report(trial, "success");
    const stale = s.detector.routed(a);
    ejectByRequests(s, a);
    s.clock.t += 10_000;
    s.detector.report(stale, "connect-failure");
    expect(s.detector.details(a.key)?.state).toBe("probing");
  });

  it("a neutral trial frees its slot without deciding", () => {
    const s = setup();
    const [a] = s.pods as [Pod];
    ejectByRequests(s, a);
    s.clock.t += 5_000;
    s.detector.report(s.detector.routed(a), "neutral");
    expect(s.detector.details(a.key)?.state).toBe("probing");
    expect(names(s.detector.routable(s.pods))).toContain("pod-0");
  });
});

describe("outlier detector: bounds", () => {
  it.each([
    [0, 50, 0],
    [1, 50, 0],
    [2, 50, 1],
    [2, 10, 1],
    [3, 50, 1],
    [4, 50, 2],
    [10, 100, 9],
    [10, 0, 0],
  ])("%i ready pods at %i %% may have %i out", (ready, percent, expected) => {
    expect(maxEjectable(ready, percent)).toBe(expected);
  });

  it("never ejects beyond the model's share, and counts the refusal", () => {
    const s = setup(4);
    for (const pod of s.pods) for (let i = 0; i < 5; i++) request(s.detector, pod, "connect-failure");
    expect(s.ejections.map((e) => e[0])).toEqual(["pod-0", "pod-1"]);
    expect(s.refused).toEqual(["pod-2", "pod-3"]);
    expect(names(s.detector.routable(s.pods))).toEqual(["pod-2", "pod-3"]);
  });

  it("never ejects a model's only pod", () => {
    const s = setup(1);
    for (let i = 0; i < 10; i++) request(s.detector, s.pods[0] as Pod, "connect-failure");
    expect(s.ejections).toEqual([]);
    expect(s.refused.length).toBe(6);
  });

  it("panics (uses every candidate) when all of a decision's candidates are out", () => {
    const s = setup(4, { maxEjectedPercent: 100 });
    for (const pod of s.pods.slice(0, 3)) for (let i = 0; i < 5; i++) request(s.detector, pod, "timeout");
    expect(names(s.detector.routable(s.pods))).toEqual(["pod-3"]);
    // A decision over the first two only (say, the pods of another model) finds none in.
    expect(names(s.detector.routable(s.pods.slice(0, 2)))).toEqual(["pod-0", "pod-1"]);
    expect(s.panics).toBe(1);
  });

  it("drops the record of a pod that left or came back as another pod, which starts healthy", () => {
    const s = setup(4);
    const [a, b] = s.pods as [Pod, Pod];
    for (let i = 0; i < 5; i++) request(s.detector, a, "connect-failure");
    for (let i = 0; i < 5; i++) request(s.detector, b, "server-error");
    expect(names(s.detector.routable(s.pods))).toEqual(["pod-2", "pod-3"]);
    const a2 = { ...a, uid: "new-uid" };
    s.cluster.replace([a2, ...s.pods.slice(2)]);
    expect(s.detector.details(a.key)).toBeNull();
    expect(s.detector.details(b.key)).toBeNull();
    expect(names(s.detector.routable([a2, ...s.pods.slice(2)]))).toEqual(["pod-0", "pod-2", "pod-3"]);
    expect([...s.detector.out()]).toEqual([]);
  });

  it("keeps no record for a pod outside the fleet", () => {
    const s = setup(2);
    const ghost = makePod(9);
    for (let i = 0; i < 10; i++) request(s.detector, ghost, "connect-failure");
    s.detector.reportScrape(ghost.key, "unreachable");
    expect(s.detector.details(ghost.key)).toBeNull();
  });
});
