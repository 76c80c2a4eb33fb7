/**
 * The command line of `npm run bench -- routing`: the strategies it can run (and how: which
 * `--routing-algorithm`, with or without KV events), the workloads, the named scenarios of the ranking check, and
 * the flags with their defaults (see `routing.ts` for why the defaults are what they are). Kept apart from the run
 * itself so the flags can be parsed and tested without starting a fleet.
 *
 * @module
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./children";
import { LONG_MIX_DEFAULTS, PD_SCENARIO_STRATEGIES, pdRoles } from "./routing-pd";

/** A strategy as the benchmark runs it. */
export interface StrategySpec {
  readonly key: string;
  readonly label: string;
  readonly algorithm: string;
  readonly kvEvents: boolean;
  /** Runs on the prefill/decode disaggregated fleet (`--prefill-pods`) instead of undisaggregated pods. */
  readonly disaggregated?: boolean;
}

/** Every strategy, in report order. */
export const STRATEGIES: readonly StrategySpec[] = [
  { key: "random", label: "random", algorithm: "random", kvEvents: false },
  { key: "least-request", label: "least-request", algorithm: "least-request", kvEvents: false },
  { key: "least-kv-cache", label: "least-kv-cache", algorithm: "least-kv-cache", kvEvents: false },
  { key: "prefix-cache-approx", label: "prefix-cache (approx)", algorithm: "prefix-cache", kvEvents: false },
  { key: "prefix-cache-precise", label: "prefix-cache (precise)", algorithm: "prefix-cache", kvEvents: true },
  // The load-aware scorer is run the way llm-d runs it: on the precise (event) index.
  {
    key: "prefix-cache-and-load",
    label: "prefix-cache-and-load",
    algorithm: "prefix-cache-and-load",
    kvEvents: true,
  },
  // Sticky until saturated, on the precise index as llm-d runs it.
  { key: "prefix-affinity", label: "prefix-affinity", algorithm: "prefix-affinity", kvEvents: true },
  // Prefill/decode disaggregation (`routing-pd.ts`): not in the default set, it needs the role fleet.
  { key: "pd", label: "pd (disaggregated)", algorithm: "pd", kvEvents: true, disaggregated: true },
];

const WORKLOADS = ["shared-prefix", "multi-turn", "mooncake", "long-prompt-mix", "overload"] as const;
type WorkloadName = (typeof WORKLOADS)[number];

/**
 * Named configurations of the ranking check: the shared-prefix workload (its sizing flags still apply) behind one
 * kvroute (`single`), or behind two active-active replicas (`ha`). Two, because it is the smallest HA deployment
 * (the chart's PodDisruptionBudget case) and keeps the 2-core reference machine from running more kvroute
 * processes than cores; round-robin over two replicas already sends about half of each group's follow-up
 * requests to a replica whose approximate index has never seen that prefix.
 */
export const SCENARIOS = {
  single: { workload: "shared-prefix", routerReplicas: 1 },
  ha: { workload: "shared-prefix", routerReplicas: 2 },
  // Prefill/decode disaggregation vs the same GPUs undisaggregated (`routing-pd.ts`).
  pd: { workload: "long-prompt-mix", routerReplicas: 1 },
  // Past saturation with tenants of three priority bands, flow control on vs off (`overload.ts`).
  overload: { workload: "overload", routerReplicas: 1 },
} as const satisfies Record<string, { workload: WorkloadName; routerReplicas: number }>;
export type ScenarioName = keyof typeof SCENARIOS;

/** Flow control's modes as the overload scenario runs them (`overload-table.ts`). */
export const FLOW_CONTROL_MODES = ["on", "off"] as const;

/** Flags of the overload scenario. */
export interface OverloadOptions {
  /** Offered load of the loaded runs, × the fleet's saturation rate (`--saturation`). */
  readonly saturation: number;
  /** Requests/s at 1× (`--saturation-rate`); undefined: the measured default of `overload.ts`. */
  readonly saturationRate: number | undefined;
  /** Measure the saturation rate by a sweep first (`--measure-saturation`). */
  readonly measureSaturation: boolean;
  /** Modes run, in order, on the same seeded workload (`--flow-control off,on`). */
  readonly flowControl: readonly (typeof FLOW_CONTROL_MODES)[number][];
  /** Requests of a loaded run when `--requests` is not given. */
  readonly requests: number;
  /** Requests of the unloaded reference run (`--unloaded-requests`). */
  readonly unloadedRequests: number;
  /** Extra kvroute flags for every run (`--kvroute-arg=--flow-queue-depth-threshold=1`, repeatable). */
  readonly kvrouteArgs: readonly string[];
}

/** Parsed command line. */
export interface RoutingOptions {
  /** The named scenario, when one was given (`--scenario`). */
  readonly scenario: ScenarioName | undefined;
  /** kvroute replicas per strategy, requests spread round-robin. */
  readonly routerReplicas: number;
  readonly workload: WorkloadName;
  readonly rate: number;
  readonly requests: number | undefined;
  readonly groups: number;
  readonly promptsPerGroup: number;
  readonly outputTokens: number | undefined;
  readonly scale: number;
  readonly pods: number;
  /**
   * The disaggregated fleet of the `disaggregated` strategies, as `kvroute-sim --roles` takes it; undefined when
   * none was selected.
   */
  readonly pdRoles: string | undefined;
  readonly preset: string;
  readonly strategies: readonly StrategySpec[];
  readonly seed: number;
  readonly trace: string;
  readonly json: string | undefined;
  /** Per-request records of every strategy, one JSON line each (`--records FILE`); undefined: none written. */
  readonly records: string | undefined;
  readonly chart: string;
  readonly progress: boolean;
  /** The overload scenario's flags (defaults when another workload runs). */
  readonly overload: OverloadOptions;
}

/** Usage text of this benchmark. */
export const ROUTING_USAGE =
  "routing [--scenario single|ha|pd] [--router-replicas N=1]\n" +
  "          [--workload shared-prefix|multi-turn|mooncake|long-prompt-mix]\n" +
  "          [--rate R=28] [--requests N] [--groups N=96]\n" +
  "          [--prompts-per-group N=5] [--output-tokens N=64] [--scale X=1] [--pods N=4] [--preset demo]\n" +
  "          [--strategies random,least-request,least-kv-cache,prefix-cache-approx,prefix-cache-precise,\n" +
  "          prefix-cache-and-load,prefix-affinity,pd] [--prefill-pods N=pods/2] [--seed N=1] [--trace FILE] [--json FILE]\n" +
  "          [--records FILE]\n" +
  "          [--chart FILE] [--no-progress]\n" +
  "  (long-prompt-mix, --scenario pd: --rate 8 --requests 240 --output-tokens 128 unless given;\n" +
  "   pd runs on --prefill-pods prefill + the rest decode pods, the other strategies on --pods mixed pods)\n" +
  "        --scenario overload [--saturation X=2] [--saturation-rate R] [--measure-saturation]\n" +
  "          [--flow-control off,on] [--requests N=720] [--unloaded-requests N=240] [--pods N=2]\n" +
  "          [--strategies least-request] [--kvroute-arg=--flag=value ...]";

function num(name: string, v: string | undefined, fallback: number, integer = false): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${v}`);
  return n;
}

/** Parse the command line; throws with a message on a bad flag. */
export function parseRoutingOptions(argv: readonly string[]): RoutingOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      scenario: { type: "string" },
      "router-replicas": { type: "string" },
      workload: { type: "string" },
      rate: { type: "string" },
      requests: { type: "string" },
      groups: { type: "string" },
      "prompts-per-group": { type: "string" },
      "output-tokens": { type: "string" },
      scale: { type: "string" },
      pods: { type: "string" },
      "prefill-pods": { type: "string" },
      preset: { type: "string" },
      strategies: { type: "string" },
      seed: { type: "string" },
      trace: { type: "string" },
      json: { type: "string" },
      records: { type: "string" },
      chart: { type: "string" },
      "no-progress": { type: "boolean" },
      saturation: { type: "string" },
      "saturation-rate": { type: "string" },
      "measure-saturation": { type: "boolean" },
      "flow-control": { type: "string" },
      "unloaded-requests": { type: "string" },
      "kvroute-arg": { type: "string", multiple: true },
    },
  });
  let scenario: ScenarioName | undefined;
  if (values.scenario !== undefined) {
    if (!Object.hasOwn(SCENARIOS, values.scenario))
      throw new Error(`--scenario must be one of ${Object.keys(SCENARIOS).join(", ")}`);
    scenario = values.scenario as ScenarioName;
    // A scenario fixes what the ranking check is about; only the workload's sizing may change.
    if (values.workload !== undefined || values["router-replicas"] !== undefined)
      throw new Error(
        "--scenario sets the workload and the router replicas; drop --workload/--router-replicas",
      );
  }
  const workload = scenario ? SCENARIOS[scenario].workload : (values.workload ?? "shared-prefix");
  if (!(WORKLOADS as readonly string[]).includes(workload))
    throw new Error(`--workload must be one of ${WORKLOADS.join(", ")}`);
  const longMix = workload === "long-prompt-mix";
  const overload = workload === "overload";
  // The overload scenario runs one strategy (its prompts share nothing, so a load-aware one is the fair choice).
  const keys =
    values.strategies?.split(",").map((s) => s.trim()) ??
    (scenario === "pd"
      ? PD_SCENARIO_STRATEGIES
      : overload
        ? ["least-request"]
        : STRATEGIES.filter((s) => !s.disaggregated).map((s) => s.key));
  const strategies = keys.map((k) => {
    const s = STRATEGIES.find((x) => x.key === k);
    if (!s) throw new Error(`--strategies: unknown ${k}; known: ${STRATEGIES.map((x) => x.key).join(",")}`);
    return s;
  });
  // Two pods for overload: its prompts are long, so 2 pods saturate at a rate the driver sends easily on 2 cores.
  const pods = num("pods", values.pods, overload ? 2 : 4, true);
  return {
    scenario,
    routerReplicas: scenario
      ? SCENARIOS[scenario].routerReplicas
      : num("router-replicas", values["router-replicas"], 1, true),
    workload: workload as WorkloadName,
    rate: num("rate", values.rate, longMix ? LONG_MIX_DEFAULTS.rate : 28),
    requests:
      values.requests === undefined
        ? longMix
          ? LONG_MIX_DEFAULTS.requests
          : undefined
        : num("requests", values.requests, 0, true),
    groups: num("groups", values.groups, 96, true),
    promptsPerGroup: num("prompts-per-group", values["prompts-per-group"], 5, true),
    outputTokens:
      values["output-tokens"] === undefined
        ? undefined
        : num("output-tokens", values["output-tokens"], 0, true),
    scale: num("scale", values.scale, 1),
    pods,
    pdRoles: strategies.some((s) => s.disaggregated)
      ? pdRoles(
          pods,
          values["prefill-pods"] === undefined
            ? undefined
            : num("prefill-pods", values["prefill-pods"], 1, true),
        )
      : undefined,
    preset: values.preset ?? "demo",
    strategies,
    seed: values.seed === undefined ? 1 : Math.trunc(Number(values.seed)),
    trace: values.trace ?? path.join(REPO_ROOT, "bench", "e2e", "traces", "mooncake-sample.jsonl"),
    json: values.json,
    records: values.records,
    chart: values.chart ?? path.join("bench-results", "routing.svg"),
    progress: values["no-progress"] !== true,
    overload: parseOverloadOptions(values),
  };
}

/** The overload scenario's flags out of the parsed values. */
function parseOverloadOptions(values: {
  saturation?: string;
  "saturation-rate"?: string;
  "measure-saturation"?: boolean;
  "flow-control"?: string;
  "unloaded-requests"?: string;
  "kvroute-arg"?: string[];
}): OverloadOptions {
  const modes = (values["flow-control"] ?? "off,on").split(",").map((s) => s.trim());
  for (const m of modes)
    if (!(FLOW_CONTROL_MODES as readonly string[]).includes(m))
      throw new Error(`--flow-control: unknown mode ${m}; known: ${FLOW_CONTROL_MODES.join(",")}`);
  return {
    saturation: num("saturation", values.saturation, 2),
    saturationRate:
      values["saturation-rate"] === undefined
        ? undefined
        : num("saturation-rate", values["saturation-rate"], 0),
    measureSaturation: values["measure-saturation"] === true,
    flowControl: modes as OverloadOptions["flowControl"],
    requests: 720,
    unloadedRequests: num("unloaded-requests", values["unloaded-requests"], 240, true),
    kvrouteArgs: values["kvroute-arg"] ?? [],
  };
}
