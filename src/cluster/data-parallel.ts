/**
 * Data-parallel (DP) ranks as endpoints: a pod that runs several DP ranks of one engine, each behind its own
 * serving port, is routed as one {@link Pod} per rank, so in-flight load, engine metrics, KV-event indexes, health
 * and every strategy see each rank on its own without knowing about DP.
 *
 * A rank's endpoint keeps the pod's `name` (the `target-pod` header names the pod, as the reference picker keeps
 * the pod name on each rank endpoint) and gets its own `key`, `port` and `address`:
 *
 * - key: `<pod key>/rank-<r>` — `/` never occurs in a Kubernetes name, so a rank key can never be another pod's
 *   key (the standalone file keys by address instead: see `endpoints-file.ts`);
 * - serving port: the rank's port (an InferencePool's `targetPorts[r]`, else the pod's port + r);
 * - metrics port: the pod's own metrics port when it has one apart from serving (one `/metrics` for every rank:
 *   each rank reads its own `engine="<r>"` series), else the rank's serving port (each rank its own server);
 * - KV events: vLLM offsets the PUB and replay ports by the rank and stamps each batch with
 *   `data_parallel_rank`, which the subscriber checks against {@link Pod.dataParallelRank}.
 *
 * A pod with one rank (no DP) stays one endpoint under its plain key, without `dataParallelRank`.
 *
 * @module
 */
import type { Pod } from "./pod";
import { formatAddress } from "./pod";

/** Pod label (AIBrix) with the number of DP ranks the pod serves, ranks on consecutive ports from its port. */
export const DATA_PARALLEL_SIZE_LABEL = "model.aibrix.ai/data-parallel-size";

/** Most ranks one pod may expand into; a larger count is refused as a mistake rather than opening that many ports. */
export const MAX_DATA_PARALLEL_SIZE = 64;

/** The key of rank `rank` of the pod keyed `podKey`. */
export function rankKey(podKey: string, rank: number): string {
  return `${podKey}/rank-${rank}`;
}

/**
 * A DP size from a label value: an integer in 1..{@link MAX_DATA_PARALLEL_SIZE}, `{ size }`; absent: `{ size: 1 }`;
 * anything else: `{ invalid }` with the reason (the pod is then served as one endpoint).
 */
export function parseDataParallelSize(
  value: string | undefined,
): { readonly size: number } | { readonly invalid: string } {
  if (value === undefined) return { size: 1 };
  const text = value.trim();
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (n >= 1 && n <= MAX_DATA_PARALLEL_SIZE) return { size: n };
  return {
    invalid: `${DATA_PARALLEL_SIZE_LABEL}=${JSON.stringify(value)} is not an integer in 1..${MAX_DATA_PARALLEL_SIZE}`,
  };
}

/**
 * The serving ports of a pod's ranks: the pool's target ports when there are several, else `size` consecutive
 * ports from `port`, cut at 65535 (a rank past the last port has nowhere to listen).
 */
export function rankPorts(port: number, size: number, targetPorts: readonly number[] = []): number[] {
  if (targetPorts.length > 1) return [...targetPorts];
  const out: number[] = [];
  for (let r = 0; r < size && port + r <= 65_535; r++) out.push(port + r);
  return out;
}

/**
 * One endpoint per rank of `pod` at `ports[r]` (see the module comment); `[pod]` as is when there is one port.
 *
 * @param key The key of rank `r` (Kubernetes: {@link rankKey}; the standalone file: its address).
 */
export function expandRanks(
  pod: Pod,
  ports: readonly number[],
  key: (rank: number, address: string) => string = (r) => rankKey(pod.key, r),
): Pod[] {
  if (ports.length <= 1) return [pod];
  const sharedMetrics = pod.metricsPort !== pod.port;
  return ports.map((port, rank) => {
    const address = pod.ip === "" ? "" : formatAddress(pod.ip, port);
    return {
      ...pod,
      key: key(rank, address),
      port,
      address,
      metricsPort: sharedMetrics ? pod.metricsPort : port,
      dataParallelRank: rank,
    };
  });
}
