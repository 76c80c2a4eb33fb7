/**
 * The director built in memory over a fixture fleet: a strategy registry with the builtins (plus any test
 * strategies), a director reading the fleet's store and load tracker, and the route input most tests send. Each
 * test keeps what it varies (seed, observer, health, default spec) and drops the wiring.
 *
 * @module
 */
import type { ClusterStore } from "../../src/cluster/cluster-state";
import type { LoadTracker } from "../../src/cluster/load-tracker";
import type { InferenceRequest } from "../../src/request/inference-request";
import { createDirector } from "../../src/routing/director";
import type { Director, DirectorOptions, RouteInput } from "../../src/routing/director";
import type { StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import type { StrategyRegistry, StrategyRegistryOptions } from "../../src/routing/registry";
import { registerBuiltins } from "../../src/routing/strategies";
import { headersOf, makeRequest } from "../routing/pods";

/** A registry holding the builtin strategies and then `extra`. */
export function builtinRegistry(
  extra: readonly StrategyFactory<object>[] = [],
  options: StrategyRegistryOptions = {},
): StrategyRegistry {
  const registry = createStrategyRegistry(options);
  registerBuiltins(registry);
  for (const f of extra) registry.register(f);
  return registry;
}

/** The director's options other than the fleet; registry defaults to the builtins, the spec to `least-request`. */
export type FleetDirectorOptions = Partial<Omit<DirectorOptions, "cluster" | "load">>;

/** A director over `fleet`'s store and load tracker. */
export function fleetDirector(
  fleet: { readonly store: ClusterStore; readonly load: LoadTracker },
  options: FleetDirectorOptions = {},
): Director {
  return createDirector({
    ...options,
    registry: options.registry ?? builtinRegistry(),
    cluster: () => fleet.store.snapshot(),
    load: fleet.load,
    defaultStrategy: options.defaultStrategy ?? "least-request",
  });
}

/** A route input: request `r` for {@link makeRequest}'s default request, no headers, no strategy header. */
export function routeInput(
  fields: {
    readonly requestId?: string;
    readonly request?: InferenceRequest;
    readonly headers?: Readonly<Record<string, string>>;
    readonly strategyHeader?: string | undefined;
  } = {},
): RouteInput {
  return {
    requestId: fields.requestId ?? "r",
    request: fields.request ?? makeRequest(),
    headers: headersOf(fields.headers ?? {}),
    strategyHeader: fields.strategyHeader,
  };
}
