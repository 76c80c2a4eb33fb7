/**
 * Turns a command line and an environment into a frozen `Config`, or a help request. Precedence per setting:
 * flag, then environment variable, then default. Every problem found is reported at once, each line naming the
 * setting by flag and env var.
 *
 * @module
 */
import { z } from "zod";
import type { Config } from "./config";
import type { Setting } from "./settings";
import { SETTING_KEYS, SETTINGS, settingLabel } from "./settings";
import type { RawValue } from "./values";

/** A configuration problem. The message has one line per problem, each starting with the setting's name. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Each problem on its own, e.g. `--drain-timeout-ms (KVROUTE_DRAIN_TIMEOUT_MS): must be ..., got "abc"`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join("\n"));
    this.problems = Object.freeze([...problems]);
  }
}

/** Returned instead of a `Config` when `--help` or `-h` is given: print `helpText()` and exit 0. */
export interface HelpRequest {
  readonly help: true;
}

/** What `loadConfig` returns: a config, or a help request (tell them apart with `"help" in result`). */
export type LoadResult = Config | HelpRequest;

type Key = keyof Config;
type RawSettings = { [K in Key]: RawValue };

const HELP_FLAGS = new Set(["-h", "--help", "-help"]);
const HELP: HelpRequest = Object.freeze({ help: true });

/** Flag name (canonical or alias, no dashes) → field. */
const FLAG_TO_KEY: ReadonlyMap<string, Key> = new Map(
  SETTING_KEYS.flatMap((k) => {
    const s: Setting<unknown> = SETTINGS[k];
    return [...(s.flag === undefined ? [] : [s.flag]), ...(s.aliases ?? [])].map((f) => [f, k] as const);
  }),
);

/** A config under construction: a field that failed to parse holds zod's NEVER marker, so every test checks the type. */
type Draft = { readonly [K in Key]: unknown };

/** TLS on the gRPC port comes from files (both) or is self-signed, never both; the health port is its own. */
function tlsRules(c: Draft, ctx: z.RefinementCtx): void {
  const cert = typeof c.grpcTlsCertPath === "string";
  const key = typeof c.grpcTlsKeyPath === "string";
  if (cert !== key) {
    ctx.addIssue({
      code: "custom",
      path: [cert ? "grpcTlsKeyPath" : "grpcTlsCertPath"],
      message: `required with ${cert ? "--grpc-tls-cert" : "--grpc-tls-key"}`,
    });
  }
  if (c.grpcTlsSelfSigned === true && (cert || key)) {
    ctx.addIssue({
      code: "custom",
      path: ["grpcTlsSelfSigned"],
      message: "cannot be combined with --grpc-tls-cert/--grpc-tls-key (choose one source of certificate)",
    });
  }
  const bind = c.grpcBindAddress as { port?: unknown } | undefined;
  if (typeof c.grpcHealthPort === "number" && c.grpcHealthPort !== 0 && bind?.port === c.grpcHealthPort) {
    ctx.addIssue({
      code: "custom",
      path: ["grpcHealthPort"],
      message: `must differ from the port of --grpc-bind-address (${c.grpcHealthPort})`,
    });
  }
}

/** The one schema: every field from its table row, plus the rules that span fields. */
const configSchema = z
  .object(
    Object.fromEntries(SETTING_KEYS.map((k) => [k, SETTINGS[k].type.schema])) as {
      [K in Key]: z.ZodType<Config[K], RawValue>;
    },
  )
  .superRefine(
    (c, ctx) => {
      // `=== true`: a field that failed to parse holds zod's NEVER marker, which must not trigger this rule.
      if (c.standalone === true && c.endpointsConfigPath === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["endpointsConfigPath"],
          message: "required when --standalone is set",
        });
      }
      // Checked here rather than when discovery starts, so the process refuses it before loading the server.
      if (c.standalone === false && typeof c.inferencePool === "string" && c.namespace === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["inferencePool"],
          message: `needs ${settingLabel("namespace")} (an InferencePool is namespaced)`,
        });
      }
      tlsRules(c, ctx);
      const base = c.outlierBaseEjectionMs;
      if (
        typeof base === "number" &&
        typeof c.outlierMaxEjectionMs === "number" &&
        c.outlierMaxEjectionMs < base
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["outlierMaxEjectionMs"],
          message: `must be >= --outlier-base-ejection-ms (${base})`,
        });
      }
    },
    // Run even when a field failed, so one start-up attempt reports every problem.
    { when: () => true },
  );

interface ArgvResult {
  help: boolean;
  /** Raw value per field, and the flag spelling used (so errors name the alias the operator typed). */
  readonly values: Map<Key, { raw: string; flag: string }>;
  readonly problems: string[];
}

/**
 * Parse flags. Go's flag syntax, which AIBrix manifests use, is accepted: `--name value`, `--name=value`, one or two
 * dashes, booleans as `--name` or `--name=false` (never `--name false`), the last repeat wins, `--` ends flags.
 */
function parseArgv(argv: readonly string[]): ArgvResult {
  const out: ArgvResult = { help: false, values: new Map(), problems: [] };
  let lastBareBoolean: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    const prevBoolean = lastBareBoolean;
    lastBareBoolean = undefined;
    if (token === "--") {
      for (const rest of argv.slice(i + 1)) out.problems.push(`unexpected argument ${JSON.stringify(rest)}`);
      break;
    }
    if (HELP_FLAGS.has(token)) {
      out.help = true;
      continue;
    }
    const m = /^--?([^-=][^=]*)(?:=([\s\S]*))?$/.exec(token);
    if (!m) {
      const hint =
        prevBoolean === undefined ? "" : ` (a boolean takes its value after "=": --${prevBoolean}=${token})`;
      out.problems.push(`unexpected argument ${JSON.stringify(token)}${hint}`);
      continue;
    }
    const name = m[1] ?? "";
    const key = FLAG_TO_KEY.get(name);
    if (key === undefined) {
      out.problems.push(`unknown flag --${name} (see --help)`);
      // Its probable value would otherwise be reported again as an unexpected argument.
      const next = argv[i + 1];
      if (m[2] === undefined && next !== undefined && !next.startsWith("-")) i++;
      continue;
    }
    let raw = m[2];
    if (raw === undefined && SETTINGS[key].type.isBoolean) {
      raw = "true";
      lastBareBoolean = name;
    } else if (raw === undefined) {
      const next = argv[i + 1];
      // A following flag means the value was forgotten; values that start with "-" can use --name=value.
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        out.problems.push(`${settingLabel(key, name)}: missing value`);
        continue;
      }
      raw = next;
      i++;
    }
    out.values.set(key, { raw, flag: name });
  }
  return out;
}

/** Deep-freeze the config: it is shared by every module for the life of the process. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Build the configuration from a command line (without `node` and the script: `process.argv.slice(2)`) and an
 * environment. An empty environment variable counts as unset, as with Go's `os.Getenv`, which AIBrix manifests
 * rely on. Pure apart from reading the host name for the `POD_NAME` default.
 *
 * @returns a deeply frozen `Config`, or `{ help: true }` when `--help`/`-h` is among the flags.
 * @throws ConfigError listing every bad, missing or unknown setting.
 */
export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): LoadResult {
  const args = parseArgv(argv);
  // Help wins over errors: someone asking for help with a bad command line wants the help.
  if (args.help) return HELP;
  const raw = {} as RawSettings;
  for (const key of SETTING_KEYS) {
    const envName = SETTINGS[key].env;
    const fromEnv = envName === undefined ? undefined : env[envName];
    raw[key] = args.values.get(key)?.raw ?? (fromEnv === "" ? undefined : fromEnv);
  }
  const parsed = configSchema.safeParse(raw);
  const problems = [...args.problems];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      const label =
        typeof key === "string" && key in SETTINGS
          ? settingLabel(key as Key, args.values.get(key as Key)?.flag)
          : "config";
      problems.push(`${label}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const config: Config = parsed.data;
  return deepFreeze(config);
}

/**
 * `loadConfig` on this process's command line and environment. Only src/config reads `process.argv` or
 * `process.env` (here, `commandFromProcess`, and `unreadAibrixEnvFromProcess` for the startup warning).
 */
export function loadConfigFromProcess(): LoadResult {
  return loadConfig(process.argv.slice(2), process.env);
}

/** Usage text listing every flag and environment variable with its default and description. */
export function helpText(): string {
  const lines = [
    "Usage: kvroute [flags]",
    "",
    "kvroute is an Envoy ext_proc router for LLM inference. Each setting is taken from its flag, else its",
    "environment variable, else its default. Booleans: --standalone or --standalone=false.",
    "",
    "Flags:",
  ];
  const envOnly: string[] = [];
  for (const key of SETTING_KEYS) {
    const s: Setting<unknown> = SETTINGS[key];
    const meta = [
      ...(s.env === undefined || s.flag === undefined ? [] : [`env ${s.env}`]),
      s.type.defaultText === undefined ? "no default" : `default ${s.type.defaultText}`,
    ].join(", ");
    const hint = s.type.hint === "" ? "" : ` ${s.type.hint}`;
    if (s.flag === undefined) {
      envOnly.push(`  ${s.env ?? key}${hint}  (${meta})`, `      ${s.description}`);
      continue;
    }
    const names = [s.flag, ...(s.aliases ?? [])].map((f) => `--${f}`).join(", ");
    lines.push(`  ${names}${hint}  (${meta})`, `      ${s.description}`);
  }
  lines.push("  -h, --help", "      Print this help and exit.");
  if (envOnly.length > 0) lines.push("", "Environment only:", ...envOnly);
  return `${lines.join("\n")}\n`;
}
