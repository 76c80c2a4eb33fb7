/**
 * The fleet of the headroom-queue tests: two pods of one deployment whose GPU profile (published in Redis) makes
 * each hold one request, so two requests route and a third waits. Shared by `slo-queue.test.ts` and
 * `tracing-queue.test.ts`.
 *
 * @module
 */
import type { Pod } from "../../src/cluster/pod";
import { pod } from "./harness";

export const SLO_DEPLOYMENT = "gpu-a";

const withDeployment = (p: Pod): Pod => ({ ...p, deployment: SLO_DEPLOYMENT });

export const SLO_PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])].map(withDeployment);

/** One request (any length: single-entry indexes) consumes 1 / 1 RPS / 1 s = the whole pod. */
export const SLO_PROFILE = {
  gpu: SLO_DEPLOYMENT,
  cost: 1,
  tputs: [[1]],
  indexes: [[1], [1]],
  created: 1,
  e2e: [[1]],
};

/** The Redis key the profile of `m1` on the deployment is published under. */
export const SLO_PROFILE_KEY = `aibrix:profile_m1_${SLO_DEPLOYMENT}`;

/** Resolve once `cond` holds, checking after each turn of the event loop (bounded, so a bug fails the test). */
export async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error("condition never held");
}
