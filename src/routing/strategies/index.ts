/**
 * kvroute's built-in strategies, registered in one visible place. Adding a strategy = one folder + one line here.
 *
 * @module
 */
import type { StrategyRegistry } from "../registry";
import * as leastRequest from "./least-request";
import * as powerOfTwo from "./power-of-two";
import * as random from "./random";
import * as sessionAffinity from "./session-affinity";

/**
 * Register every built-in strategy type into `registry`. Call once at startup, before `registry.checkParams()`.
 *
 * @throws Error when a type is already registered or its configured params are invalid (`type: message`).
 */
export function registerBuiltins(registry: StrategyRegistry): void {
  registry.register(random.factory);
  registry.register(leastRequest.factory);
  registry.register(powerOfTwo.factory);
  registry.register(sessionAffinity.factory);
}
