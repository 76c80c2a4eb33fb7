/** The runners-up of a decision, the fallback endpoints' order: by score, then load, then candidate order. */
import type { PodLoad } from "../../src/cluster/load-tracker";
import type { Pod } from "../../src/cluster/pod";
import { FALLBACK_ENDPOINTS, runnersUp } from "../../src/routing/runners-up";
import { makePod } from "./pods";

const PODS: readonly Pod[] = Array.from({ length: 6 }, (_, i) => makePod(i));

function loadOf(requests: readonly number[], tokens: readonly number[] = []): (key: string) => PodLoad {
  return (key) => {
    const i = PODS.findIndex((p) => p.key === key);
    return { requests: requests[i] ?? 0, tokens: tokens[i] ?? 0 };
  };
}

const names = (pods: readonly Pod[]): string[] => pods.map((p) => p.name);

describe("runnersUp", () => {
  it("orders by descending score, never lists the pick, and stops at the count", () => {
    const totals = Float64Array.from([0.2, 0.9, 0.5, 0.7, 0.1, 0.6]);
    const out = runnersUp({ candidates: PODS, totals, picked: PODS[1]!, load: loadOf([]), count: 3 });
    expect(names(out)).toEqual(["pod-3", "pod-5", "pod-2"]);
  });

  it("breaks equal scores by fewer requests, then fewer tokens, then candidate order", () => {
    const totals = Float64Array.from([1, 0.5, 0.5, 0.5, 0.5, 0.5 + 1e-12]);
    const load = loadOf([0, 2, 1, 1, 1, 3], [0, 0, 50, 10, 10, 0]);
    const out = runnersUp({ candidates: PODS, totals, picked: PODS[0]!, load, count: 5 });
    expect(names(out)).toEqual(["pod-3", "pod-4", "pod-2", "pod-1", "pod-5"]);
  });

  it("without scores (every strategy abstained) orders by least load", () => {
    const load = loadOf([4, 0, 3, 1, 2, 5]);
    const out = runnersUp({
      candidates: PODS,
      totals: undefined,
      picked: PODS[1]!,
      load,
      count: FALLBACK_ENDPOINTS,
    });
    expect(names(out)).toEqual(["pod-3", "pod-4", "pod-2"]);
  });

  it("skips pods that are not eligible, and gives none for a lone candidate or a zero count", () => {
    const load = loadOf([0, 1, 2, 3, 4, 5]);
    const eligible = (p: Pod): boolean => p.name !== "pod-1" && p.name !== "pod-3";
    const out = runnersUp({
      candidates: PODS,
      totals: undefined,
      picked: PODS[0]!,
      load,
      eligible,
      count: 3,
    });
    expect(names(out)).toEqual(["pod-2", "pod-4", "pod-5"]);
    expect(
      runnersUp({ candidates: [PODS[2]!], totals: undefined, picked: PODS[2]!, load, count: 3 }),
    ).toEqual([]);
    expect(runnersUp({ candidates: PODS, totals: undefined, picked: PODS[0]!, load, count: 0 })).toEqual([]);
  });
});
