/**
 * The behavioural contract's own tests: each mutant strategy (`mutants.ts`) passes the old shape checks yet must
 * fail the check for the promise it breaks, so the suite is shown able to fail for a strategy bug.
 */
import type { StrategyFactory } from "../../../src/routing/framework";
import type { ContractCheck } from "../../../src/routing/strategy-contract";
import { runChecks } from "./checks";
import { runStrategyContract } from "../strategy-contract";
import { useCheckEnv } from "./env";
import {
  alwaysAbstains,
  ignoresItsSignal,
  leaksPendingLoad,
  neverWaits,
  undeclaredAbstention,
} from "./mutants";

const env = useCheckEnv();

// The two mutants of the review pass every shape check of the older contract…
runStrategyContract({ name: alwaysAbstains.type, factory: alwaysAbstains });
runStrategyContract({ name: ignoresItsSignal.type, factory: ignoresItsSignal });

// …and fail the behavioural checks.
it.each<[string, StrategyFactory<unknown>, readonly ContractCheck[]]>([
  [alwaysAbstains.type, alwaysAbstains, ["follows-signal", "ready-candidates-only", "route-with-prompt"]],
  [ignoresItsSignal.type, ignoresItsSignal, ["follows-signal", "ready-candidates-only", "route-with-prompt"]],
  [undeclaredAbstention.type, undeclaredAbstention, ["declared-abstention"]],
  [leaksPendingLoad.type, leaksPendingLoad, ["load-returns-to-zero"]],
  [neverWaits.type, neverWaits, ["waits-for-headroom"]],
])("%s fails exactly the checks it breaks", async (_type, factory, broken) => {
  const results = await runChecks(factory, env.get());
  const failed = [...results].filter(([, failures]) => failures.length > 0).map(([check]) => check);
  expect(failed.sort()).toEqual([...broken].sort());
});

it("names what went wrong: the always-abstaining mutant answered abstain with its signal present", async () => {
  const results = await runChecks(alwaysAbstains, env.get());
  expect(results.get("follows-signal")?.[0]).toMatch(
    /answered abstain \(no-signal\) with its signal present/,
  );
});

it("names what went wrong: the signal-ignoring mutant picked pod-0 where pod-1 was best", async () => {
  const results = await runChecks(ignoresItsSignal, env.get());
  expect(results.get("follows-signal")).toContain("2 pods: picked pod-0, expected pod-1");
});

it("leaves out a check the strategy declares a skip for", async () => {
  const skipping: StrategyFactory<unknown> = {
    ...ignoresItsSignal,
    contract: {
      ranksBy: "fewest-inflight",
      abstainsWhen: [],
      skips: [{ check: "follows-signal", reason: "mutant: shows the skip mechanism" }],
    },
  };
  const results = await runChecks(skipping, env.get());
  expect(results.has("follows-signal")).toBe(false);
  expect(results.get("route-with-prompt")?.length).toBeGreaterThan(0);
});
