/**
 * kvroute's built-in strategies, registered in one visible place. Adding a strategy = one folder + one line here;
 * its factory declares a `contract` (see `../strategy-contract.ts`), which the behavioural contract suite checks.
 *
 * @module
 */
import type { StrategyRegistry } from "../registry";
import * as leastBusyTime from "./least-busy-time";
import * as leastGpuCache from "./least-gpu-cache";
import * as leastKvCache from "./least-kv-cache";
import * as leastLatency from "./least-latency";
import * as leastRequest from "./least-request";
import * as leastUtilization from "./least-utilization";
import * as leastWaiting from "./least-waiting";
import * as loraAffinity from "./lora-affinity";
import * as pd from "./pd";
import * as powerOfTwo from "./power-of-two";
import * as prefixAffinity from "./prefix-affinity";
import * as prefixCache from "./prefix-cache";
import * as prefixCacheAndLoad from "./prefix-cache-and-load";
import * as random from "./random";
import * as sessionAffinity from "./session-affinity";
import * as slo from "./slo";
import * as throughput from "./throughput";
import * as vtcBasic from "./vtc-basic";

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
  registry.register(leastKvCache.factory);
  registry.register(leastGpuCache.factory);
  registry.register(leastWaiting.factory);
  registry.register(leastUtilization.factory);
  registry.register(loraAffinity.factory);
  registry.register(leastLatency.factory);
  registry.register(leastBusyTime.factory);
  registry.register(throughput.factory);
  registry.register(prefixCache.factory);
  registry.register(prefixCacheAndLoad.factory);
  registry.register(prefixAffinity.factory);
  registry.register(slo.slo);
  registry.register(slo.sloLeastLoadPulling);
  registry.register(slo.sloPackLoad);
  registry.register(slo.sloLeastLoad);
  registry.register(vtcBasic.factory);
  registry.register(pd.factory);
}
