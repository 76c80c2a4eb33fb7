/**
 * The behavioural checks of the strategy contract, as plain functions that return failures (empty: passed) rather
 * than jest `it`s, so the suite's own tests can run them against mutant strategies and expect them to fail.
 *
 * Each check reads the strategy's declared contract (`factory.contract`) and builds its fleets with the signal's
 * fixture builder (`fixtures.ts`). The checks call the strategy itself, not through the director's
 * readiness filter, wherever the point is what the strategy does; `route-with-prompt` and `waits-for-headroom` go
 * through a real director with real prompt preparation (tokenizer + block keys) and a real headroom queue.
 *
 * @module
 */
import type { Pod } from "../../../src/cluster/pod";
import { createDirector } from "../../../src/routing/director";
import type {
  PreparedPrompt,
  RouteFinisher,
  ScoreResult,
  Strategy,
  StrategyFactory,
} from "../../../src/routing/framework";
import { createHeadroomQueue } from "../../../src/routing/headroom-queue";
import { createPickLease } from "../../../src/routing/pick-lease";
import { createStrategyRegistry } from "../../../src/routing/registry";
import type { ContractCheck, StrategyContract } from "../../../src/routing/strategy-contract";
import { STRATEGY_NAME } from "../../../src/routing/strategy-spec";
import type { PreparePrompt } from "../../../src/prefix/prepare-prompt";
import type { BlockHasher } from "../../../src/prefix/block-key";
import { CONTRACT_TEXT, SIGNAL_FIXTURES, type SignalFixture } from "./fixtures";
import { headersOf, makeContext, makeRequest, seededRandom } from "../pods";

/** What the checks share: the real preparer and the hasher its keys come from. */
export interface CheckEnv {
  readonly prepare: PreparePrompt;
  readonly hasher: BlockHasher;
}

/** One check: resolves to its failures (empty when the strategy passes). */
export type Check = (factory: StrategyFactory<unknown>, env: CheckEnv) => Promise<string[]>;

/** (pods, best index) pairs the signal checks run: the best pod first, last and in the middle. */
const SHAPES: readonly (readonly [number, number])[] = [
  [2, 0],
  [2, 1],
  [3, 1],
  [4, 3],
  [5, 2],
  [5, 0],
];

const contractOf = (factory: StrategyFactory<unknown>): StrategyContract => {
  if (!factory.contract) throw new Error(`${factory.type} declares no contract`);
  return factory.contract;
};

const builderOf = (contract: StrategyContract) => SIGNAL_FIXTURES[contract.ranksBy];

/** The fixtures of every shape the signal allows. */
async function fixtures(factory: StrategyFactory<unknown>, env: CheckEnv): Promise<SignalFixture[]> {
  const builder = builderOf(contractOf(factory));
  const prompt = await promptOf(env);
  return SHAPES.filter(([n]) => n <= (builder.maxPods ?? Infinity)).map(([n, best]) =>
    builder.build(n, best, { prompt, hasher: env.hasher }),
  );
}

/** The contract text prepared as the director would prepare it for a base model. */
async function promptOf(env: CheckEnv): Promise<PreparedPrompt> {
  return env.prepare(makeRequest(undefined, 16, { prompt: { t: "text", text: CONTRACT_TEXT } }), "");
}

const create = (factory: StrategyFactory<unknown>, f: SignalFixture): Strategy =>
  factory.create(factory.paramsSchema.parse({}), f.deps);

const contextOf = (f: SignalFixture, prompt: PreparedPrompt, seed = 1) =>
  makeContext(f.fleet.load, {
    headers: f.headers,
    metrics: f.metrics,
    observations: f.observations,
    request: f.request,
    prompt,
    random: seededRandom(seed),
  });

/** Run the strategy's filter (if any) then score; scores are mapped back to `pods`' indexes (filtered out: -1). */
function decide(s: Strategy, f: SignalFixture, prompt: PreparedPrompt, pods: readonly Pod[], seed = 1) {
  const ctx = contextOf(f, prompt, seed);
  const kept = s.filter ? s.filter(ctx, pods) : pods;
  const result: ScoreResult = s.score(ctx, kept);
  const full = pods.map((p) => {
    if (result.t !== "scores") return -1;
    const i = kept.indexOf(p);
    return i < 0 ? -1 : (result.scores[i] ?? -1);
  });
  return { ctx, kept, result, scores: full };
}

/** The single top-scoring index of `scores`, or undefined on a tie at the top. */
function argmax(scores: readonly number[]): number | undefined {
  let top = -Infinity;
  let at: number | undefined;
  let tied = false;
  scores.forEach((x, i) => {
    if (x > top) [top, at, tied] = [x, i, false];
    else if (x === top) tied = true;
  });
  return tied ? undefined : at;
}

const name = (p: Pod | undefined) => p?.name ?? "none";

/** In a fleet where one pod is best by the declared signal, the strategy scores (never abstains) and picks it. */
const followsSignal: Check = async (factory, env) => {
  const failures: string[] = [];
  const prompt = await promptOf(env);
  for (const f of await fixtures(factory, env)) {
    const n = f.fleet.pods.length;
    const s = create(factory, f);
    if (f.best === undefined) {
      // No best pod (random): every pod gets picked over a few hundred seeds.
      const picked = new Set<number>();
      for (let seed = 1; seed <= 200; seed++) {
        const d = decide(s, f, prompt, f.fleet.pods, seed);
        const top = argmax(d.scores);
        if (d.result.t !== "scores") failures.push(`${n} pods: answered ${d.result.t} (${d.result.reason})`);
        if (top !== undefined) picked.add(top);
      }
      if (picked.size !== n)
        failures.push(`${n} pods: picked only ${picked.size} distinct pods over 200 seeds`);
      continue;
    }
    const d = decide(s, f, prompt, f.fleet.pods);
    if (d.result.t !== "scores") {
      failures.push(
        `${n} pods, best ${name(f.best)}: answered ${d.result.t} (${d.result.reason}) with its signal present`,
      );
      continue;
    }
    const top = argmax(d.scores);
    const got = top === undefined ? "a tie" : name(f.fleet.pods[top]);
    if (top === undefined || f.fleet.pods[top] !== f.best)
      failures.push(`${n} pods: picked ${got}, expected ${name(f.best)}`);
  }
  return failures;
};

/** Every abstention (or wait) names a declared, kebab-case reason: with the signal, without it, and with no pods. */
const declaredAbstention: Check = async (factory, env) => {
  const contract = contractOf(factory);
  const failures: string[] = [];
  const prompt = await promptOf(env);
  for (const reason of contract.abstainsWhen)
    if (!STRATEGY_NAME.test(reason)) failures.push(`declared reason "${reason}" is not kebab-case`);
  const bare = SIGNAL_FIXTURES.random;
  const cases = [
    ...(await fixtures(factory, env)).map((f) => ["with its signal", f] as const),
    ...[1, 3].map((n) => ["without any signal", bare.build(n, 0, { prompt, hasher: env.hasher })] as const),
  ];
  for (const [label, f] of cases) {
    const s = create(factory, f);
    for (const pods of [f.fleet.pods, []]) {
      const { result } = decide(s, f, prompt, pods);
      if (result.t === "scores") continue;
      if (result.t === "wait" && s.mayWait !== true)
        failures.push(`${label}: waits without declaring mayWait`);
      if (!STRATEGY_NAME.test(result.reason))
        failures.push(`${label}: reason "${result.reason}" is not kebab-case`);
      if (!contract.abstainsWhen.includes(result.reason))
        failures.push(
          `${label}, ${pods.length} pods: ${result.t} "${result.reason}" is not declared in abstainsWhen`,
        );
    }
  }
  return failures;
};

/**
 * With the signal's best pod gone unready (the cluster store still holds it, and the signal — metrics, prefix
 * blocks, session id, pending load — still points at it), the strategy, called directly with the ready candidates,
 * picks among them: its filter never brings the unready pod back, its answer is index-aligned with the candidates,
 * it names no unready pod in its response headers, and where the signal ranks the rest it picks the runner-up.
 */
const readyCandidatesOnly: Check = async (factory, env) => {
  const failures: string[] = [];
  const prompt = await promptOf(env);
  for (const f of await fixtures(factory, env)) {
    // No best pod (random): take the first away all the same; the rest of the check still applies.
    const gone = f.best ?? (f.fleet.pods[0] as Pod);
    f.fleet.store.replace(f.fleet.pods.map((p) => (p === gone ? { ...p, ready: false } : p)));
    const ready = f.fleet.pods.filter((p) => p !== gone);
    const s = create(factory, f);
    const d = decide(s, f, prompt, ready);
    const n = f.fleet.pods.length;
    if (d.kept.some((p) => !ready.includes(p))) failures.push(`${n} pods: filter brought back ${name(gone)}`);
    if (d.result.t === "scores" && d.result.scores.length !== d.kept.length)
      failures.push(`${n} pods: ${d.result.scores.length} scores for ${d.kept.length} candidates`);
    const top = argmax(d.scores);
    const picked = top === undefined ? undefined : ready[top];
    const headers = picked ? (s.responseHeaders?.(d.ctx, picked) ?? []) : [];
    const goneId = Buffer.from(gone.address).toString("base64");
    if (headers.some(([, v]) => v === goneId))
      failures.push(`${n} pods: response headers name unready ${name(gone)}`);
    if (f.runnerUp !== undefined && picked !== f.runnerUp)
      failures.push(
        `${n} pods, ${name(gone)} unready: picked ${picked ? name(picked) : `no single pod (${d.result.t})`}, expected ${name(f.runnerUp)}`,
      );
  }
  return failures;
};

/**
 * A pick made with the strategy (its filter, score and onRouted, no director) and held by a real pick lease, moved
 * to another pod and released twice, leaves the load tracker and the strategy's own accounting (SLO pending load)
 * where they were before the pick.
 */
const loadReturnsToZero: Check = async (factory, env) => {
  const failures: string[] = [];
  const prompt = await promptOf(env);
  for (const f of await fixtures(factory, env)) {
    const s = create(factory, f);
    const before = f.fleet.load.totalRequests();
    const pendingBefore = f.fleet.pods.map((p) => f.pending?.utilization(p.key) ?? 0);
    const d = decide(s, f, prompt, f.fleet.pods);
    const pod = f.fleet.pods[argmax(d.scores) ?? 0] as Pod;
    const other = f.fleet.pods.find((p) => p !== pod) as Pod;
    const releaseLoad = f.fleet.load.reserve(pod.key, d.ctx.request.promptTokens);
    const finish = s.onRouted?.(d.ctx, pod);
    const hookErrors: string[] = [];
    const finishers: (readonly [string, RouteFinisher])[] = finish ? [[s.type, finish]] : [];
    const lease = createPickLease({
      pod,
      tokens: d.ctx.request.promptTokens,
      load: f.fleet.load,
      releaseLoad,
      finishers,
      observer: { onHookError: (_t, hook, err) => hookErrors.push(`${hook}: ${String(err)}`) },
    });
    lease.moveTo(other);
    lease.release({ kind: "success", promptTokens: 16, completionTokens: 4 });
    lease.release({ kind: "error" });
    const n = f.fleet.pods.length;
    if (f.fleet.load.totalRequests() !== before)
      failures.push(`${n} pods: ${f.fleet.load.totalRequests() - before} requests left in flight`);
    f.fleet.pods.forEach((p, i) => {
      const now = f.pending?.utilization(p.key) ?? 0;
      if (Math.abs(now - (pendingBefore[i] as number)) > 1e-9)
        failures.push(`${n} pods: pending load on ${p.name} is ${now}, was ${pendingBefore[i]}`);
    });
    failures.push(...hookErrors);
  }
  return failures;
};

/** A director for `f` with the strategy as default, real prompt preparation and (optionally) a headroom queue. */
function directorFor(factory: StrategyFactory<unknown>, f: SignalFixture, env: CheckEnv, queue = false) {
  const registry = createStrategyRegistry({ deps: f.deps });
  registry.register(factory);
  return createDirector({
    registry,
    cluster: () => f.fleet.store.snapshot(),
    load: f.fleet.load,
    defaultStrategy: factory.type,
    random: seededRandom(3),
    metrics: { fresh: (key) => f.metrics.get(key) },
    observations: { get: (key) => f.observations.get(key) },
    preparePrompt: env.prepare,
    ...(queue ? { headroomQueue: createHeadroomQueue({ maxWaitMs: 60_000 }) } : {}),
  });
}

const input = (f: SignalFixture) => ({
  requestId: "contract",
  request: f.request,
  headers: headersOf(f.headers),
  strategyHeader: undefined,
});

/** Through `routeWithPrompt` (prompt tokenized and keyed by the real preparer): routed, to the best pod. */
const routeWithPrompt: Check = async (factory, env) => {
  const failures: string[] = [];
  for (const f of await fixtures(factory, env)) {
    const before = f.fleet.load.totalRequests();
    const pick = await directorFor(factory, f, env).routeWithPrompt(input(f));
    const n = f.fleet.pods.length;
    if (pick.t !== "routed")
      failures.push(`${n} pods: ${pick.t}${pick.t === "fallback" ? ` (${pick.reason})` : ""}`);
    else if (f.best !== undefined && pick.pod.key !== f.best.key)
      failures.push(`${n} pods: routed to ${pick.pod.name}, expected ${name(f.best)}`);
    if (pick.t !== "none") pick.release({ kind: "success" });
    if (f.fleet.load.totalRequests() !== before) failures.push(`${n} pods: load not back after release`);
  }
  return failures;
};

/** Whether `promise` has settled once the callbacks queued so far have run. */
async function settledNow<T>(promise: Promise<T>): Promise<boolean> {
  let settled = false;
  const done = () => (settled = true);
  void promise.then(done, done);
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/**
 * For a strategy that does not declare `mayWait`: with a headroom queue configured, it never parks a request,
 * even once its picks are many per pod (and, for a signal with tight deps, past what those deps allow).
 */
async function neverWaits(factory: StrategyFactory<unknown>, env: CheckEnv): Promise<string[]> {
  const tight = builderOf(contractOf(factory)).tight;
  const base = SIGNAL_FIXTURES.random.build(2, 0, { prompt: await promptOf(env), hasher: env.hasher });
  const f = tight ? { ...base, deps: tight() } : base;
  const director = directorFor(factory, f, env, true);
  const failures: string[] = [];
  const picks = [];
  for (let k = 0; k < 5; k++) {
    const pick = Promise.resolve(director.routeWithPrompt(input(f)));
    if (!(await settledNow(pick))) {
      failures.push(`request ${k + 1} waits without the strategy declaring mayWait`);
      break;
    }
    picks.push(await pick);
  }
  for (const p of picks) if (p.t !== "none") p.release({ kind: "success" });
  return failures;
}

/**
 * For a strategy that may wait: once its picks fill every pod, the next `routeWithPrompt` waits, and settles with
 * a pick on the pod a release frees.
 */
const waitsForHeadroom: Check = async (factory, env) => {
  const contract = contractOf(factory);
  const tight = builderOf(contract).tight;
  const probe = create(
    factory,
    SIGNAL_FIXTURES.random.build(1, 0, { prompt: await promptOf(env), hasher: env.hasher }),
  );
  if (probe.mayWait !== true) return neverWaits(factory, env);
  if (!tight) return [`declares mayWait but signal ${contract.ranksBy} has no tight fixture`];
  const f = {
    ...SIGNAL_FIXTURES.random.build(2, 0, { prompt: await promptOf(env), hasher: env.hasher }),
    deps: tight(),
  };
  const director = directorFor(factory, f, env, true);
  const first = await director.routeWithPrompt(input(f));
  const second = await director.routeWithPrompt(input(f));
  if (first.t === "none" || second.t === "none") return [`could not fill the fleet: ${first.t}, ${second.t}`];
  const waiting = Promise.resolve(director.routeWithPrompt(input(f)));
  const failures: string[] = [];
  if (await settledNow(waiting)) failures.push("answered while every pod was full instead of waiting");
  second.release({ kind: "success" });
  const third = await waiting;
  if (third.t === "none") failures.push("answered none after a release freed a pod");
  else if (third.pod.key !== second.pod.key) failures.push(`woke onto ${third.pod.name}, not the freed pod`);
  for (const p of [first, third]) if (p.t !== "none") p.release({ kind: "success" });
  if (f.fleet.load.totalRequests() !== 0) failures.push("load not back to zero");
  return failures;
};

/** Every check, by the name a strategy declares a skip with. */
export const CHECKS: Readonly<Record<ContractCheck, Check>> = {
  "follows-signal": followsSignal,
  "declared-abstention": declaredAbstention,
  "ready-candidates-only": readyCandidatesOnly,
  "load-returns-to-zero": loadReturnsToZero,
  "route-with-prompt": routeWithPrompt,
  "waits-for-headroom": waitsForHeadroom,
};

/** Run every check the strategy does not declare a skip for; failures per check (a throw is a failure). */
export async function runChecks(
  factory: StrategyFactory<unknown>,
  env: CheckEnv,
): Promise<Map<ContractCheck, string[]>> {
  const skipped = new Set((factory.contract?.skips ?? []).map((s) => s.check));
  const out = new Map<ContractCheck, string[]>();
  for (const [check, run] of Object.entries(CHECKS) as [ContractCheck, Check][]) {
    if (skipped.has(check)) continue;
    try {
      out.set(check, await run(factory, env));
    } catch (err) {
      out.set(check, [`threw: ${err instanceof Error ? err.message : String(err)}`]);
    }
  }
  return out;
}
