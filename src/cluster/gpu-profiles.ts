/**
 * GPU profiles written by the AIBrix GPU optimizer (`pkg/cache/model_gpu_profile.go`): the profile's shape, its
 * parsing and the signature lookups. Pure data and arithmetic, so the routing contract and the pending-load
 * accounting beside it can use a profile without knowing where it came from; the Redis store that reads them is
 * `src/usage/gpu-profile-store.ts`.
 *
 * Key: `aibrix:profile_<model>_<deployment>` (string, JSON). JSON shape:
 * `{"gpu", "cost", "tputs": [[..]], "indexes": [[output tokens..],[input tokens..]], "created", "e2e", "ttft",
 * "tpot", "slos": {"percentile","tput","tt","e2e","ttft","tpat","tpot"}}`. `indexes` are stored as log2 on load.
 *
 * The store refreshes every 10 s: `SCAN aibrix:profile_*`, then the values of the keys found; a profile is
 * replaced only by one with a newer `created`. Profiles are kept per Redis key (model and deployment may both
 * contain `_`, so the key is never split back into its parts).
 *
 * Differences from AIBrix, deliberate:
 * - Parsing is strict: `gpu`, `cost`, `tputs`, `indexes` and `created` are required; `e2e`/`ttft`/`tpot` and
 *   `slos` (and each SLO field) are optional (Go leaves them nil/zero). Index values must be positive, finite
 *   and ascending (the signature search assumes ascending order). Malformed values are counted and skipped.
 * - SCAN uses a bounded COUNT (default 100; AIBrix uses 10 — COUNT is only a hint) and a cap on keys per refresh
 *   and on stored profiles. Values are read with MGET per SCAN page (a key of another type reads as nil).
 * - A refresh that fails part-way applies nothing: the last good profiles stay. Like AIBrix, profiles whose key
 *   disappeared from Redis are kept.
 * - {@link deploymentOf} reads `Pod.deployment`, which discovery derives once as AIBrix does (the RayClusterFleet
 *   label, the `--pod-deployment-label` label, else the ReplicaSet owner name minus its `-<hash>` suffix).
 *
 * @module
 */
import type { Pod } from "./pod";

/** `ModelGPUNameTemplate` prefix. */
export const GPU_PROFILE_KEY_PREFIX = "aibrix:profile_";
/** SCAN pattern. */
export const GPU_PROFILE_SCAN_PATTERN = `${GPU_PROFILE_KEY_PREFIX}*`;
/** `SignatureTolerance`: between two indexes, the lower one wins below `lo + (hi - lo) * 0.5` (log2 space). */
export const SIGNATURE_TOLERANCE = 0.5;
/** `defaultModelGPUProfileRefreshInterval`. */
export const DEFAULT_GPU_PROFILE_INTERVAL_MS = 10_000;
/** Default SCAN COUNT hint. */
export const DEFAULT_GPU_PROFILE_SCAN_COUNT = 100;
/** Default cap on keys read per refresh and on stored profiles. */
export const DEFAULT_GPU_PROFILE_MAX_KEYS = 4096;

/** `ModelSLOs`. Absent fields are 0, as in Go. */
export interface GpuProfileSlos {
  /** Percentile applied to the SLO metrics (integer). */
  readonly percentile: number;
  /** Request throughput, RPS. */
  readonly tput: number;
  /** Token throughput. */
  readonly tt: number;
  /** End-to-end latency, seconds. */
  readonly e2e: number;
  /** Time to first token, seconds. */
  readonly ttft: number;
  /** Time per all tokens, seconds. */
  readonly tpat: number;
  /** Time per output token, seconds. */
  readonly tpot: number;
}

/** `ModelGPUProfile`, after load. */
export interface GpuProfile {
  /** `gpu`: the deployment the profile is for. */
  readonly deployment: string;
  /** `cost`: dollar cost of unit GPU time. */
  readonly cost: number;
  /** `tputs[out][in]`: max RPS. */
  readonly tputs: readonly (readonly number[])[];
  /** `indexes`: `[log2(output tokens)..], [log2(input tokens)..]` (log2 applied on load). */
  readonly indexes: readonly (readonly number[])[];
  /** `created`: generation time, Unix seconds (may be fractional). */
  readonly created: number;
  /** `e2e[out][in]`: mean end-to-end latency, seconds. */
  readonly e2e?: readonly (readonly number[])[];
  /** `ttft[out][in]`: mean time to first token, seconds. */
  readonly ttft?: readonly (readonly number[])[];
  /** `tpot[out][in]`: mean time per output token, seconds. */
  readonly tpot?: readonly (readonly number[])[];
  /** `slos`; undefined when absent. */
  readonly slos?: GpuProfileSlos;
}

/** Result of {@link parseGpuProfile} and {@link lookup}. */
export type ProfileResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** `ModelGPUProfileKey`. */
export function gpuProfileKey(model: string, deployment: string): string {
  return `${GPU_PROFILE_KEY_PREFIX}${model}_${deployment}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function matrix(v: unknown, field: string): ProfileResult<number[][]> {
  if (!Array.isArray(v)) return { ok: false, error: `${field}: expected an array of arrays` };
  const out: number[][] = [];
  for (let i = 0; i < v.length; i++) {
    const row: unknown = v[i];
    if (!Array.isArray(row)) return { ok: false, error: `${field}[${i}]: expected an array` };
    for (let j = 0; j < row.length; j++) {
      if (!isNum(row[j])) return { ok: false, error: `${field}[${i}][${j}]: expected a number` };
    }
    out.push(row as number[]);
  }
  return { ok: true, value: out };
}

const SLO_FIELDS = ["percentile", "tput", "tt", "e2e", "ttft", "tpat", "tpot"] as const;

function slos(v: unknown): ProfileResult<GpuProfileSlos> {
  if (!isObject(v)) return { ok: false, error: "slos: expected an object" };
  const out: Record<string, number> = {};
  for (const f of SLO_FIELDS) {
    const x = v[f];
    if (x === undefined || x === null) out[f] = 0;
    else if (!isNum(x)) return { ok: false, error: `slos.${f}: expected a number` };
    else out[f] = x;
  }
  if (!Number.isInteger(out.percentile)) return { ok: false, error: "slos.percentile: expected an integer" };
  return { ok: true, value: out as unknown as GpuProfileSlos };
}

/** Parse one profile value (a JSON string, or an already-parsed value). Never throws. */
export function parseGpuProfile(json: string | unknown): ProfileResult<GpuProfile> {
  let v: unknown = json;
  if (typeof json === "string") {
    try {
      v = JSON.parse(json);
    } catch {
      return { ok: false, error: "not JSON" };
    }
  }
  if (!isObject(v)) return { ok: false, error: "expected a JSON object" };
  if (typeof v.gpu !== "string") return { ok: false, error: "gpu: expected a string" };
  if (!isNum(v.cost)) return { ok: false, error: "cost: expected a number" };
  if (!isNum(v.created)) return { ok: false, error: "created: expected a number" };
  const tputs = matrix(v.tputs, "tputs");
  if (!tputs.ok) return tputs;
  const raw = matrix(v.indexes, "indexes");
  if (!raw.ok) return raw;
  const indexes: number[][] = [];
  for (let i = 0; i < raw.value.length; i++) {
    const row = raw.value[i] ?? [];
    const logs: number[] = [];
    for (let j = 0; j < row.length; j++) {
      const x = row[j] ?? 0;
      if (!(x > 0)) return { ok: false, error: `indexes[${i}][${j}]: expected a positive number` };
      const l = Math.log2(x);
      const prev = logs[j - 1];
      if (prev !== undefined && l < prev)
        return { ok: false, error: `indexes[${i}]: expected ascending values` };
      logs.push(l);
    }
    indexes.push(logs);
  }
  const profile: {
    -readonly [K in keyof GpuProfile]: GpuProfile[K];
  } = { deployment: v.gpu, cost: v.cost, tputs: tputs.value, indexes, created: v.created };
  for (const f of ["e2e", "ttft", "tpot"] as const) {
    const x = v[f];
    if (x === undefined || x === null) continue;
    const m = matrix(x, f);
    if (!m.ok) return m;
    profile[f] = m.value;
  }
  if (v.slos !== undefined && v.slos !== null) {
    const s = slos(v.slos);
    if (!s.ok) return s;
    profile.slos = s.value;
  }
  return { ok: true, value: profile };
}

/**
 * `GetSignature(features...)`: per dimension, log2 of the feature, then a binary search over the ascending
 * (log2) index. Below the first index → 0; above the last → last. Between two indexes `lo`, `hi`: the lower one if
 * `value < lo + (hi - lo) * SIGNATURE_TOLERANCE`, else the higher one. A dimension with a single index → 0.
 * Features are `[outputTokens, inputTokens]` for the profile matrices. Errors as in AIBrix: no features, a
 * negative (or NaN) feature, fewer index dimensions than features, an empty index dimension.
 */
export function lookup(
  profile: Pick<GpuProfile, "indexes">,
  features: readonly number[],
): ProfileResult<number[]> {
  if (features.length === 0) return { ok: false, error: "missing values on getting profile signature" };
  const values: number[] = [];
  for (const f of features) {
    if (!(f >= 0)) return { ok: false, error: `feature value must be positive, got ${f}` };
    values.push(Math.log2(f));
  }
  if (profile.indexes.length < features.length) {
    return {
      ok: false,
      error: `profile index size mismatch, got ${profile.indexes.length}, expected ${features.length}`,
    };
  }
  const sig: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const idx = profile.indexes[i] ?? [];
    const value = values[i] ?? 0;
    const size = idx.length;
    if (size === 0) return { ok: false, error: "profile index size mismatch, at least 1" };
    if (size === 1) {
      sig.push(0);
      continue;
    }
    const at = (k: number): number => idx[k] ?? 0;
    if (value < at(0)) {
      sig.push(0);
      continue;
    }
    if (value > at(size - 1)) {
      sig.push(size - 1);
      continue;
    }
    let left = 0;
    let right = size - 1;
    let found = -1;
    while (left < right - 1) {
      const mid = Math.floor((left + right) / 2);
      if (value < at(mid)) right = mid;
      else if (value > at(mid)) left = mid;
      else {
        found = mid;
        break;
      }
    }
    if (found >= 0) sig.push(found);
    else sig.push(value < at(left) + (at(right) - at(left)) * SIGNATURE_TOLERANCE ? left : right);
  }
  return { ok: true, value: sig };
}

/** `getValue`: `ref[sig[0]][sig[1]]`, or undefined when the matrix is absent or the signature out of bounds. */
export function profileValue(
  ref: readonly (readonly number[])[] | undefined,
  signature: readonly number[],
): number | undefined {
  if (ref === undefined || signature.length < 2) return undefined;
  const [a = -1, b = -1] = signature;
  return ref[a]?.[b];
}

/** `ThroughputRPS(sig)`. */
export function throughputRps(p: GpuProfile, sig: readonly number[]): number | undefined {
  return profileValue(p.tputs, sig);
}
/** `LatencySeconds(sig)` (mean E2E). */
export function latencySeconds(p: GpuProfile, sig: readonly number[]): number | undefined {
  return profileValue(p.e2e, sig);
}
/** `TTFTSeconds(sig)`. */
export function ttftSeconds(p: GpuProfile, sig: readonly number[]): number | undefined {
  return profileValue(p.ttft, sig);
}
/** `TPOTSeconds(sig)`. */
export function tpotSeconds(p: GpuProfile, sig: readonly number[]): number | undefined {
  return profileValue(p.tpot, sig);
}

/**
 * The deployment name of a pod for profile lookup: the pod's `deployment` as discovery derived it (in Kubernetes
 * from the `--pod-deployment-label` label or the owner references, so a label other than the configured one is not
 * read here; `deployment` in the endpoints file). Undefined when unknown.
 */
export function deploymentOf(pod: Partial<Pick<Pod, "deployment">>): string | undefined {
  return pod.deployment === undefined || pod.deployment === "" ? undefined : pod.deployment;
}
