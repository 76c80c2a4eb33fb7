/**
 * The behavioural strategy contract over every registered built-in: each declares a contract, and passes every
 * check it does not declare a skip for. A declared skip shows up as a test named `skipped: …` that checks its
 * reason is given (this repo allows no `it.skip`).
 */
import type { StrategyFactory } from "../../../src/routing/framework";
import type { StrategyRegistry } from "../../../src/routing/registry";
import { registerBuiltins } from "../../../src/routing/strategies";
import type { ContractCheck } from "../../../src/routing/strategy-contract";
import { CHECKS, type Check } from "./checks";
import { useCheckEnv } from "./env";

/** The factories `registerBuiltins` registers, in order, captured by a registry that only records. */
function builtinFactories(): StrategyFactory<unknown>[] {
  const factories: StrategyFactory<unknown>[] = [];
  const recorder: Pick<StrategyRegistry, "register"> = {
    register: (factory) => {
      factories.push(factory as StrategyFactory<unknown>);
    },
  };
  registerBuiltins(recorder as StrategyRegistry);
  return factories;
}

const env = useCheckEnv();
const factories = builtinFactories();

it("registers strategies, every one with a declared contract", () => {
  expect(factories.length).toBeGreaterThan(0);
  expect(factories.filter((f) => f.contract === undefined).map((f) => f.type)).toEqual([]);
});

for (const factory of factories) {
  describe(`strategy behaviour: ${factory.type} ranks by ${factory.contract?.ranksBy ?? "(undeclared)"}`, () => {
    const skips = new Map((factory.contract?.skips ?? []).map((s) => [s.check, s.reason]));
    for (const [check, run] of Object.entries(CHECKS) as [ContractCheck, Check][]) {
      const reason = skips.get(check);
      if (reason !== undefined) {
        it(`skipped: ${check}: ${reason}`, () => expect(reason.trim()).not.toBe(""));
        continue;
      }
      it(check, async () => expect(await run(factory, env.get())).toEqual([]));
    }
  });
}
