/** The scores a decision can show (`--emit-endpoint-scores`): the pick first, then the best others, bounded. */
import type { Pod } from "../../src/cluster/pod";
import { SCORED_ENDPOINTS, endpointScores } from "../../src/routing/endpoint-scores";
import { makePod } from "./pods";

const PODS: readonly Pod[] = Array.from({ length: 8 }, (_, i) => makePod(i, { ip: `127.0.0.${60 + i}` }));

const named = (out: readonly { pod: Pod; score: number }[]): [string, number][] =>
  out.map((e) => [e.pod.name, e.score]);

describe("endpointScores", () => {
  it("lists the pick, then the others by descending score, at most the count", () => {
    const totals = Float64Array.from([0.2, 0.9, 0.5, 0.7, 0.1, 0.6, 0.3, 0.4]);
    expect(named(endpointScores(PODS, totals, PODS[1]!, SCORED_ENDPOINTS))).toEqual([
      ["pod-1", 0.9],
      ["pod-3", 0.7],
      ["pod-5", 0.6],
      ["pod-2", 0.5],
      ["pod-7", 0.4],
    ]);
  });

  it("keeps the pick even when more candidates tie with it than fit; ties keep candidate order", () => {
    const totals = new Float64Array(PODS.length).fill(1);
    const out = endpointScores(PODS, totals, PODS[7]!, 3);
    expect(named(out)).toEqual([
      ["pod-7", 1],
      ["pod-0", 1],
      ["pod-1", 1],
    ]);
  });

  it("skips non-finite scores, and gives nothing when every strategy abstained or the count is 0", () => {
    const totals = Float64Array.from([1, NaN, Infinity, 0.5, -Infinity, 0, 0, 0]);
    expect(named(endpointScores(PODS.slice(0, 5), totals.subarray(0, 5), PODS[0]!, 5))).toEqual([
      ["pod-0", 1],
      ["pod-3", 0.5],
    ]);
    expect(endpointScores(PODS, undefined, PODS[0]!, 5)).toEqual([]);
    expect(endpointScores(PODS, totals, PODS[0]!, 0)).toEqual([]);
    expect(endpointScores(PODS, totals, PODS[1]!, 5)).toEqual([]);
  });
});
