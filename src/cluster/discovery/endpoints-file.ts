/**
 * The standalone endpoints file format (AIBrix's static provider YAML) and its parser.
 *
 * ```yaml
 * models:
 *   - name: qwen3-8b
 *     engine: vllm            # optional, default vllm
 *     endpoints:
 *       - 10.0.0.1:8000
 *       - "[fd00::2]:8000"
 *       - { address: 10.0.0.3:8000, dataParallelSize: 2 }  # ranks at :8000 and :8001, an endpoint each
 *     deployment: qwen3-8b-h100  # optional: GPU-profile key of these endpoints
 *     config:                   # optional: model config profiles, as the `model.aibrix.ai/config` annotation
 *       profiles: { default: { routingStrategy: least-request, requestsPerSecond: 20 } }
 * ```
 *
 * An endpoint listed under several models is one pod serving all of them (their `deployment`s and `config`s must
 * then agree, as their engines and data-parallel sizes must). An endpoint with `dataParallelSize: n` serves n
 * data-parallel ranks on consecutive ports from its own, each routed as an endpoint of its own (see
 * `cluster/data-parallel.ts`).
 *
 * A disaggregated model lists AIBrix's `rolesets: [{ name, prefill: [...], decode: [...] }]` instead of
 * `endpoints`; each of those pods carries the `role-name` and `roleset-name` labels a Kubernetes pod would (see
 * `cluster/pd-roles.ts`). Watching the file is `static-file.ts`.
 *
 * @module
 */
import { isIPv4, isIPv6 } from "node:net";
import type * as Yaml from "yaml";
import { z } from "zod";
import { expandRanks, MAX_DATA_PARALLEL_SIZE, rankPorts } from "../data-parallel";
import { parseModelConfig, sameModelConfig, type ModelConfig } from "../model-config";
import { ROLE_LABEL, ROLESET_LABEL, type PdRole } from "../pd-roles";
import { formatAddress, type Pod } from "../pod";

/** Largest endpoints file accepted, bytes. A bigger file is almost surely the wrong file. */
export const MAX_ENDPOINTS_FILE_BYTES = 1024 * 1024;
/** Most endpoint entries (summed over models) in one file. */
export const MAX_ENDPOINTS = 10_000;
/** Namespace of every pod from the file. */
export const STATIC_NAMESPACE = "static";
/** Label carrying a pod's (first) model, as AIBrix sets it. */
export const MODEL_LABEL = "model.aibrix.ai/name";

const DEFAULT_ENGINE = "vllm";
/** How many problems one error message lists; the rest are counted. Keeps log lines bounded. */
const MAX_LISTED_PROBLEMS = 5;

/** The endpoints file is unreadable, too big, not YAML, or not in the expected shape. */
export class EndpointsFileError extends Error {
  override readonly name = "EndpointsFileError";
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
  /**
   * Data-parallel ranks served from `port` on; absent when not given (one, unless the same endpoint listed under
   * another model gives it).
   */
  readonly dataParallelSize?: number | undefined;
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** `host:port` or `[ipv6]:port`, port 1..65535; host names are lower-cased so one server is one pod. */
function parseEndpoint(raw: string): Omit<Endpoint, "dataParallelSize"> | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(raw);
  if (!m) return undefined;
  const [, v6, plain, portText = ""] = m;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (v6 !== undefined) return isIPv6(v6) ? { host: v6.toLowerCase(), port } : undefined;
  if (plain === undefined) return undefined;
  const ok = /^[0-9.]+$/.test(plain) ? isIPv4(plain) : HOST_NAME.test(plain);
  return ok ? { host: plain.toLowerCase(), port } : undefined;
}

const addressSchema = z
  .string({ error: 'must be a "host:port" string' })
  .transform((raw, ctx): Omit<Endpoint, "dataParallelSize"> => {
    const ep = parseEndpoint(raw);
    if (ep) return ep;
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(raw)} is not host:port (port 1..65535, IPv6 as [addr]:port)`,
    });
    return z.NEVER;
  });

const rangeMessage = `must be an integer in 1..${MAX_DATA_PARALLEL_SIZE}`;

const rankedEndpointSchema = z
  .strictObject(
    {
      address: addressSchema,
      dataParallelSize: z
        .number({ error: rangeMessage })
        .int(rangeMessage)
        .min(1, rangeMessage)
        .max(MAX_DATA_PARALLEL_SIZE, rangeMessage)
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `unsupported field(s) ${issue.keys.join(", ")} (only address, dataParallelSize)`
          : undefined,
    },
  )
  .transform((e): Endpoint => ({ ...e.address, dataParallelSize: e.dataParallelSize }))
  .refine((e) => e.port + (e.dataParallelSize ?? 1) - 1 <= 65_535, "its last rank's port is above 65535");

/**
 * `"host:port"`, or `{ address: "host:port", dataParallelSize: n }` for an endpoint serving n DP ranks. Chosen by
 * the entry's shape (not a union) so a bad entry's problem is named, not just "matches neither".
 */
const endpointSchema = z.unknown().transform((raw, ctx): Endpoint => {
  const isMapping = typeof raw === "object" && raw !== null && !Array.isArray(raw);
  const parsed = isMapping ? rankedEndpointSchema.safeParse(raw) : addressSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  }
  return z.NEVER;
});

const nameSchema = z
  .string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters")
  .refine((s) => s.trim() === s, "must not have leading or trailing whitespace");

// Strict here, unlike the annotation: the file is this deployment's own configuration, so a bad config is refused
// with the rest of the file rather than quietly routed without.
const modelConfigSchema = z.unknown().transform((raw, ctx): ModelConfig => {
  const parsed = parseModelConfig(raw);
  if (parsed.ok) return parsed.config;
  ctx.addIssue({ code: "custom", message: parsed.reason });
  return z.NEVER;
});

const endpointListSchema = z.array(endpointSchema, { error: 'must be a list of "host:port" strings' });

/** AIBrix's prefill/decode group: pods of one roleset exchange KV caches. */
const rolesetSchema = z.strictObject(
  { name: nameSchema, prefill: endpointListSchema, decode: endpointListSchema },
  {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unsupported field(s) ${issue.keys.join(", ")} (only name, prefill, decode)`
        : "must be a mapping with name, prefill and decode",
  },
);

const modelSchema = z
  .strictObject(
    {
      name: nameSchema,
      engine: nameSchema.optional(),
      deployment: nameSchema.optional(),
      config: modelConfigSchema.optional(),
      // An empty list is allowed: scaling a model to zero must not leave the old endpoints in place.
      endpoints: endpointListSchema.optional(),
      rolesets: z.array(rolesetSchema, { error: "must be a list of rolesets" }).optional(),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `unsupported field(s) ${issue.keys.join(", ")} (only name, engine, endpoints, rolesets, deployment, config)`
          : "must be a mapping with name and endpoints (or rolesets)",
    },
  )
  .superRefine((m, ctx) => {
    if ((m.endpoints === undefined) === (m.rolesets === undefined))
      ctx.addIssue({ code: "custom", message: "must list either endpoints or rolesets (one, not both)" });
  });

/** One endpoint as a model lists it: with its role and roleset when listed under `rolesets`. */
interface ListedEndpoint {
  readonly ep: Endpoint;
  readonly role?: { readonly role: PdRole; readonly roleset: string };
}

/** A model's endpoints in listing order: `endpoints`, or each roleset's prefill then decode pods. */
function listedEndpoints(
  endpoints: readonly Endpoint[] | undefined,
  rolesets: readonly { name: string; prefill: Endpoint[]; decode: Endpoint[] }[] | undefined,
): ListedEndpoint[] {
  const out: ListedEndpoint[] = (endpoints ?? []).map((ep) => ({ ep }));
  for (const rs of rolesets ?? []) {
    for (const role of ["prefill", "decode"] as const)
      for (const ep of rs[role]) out.push({ ep, role: { role, roleset: rs.name } });
  }
  return out;
}

const fileSchema = z
  .strictObject(
    {
      // Empty is refused: an empty or truncated file is far likelier a mistake than an intent to drop every pod.
      models: z
        .array(modelSchema, { error: "must be a list of models" })
        .min(1, "must list at least one model"),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `unsupported field(s) ${issue.keys.join(", ")} (only models)`
          : "must be a mapping with a models list",
    },
  )
  .superRefine((file, ctx) => {
    const seenModels = new Map<string, number>();
    let count = 0;
    file.models.forEach((m, i) => {
      const first = seenModels.get(m.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["models", i, "name"],
          message: `duplicate model ${JSON.stringify(m.name)} (also models[${first}])`,
        });
      } else seenModels.set(m.name, i);
      const seenEndpoints = new Map<string, number>();
      const listed = listedEndpoints(m.endpoints, m.rolesets);
      listed.forEach(({ ep }, j) => {
        const addr = formatAddress(ep.host, ep.port);
        const dup = seenEndpoints.get(addr);
        if (dup !== undefined) {
          ctx.addIssue(
            m.rolesets === undefined
              ? {
                  code: "custom",
                  path: ["models", i, "endpoints", j],
                  message: `${addr} is listed twice (also endpoints[${dup}])`,
                }
              : {
                  code: "custom",
                  path: ["models", i, "rolesets"],
                  message: `${addr} is listed twice (a pod has one role in one roleset)`,
                },
          );
        } else seenEndpoints.set(addr, j);
      });
      count += listed.length;
    });
    if (count > MAX_ENDPOINTS) {
      ctx.addIssue({
        code: "custom",
        path: ["models"],
        message: `has ${count} endpoints, more than the limit of ${MAX_ENDPOINTS}`,
      });
    }
  });

/** `models[1].endpoints[0]`, the way the problem is found in the YAML. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out === "" ? "" : "."}${String(p)}`;
  return out === "" ? "(file)" : out;
}

/** Where an address comes from, for a collision message. */
const describeOwner = (p: Pod): string =>
  p.dataParallelRank === undefined ? "listed" : `rank ${p.dataParallelRank} of ${p.name}`;

/**
 * Parse and validate the text of an endpoints file into pods, sorted by key. Pure.
 *
 * Each distinct endpoint becomes one pod: key `static/<host:port>`, name and address `<host:port>`, `ready`,
 * models sorted, engine from its models (`vllm` when none says), label `model.aibrix.ai/name` = first model.
 * An endpoint with `dataParallelSize: n` (n > 1) becomes n pods, rank r at port + r keyed `static/<its host:port>`
 * and named by the listed endpoint; a rank's address may not be another listed endpoint or rank.
 *
 * @throws EndpointsFileError naming where the problem is, e.g. `models[1].endpoints[0]: "10.0.0.1" is not host:port`.
 */
export function parseEndpointsFile(text: string): Pod[] {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_ENDPOINTS_FILE_BYTES) {
    throw new EndpointsFileError(
      `file is ${bytes} bytes, more than the limit of ${MAX_ENDPOINTS_FILE_BYTES}`,
    );
  }
  const { parse: parseYaml } = loadYaml();
  let doc: unknown;
  try {
    // Alias expansion is capped so a small file cannot expand into a huge one.
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (err) {
    // The yaml library's message continues with a source excerpt and caret; one line is enough for a log.
    const first = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    throw new EndpointsFileError(`not valid YAML: ${first.replace(/:$/, "")}`, { cause: err });
  }
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const listed = issues.slice(0, MAX_LISTED_PROBLEMS).map((i) => `${formatPath(i.path)}: ${i.message}`);
    const more = issues.length > listed.length ? `; and ${issues.length - listed.length} more` : "";
    throw new EndpointsFileError(`${listed.join("; ")}${more}`);
  }

  /** Per endpoint: its models, and each shared attribute with the entry (`models[i]`) that set it first. */
  interface Merged {
    ep: Endpoint;
    models: string[];
    engine?: [string, string] | undefined;
    deployment?: [string, string] | undefined;
    config?: [ModelConfig, string] | undefined;
    dataParallelSize?: [number, string] | undefined;
    /** `null`: listed under `endpoints` (a combined pod). */
    role?: [NonNullable<ListedEndpoint["role"]> | null, string] | undefined;
  }
  const byAddress = new Map<string, Merged>();
  const problems: string[] = [];
  /** Keep the first value of an attribute; a different later one is a problem naming both entries. */
  const merge = <T>(
    prev: [T, string] | undefined,
    next: T | undefined,
    at: { where: string; what: string; addr: string },
    same: (a: T, b: T) => boolean = (a, b) => a === b,
  ): [T, string] | undefined => {
    if (next === undefined) return prev;
    if (prev === undefined) return [next, at.where];
    if (!same(prev[0], next)) {
      // Configs are objects: name the entries, not the (possibly long) values.
      const values =
        typeof next === "string" || typeof next === "number"
          ? `${next} conflicts with ${String(prev[0])}`
          : "conflicts with";
      problems.push(`${at.where}.${at.what}: ${values} (${prev[1]}) for endpoint ${at.addr}`);
    }
    return prev;
  };
  parsed.data.models.forEach((m, i) => {
    const where = `models[${i}]`;
    for (const { ep, role } of listedEndpoints(m.endpoints, m.rolesets)) {
      const addr = formatAddress(ep.host, ep.port);
      let entry = byAddress.get(addr);
      if (!entry) byAddress.set(addr, (entry = { ep, models: [] }));
      entry.models.push(m.name);
      entry.engine = merge(entry.engine, m.engine, { where, what: "engine", addr });
      entry.deployment = merge(entry.deployment, m.deployment, { where, what: "deployment", addr });
      entry.config = merge(entry.config, m.config, { where, what: "config", addr }, sameModelConfig);
      entry.dataParallelSize = merge(entry.dataParallelSize, ep.dataParallelSize, {
        where,
        what: "dataParallelSize",
        addr,
      });
      // One process has one role in one roleset (or none), whichever models it serves.
      entry.role = merge(
        entry.role,
        role ?? null,
        { where, what: "rolesets", addr },
        (a, b) => a?.role === b?.role && a?.roleset === b?.roleset,
      );
    }
  });
  if (problems.length > 0) throw new EndpointsFileError(problems.slice(0, MAX_LISTED_PROBLEMS).join("; "));

  const pods: Pod[] = [];
  for (const [addr, { ep, models, engine, deployment, config, dataParallelSize, role }] of byAddress) {
    const sorted = [...models].sort();
    const pod: Pod = {
      key: `${STATIC_NAMESPACE}/${addr}`,
      name: addr,
      namespace: STATIC_NAMESPACE,
      ip: ep.host,
      port: ep.port,
      address: addr,
      models: sorted,
      ready: true,
      engine: engine?.[0] ?? DEFAULT_ENGINE,
      labels: {
        [MODEL_LABEL]: sorted[0] ?? "",
        ...(role?.[0] && { [ROLE_LABEL]: role[0].role, [ROLESET_LABEL]: role[0].roleset }),
      },
      metricsPort: ep.port,
      adapters: [],
      ...(deployment === undefined ? {} : { deployment: deployment[0] }),
      ...(config === undefined ? {} : { modelConfig: config[0] }),
    };
    // A rank is keyed by its own address, as a listed endpoint is: the two must then never coincide.
    const ports = rankPorts(ep.port, dataParallelSize?.[0] ?? 1);
    pods.push(...expandRanks(pod, ports, (_rank, address) => `${STATIC_NAMESPACE}/${address}`));
  }
  const owners = new Map<string, Pod>();
  for (const p of pods) {
    const other = owners.get(p.address);
    if (other !== undefined) {
      problems.push(`endpoint ${p.address} is both ${describeOwner(other)} and ${describeOwner(p)}`);
    } else owners.set(p.address, p);
  }
  if (problems.length > 0) throw new EndpointsFileError(problems.slice(0, MAX_LISTED_PROBLEMS).join("; "));
  return pods.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** `yaml`, loaded when a file is first parsed: most processes that import this module never parse one. */
function loadYaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see above)
  return require("yaml") as typeof Yaml;
}
