/**
 * Wiring of KV-cache awareness: tokenizers, the block hasher, the approximate and KV-event prefix indexes, and the
 * ZeroMQ subscriptions that feed the latter. What strategies get is `deps` (the indexes) and `preparePrompt`
 * (tokens and block keys for a request).
 *
 * @module
 */
import { closeEach } from "./closing";
import type { ClusterStore } from "./cluster";
import { podsForModel, promptContext } from "./cluster";
import type { EngineMetricsView } from "./cluster";
import { endpointName, podIdentity } from "./cluster";
import type { Config } from "./config";
import { labelEnabled, startKvEvents } from "./kvevents";
import { createKvEventStateLog } from "./kv-event-state-log";
import type { Logger } from "./observability";
import type { Metrics } from "./observability";
import { createApproximateIndex } from "./prefix";
import { aibrixPrefixHashes, createBlockHasher } from "./prefix";
import { createEventIndex } from "./prefix";
import { createPromptPreparer } from "./prefix";
import type { PreparePrompt } from "./prefix";
import { createPromptStreams } from "./prefix";
import type { PromptStream } from "./prefix";
import { createSpeculativeIndex, withSpeculation } from "./prefix";
import type { PrefixDeps } from "./routing";
import { createTokenizerRegistry } from "./tokenize";
import type { TokenizerPreload, WorkerPool } from "./tokenize";

/**
 * Bounds of the speculative index. Entries live only `--prefix-speculative-ttl-ms`, so these are reached only by
 * a burst of long prompts (e.g. 200 req/s × 500 blocks × 2 s); beyond them the oldest guesses go first. The ring
 * is preallocated (20 bytes a slot, 4 MB); the per-pod maps take about 60 bytes of heap an entry (bench/kv-index.ts).
 */
const SPECULATIVE_MAX_BLOCKS = 200_000;
/** No pod prefills more than this many blocks (800k tokens at 16 per block) within a TTL of a few seconds. */
const SPECULATIVE_MAX_BLOCKS_PER_POD = 50_000;

/** What the server needs from the KV-cache subsystem. */
export interface KvCacheRuntime {
  readonly deps: PrefixDeps;
  readonly preparePrompt: PreparePrompt;
  /**
   * For a streamed request body to `path`: the stream that reads its prompt and hashes its blocks as the chunks
   * arrive, or undefined when that body's prompt is prepared the ordinary way.
   */
  streamPrompt(path: string): PromptStream | undefined;
  /** `/debug/state` facts of one pod. */
  podDetails(podKey: string): Record<string, unknown>;
  /** The tokenizer worker pool (absent with no workers). */
  readonly tokenizerPool: WorkerPool | undefined;
  /** Whether the workers have loaded every configured tokenizer (or failed, or the bound passed): readiness. */
  tokenizersLoaded(): boolean;
  /** Settles when `tokenizersLoaded()` turns true. Never rejects. */
  whenTokenizersLoaded(): Promise<void>;
  close(): Promise<void>;
}

/** Options of `startKvCacheRuntime`. */
export interface KvCacheRuntimeOptions {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly engineMetrics: EngineMetricsView;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Clock of the speculative entries' TTL, ms (default `performance.now`). */
  readonly speculativeNow?: () => number;
}

/** Start tokenizers, indexes and KV-event subscriptions. Throws (naming the setting) on a bad tokenizer config. */
export async function startKvCacheRuntime(o: KvCacheRuntimeOptions): Promise<KvCacheRuntime> {
  const { config, cluster, log } = o;
  const seed = BigInt(config.prefixHashSeed);
  const hasher = await createBlockHasher(seed);
  // The approximate index of a pod holds at most what its engine can cache, once the engine has said how much;
  // while it has not (or its metrics went stale), a fixed bound: never unbounded.
  const approximate = createApproximateIndex({
    maxBlocks: config.prefixCacheBlockNumber,
    perPodMaxBlocks: (key) => o.engineMetrics.fresh(key)?.numGpuBlocks,
    fallbackPerPodMaxBlocks: config.prefixPodMaxBlocks,
  });
  // Speculation bridges the gap between routing a prompt to a publishing pod and that pod's BlockStored event.
  const speculative =
    config.prefixSpeculativeTtlMs > 0
      ? createSpeculativeIndex({
          ttlMs: config.prefixSpeculativeTtlMs,
          maxBlocks: SPECULATIVE_MAX_BLOCKS,
          maxBlocksPerPod: SPECULATIVE_MAX_BLOCKS_PER_POD,
          ...(o.speculativeNow ? { now: o.speculativeNow } : {}),
        })
      : undefined;
  const events = createEventIndex({
    hasher,
    maxBlocks: config.kvEventsMaxBlocks,
    ...(speculative ? { listener: speculative } : {}),
  });
  let tokenizers;
  try {
    tokenizers = createTokenizerRegistry({
      defaultSpec: config.tokenizer,
      ...(config.tokenizersConfigPath === undefined ? {} : { configPath: config.tokenizersConfigPath }),
      workerThresholdChars: config.tokenizeWorkerThresholdChars,
      workers: config.tokenizeWorkers,
      onWorkerCancelled: (stage) => o.metrics.tokenizeCancelled.inc({ stage }),
      // `remote` without an endpoint asks a ready server of the model itself, as AIBrix's remote tokenizer does.
      remoteEndpointFor: (model) => {
        const pod = cluster
          .snapshot()
          .models.get(model)
          ?.find((p) => p.ready);
        return pod ? `http://${pod.address}` : undefined;
      },
      log: (msg, fields) => log.info(fields, msg),
    });
  } catch (e) {
    throw new Error(`--tokenizer / --tokenizers-config: ${(e as Error).message}`, { cause: e });
  }
  // From here on a failing start must not leave the tokenizer workers running.
  const startedTokenizers = tokenizers;
  try {
    // Loading a Hugging Face tokenizer takes seconds and blocks: do it for every configured tokenizer now, at
    // start-up — here (before serving) and in every worker (readiness waits for those, bounded) — rather than on
    // the first long prompt's turn.
    const preload = startedTokenizers.preload();
    const runtime = startSubscriptions(o, {
      hasher,
      approximate,
      speculative,
      events,
      tokenizers: startedTokenizers,
    });
    return { ...runtime, ...tokenizersReadiness(preload, log) };
  } catch (e) {
    await startedTokenizers.close();
    throw e;
  }
}

/**
 * Readiness waits at most this long for the workers to load the tokenizers (a Hugging Face load takes 1–3 s, more
 * on a loaded machine). Beyond it kvroute turns ready all the same: a worker still loading makes the requests it
 * takes wait for the load, as a lazy load would.
 */
const TOKENIZER_PRELOAD_TIMEOUT_MS = 30_000;

/** Readiness of the tokenizer preload: done (or failed, or timed out — each logged) or not yet. */
function tokenizersReadiness(
  preload: Promise<TokenizerPreload>,
  log: Logger,
): Pick<KvCacheRuntime, "tokenizersLoaded" | "whenTokenizersLoaded"> {
  let loaded = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn(
        { timeoutMs: TOKENIZER_PRELOAD_TIMEOUT_MS },
        "tokenizers: workers still loading; ready anyway (requests they take wait for the load)",
      );
      resolve();
    }, TOKENIZER_PRELOAD_TIMEOUT_MS);
    timer.unref();
  });
  const done = preload.then(
    (r) => {
      for (const f of r.failed)
        log.error(f, "tokenizers: load failed; its models route without prefix information");
      if (r.loaded.length > 0) log.info({ tokenizers: r.loaded }, "tokenizers: loaded in every worker");
    },
    (e: unknown) => log.error({ error: (e as Error).message }, "tokenizers: preload failed"),
  );
  const settled = Promise.race([done, timeout]).then(() => {
    clearTimeout(timer);
    loaded = true;
  });
  return { tokenizersLoaded: () => loaded, whenTokenizersLoaded: () => settled };
}

/** The parts `startSubscriptions` wires together. */
interface Indexes {
  readonly hasher: Awaited<ReturnType<typeof createBlockHasher>>;
  readonly approximate: ReturnType<typeof createApproximateIndex>;
  readonly speculative: ReturnType<typeof createSpeculativeIndex> | undefined;
  readonly events: ReturnType<typeof createEventIndex>;
  readonly tokenizers: ReturnType<typeof createTokenizerRegistry>;
}

/** Subscribe to KV events and fleet changes, and build what strategies get. */
function startSubscriptions(
  o: KvCacheRuntimeOptions,
  parts: Indexes,
): Omit<KvCacheRuntime, "tokenizersLoaded" | "whenTokenizersLoaded"> {
  const { config, cluster, metrics, log } = o;
  const { hasher, approximate, speculative, events, tokenizers } = parts;
  const seed = BigInt(config.prefixHashSeed);
  const podName = (key: string): string => {
    const pod = cluster.snapshot().pods.get(key);
    return pod === undefined ? key : endpointName(pod);
  };
  const podLabel = (key: string): string => metrics.podLabel.admit(podName(key));
  const issue = (key: string, kind: string): void => metrics.kvEventIssues.inc({ pod: podLabel(key), kind });
  const rankWarned = new Set<string>();
  // Each pod's stream logged once per change (connected, degraded with why, recovered), not once per failure.
  const states = createKvEventStateLog(log, podName);
  const kv = startKvEvents({
    cluster,
    sink: events,
    ports: { pub: config.kvEventsPort, replay: config.kvEventsReplayPort },
    enabledFor: (pod) => labelEnabled(pod) || (config.standalone && config.kvEventsStatic),
    replayTimeoutMs: config.kvEventsReplayTimeoutMs,
    maxConcurrentReplays: config.kvEventsMaxConcurrentReplays,
    observer: states.around({
      onEvent: (key, tag) => metrics.kvEvents.inc({ pod: podLabel(key), tag }),
      onDecodeError: (key) => issue(key, "decode-error"),
      onGap: (key) => issue(key, "gap"),
      onReplayRequest: (key, trigger) => metrics.kvReplays.inc({ pod: podLabel(key), trigger }),
      onReplay: (key, result, batches) => {
        const pod = podLabel(key);
        issue(key, result === "ok" || result === "partial" ? "replay-ok" : "replay-failed");
        metrics.kvReplayResults.inc({ pod, result });
        if (batches > 0) metrics.kvReplayedBatches.inc({ pod }, batches);
      },
      onDuplicate: (key) => metrics.kvDuplicateBatches.inc({ pod: podLabel(key) }),
      onResync: (key, reason) => {
        issue(key, "resync");
        metrics.kvResyncs.inc({ pod: podLabel(key), reason });
      },
      onSocketError: (key) => issue(key, "socket-error"),
      onRankMismatch: (key, stamped) => {
        issue(key, "rank-mismatch");
        // Once per endpoint: a misconfiguration repeats on every batch; the counter keeps the rate.
        if (rankWarned.has(key)) return;
        rankWarned.add(key);
        log.warn(
          { pod: podName(key), stamped },
          "kv events: batch stamped with another data-parallel rank than its port's; dropped",
        );
      },
    }),
  });
  // Pods that left the fleet, became unready, or came back as another pod under the same key (a new UID or
  // address: a new process with an empty cache) take their approximate entries with them (the event index is
  // dropped by `kv` for the same reasons). Keyed by pod, with the identity the entries were learnt under.
  const routedTo = new Map<string, string>();
  const warnClash = portClash(config.kvEventsPort, config.kvEventsReplayPort, log);
  const unsubscribe = cluster.onChange((snap) => {
    for (const [key, identity] of routedTo) {
      const pod = snap.pods.get(key);
      if (pod?.ready && podIdentity(pod) === identity) continue;
      approximate.dropPod(key);
      routedTo.delete(key);
    }
    warnClash(snap.pods.values());
    states.follow(snap);
  });
  warnClash(cluster.snapshot().pods.values());
  metrics.setIndexedBlocksSource(function* () {
    for (const pod of cluster.snapshot().pods.values()) {
      yield [endpointName(pod), "approximate", approximate.blocks(pod.key)] as const;
      yield [endpointName(pod), "events", events.blocks(pod.key)] as const;
    }
  });
  const deps: PrefixDeps = {
    approximate: {
      match: (keys, pods) => approximate.match(keys, pods),
      blocks: (key) => approximate.blocks(key),
      dropPod: (key) => {
        routedTo.delete(key);
        approximate.dropPod(key);
      },
      add: (key, keys) => {
        if (!routedTo.has(key)) {
          const pod = cluster.snapshot().pods.get(key);
          routedTo.set(key, pod ? podIdentity(pod) : "");
        }
        return approximate.add(key, keys);
      },
      forget: (key, keys, ticket) => {
        const removed = approximate.forget(key, keys, ticket);
        metrics.prefixForgotten.inc(removed > 0 ? 1 : 0);
        return removed;
      },
    },
    events: speculative ? withSpeculation(events, speculative) : events,
    ...(speculative ? { speculative } : {}),
    publishesEvents: (key) => kv.publishing(key),
    eventBlockSize: (key) => events.blockSize(key),
    approximateBlockSize: config.prefixBlockSize,
    maxPromptBlocks: config.prefixMaxPromptBlocks,
  };
  const preparePrompt = createPromptPreparer({
    tokenizers,
    hasher,
    approximate:
      config.prefixHash === "aibrix"
        ? {
            t: "aibrix",
            blockBytes: config.prefixBlockSize,
            hash: (bytes, size) => aibrixPrefixHashes(bytes, size, seed),
          }
        : { t: "kvroute", blockSize: config.prefixBlockSize },
    onUnavailable: (reason) => metrics.tokenizerUnavailable.inc({ reason }),
    onStreamed: (outcome) => metrics.promptStreamed.inc({ outcome }),
    maxBlocks: config.prefixMaxPromptBlocks,
    // Long prompts are hashed in the tokenizer worker, at the block sizes `matchPrefix` will ask for: the
    // approximate index's, and the engine block size of each of the model's pods whose events it reads.
    keysOffLoop: {
      seed,
      engineBlockSizes: (model) => {
        const sizes = new Set<number>();
        for (const pod of podsForModel(cluster.snapshot(), model) ?? [])
          if (deps.publishesEvents(pod.key))
            sizes.add(deps.eventBlockSize(pod.key) ?? config.prefixBlockSize);
        return sizes;
      },
    },
  });
  const contextFor = (model: string): string =>
    promptContext(podsForModel(cluster.snapshot(), model) ?? [], model);
  const streamPrompt = createPromptStreams({
    hasher,
    scheme: config.prefixHash === "aibrix" ? "aibrix" : "kvroute",
    blockSize: config.prefixBlockSize,
    maxBlocks: config.prefixMaxPromptBlocks,
    engineBlockSizes: function* () {
      for (const pod of cluster.snapshot().pods.values())
        if (deps.publishesEvents(pod.key)) yield deps.eventBlockSize(pod.key) ?? config.prefixBlockSize;
    },
    contextFor,
    characterModel: (model) => tokenizers.specFor(model).type === "character",
    onAbandoned: () => metrics.promptStreamed.inc({ outcome: "abandoned" }),
  });
  return {
    deps,
    preparePrompt,
    tokenizerPool: tokenizers.pool,
    streamPrompt: config.prefixStreamedPrompt ? streamPrompt : () => undefined,
    podDetails(key) {
      const status = kv.status(key);
      return {
        prefix: {
          approximateBlocks: approximate.blocks(key),
          eventBlocks: events.blocks(key),
          speculativeBlocks: speculative?.blocks(key) ?? 0,
          kvEvents: status
            ? {
                publishing: kv.publishing(key),
                state: status.state,
                retryInMs: status.retryInMs ?? null,
                lastSeq: status.lastSeq === undefined ? null : status.lastSeq.toString(),
                queued: status.queued,
                gaps: status.gaps,
                replays: status.replays,
                replayTimeouts: status.replayTimeouts,
                replayedBatches: status.replayedBatches,
                duplicates: status.duplicates,
                resyncs: status.resyncs,
                decodeErrors: status.decodeErrors,
              }
            : null,
        },
      };
    },
    close: () =>
      closeEach(
        [
          { name: "kv-cache-subscription", close: unsubscribe },
          { name: "kv-events", close: () => kv.close() },
          { name: "tokenizers", close: () => tokenizers.close() },
        ],
        (piece, error) => log.error({ piece, error: (error as Error).message }, "kv cache: close failed"),
      ),
  };
}

/**
 * A warning, once, when a data-parallel rank's PUB port (base + r) is another rank's replay port (replay base + r'):
 * with the conventional 5557/5558, rank 1 publishes where rank 0 answers replays, and that engine cannot bind both.
 * kvroute still subscribes as told; the operator must move the replay base past base + ranks.
 */
function portClash(
  pub: number,
  replay: number,
  log: Logger,
): (pods: Iterable<{ readonly dataParallelRank?: number; readonly key: string }>) => void {
  let warned = false;
  return (pods) => {
    if (warned) return;
    for (const pod of pods) {
      const rank = pod.dataParallelRank;
      if (rank === undefined || rank === 0 || (pub + rank !== replay && replay + rank !== pub)) continue;
      warned = true;
      log.warn(
        { pod: pod.key, rank, kvEventsPort: pub, kvEventsReplayPort: replay },
        "kv events: a data-parallel rank's PUB port is another rank's replay port; set --kv-events-replay-port at or above --kv-events-port + the ranks per pod",
      );
      return;
    }
  };
}
