/**
 * AIBrix settings carried over that kvroute does not read. An AIBrix user copying their environment sets
 * `AIBRIX_*` variables kvroute has no counterpart for (`AIBRIX_PREFIX_CACHE_KV_EVENT_SYNC_ENABLED`,
 * `AIBRIX_STATESYNC_ENABLED`, ...); ignored silently, they look as if they worked. Their names (never their values:
 * a token or a password may be among them) go on one startup warning.
 *
 * @module
 */
import { SETTINGS, SETTING_KEYS } from "./settings";

/** The `AIBRIX_*` names kvroute reads (from the settings table, so a new setting is known here at once). */
const READ: ReadonlySet<string> = new Set(
  SETTING_KEYS.flatMap((k) => {
    const env = SETTINGS[k].env;
    return env === undefined ? [] : [env];
  }),
);

/**
 * The `AIBRIX_*` variables set in `env` that kvroute does not read, sorted. An empty one counts as unset, as
 * `loadConfig` treats it.
 */
export function unreadAibrixEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith("AIBRIX_") && !READ.has(name) && (env[name] ?? "") !== "")
    .sort();
}

/** {@link unreadAibrixEnv} of this process's environment. */
export function unreadAibrixEnvFromProcess(): string[] {
  return unreadAibrixEnv(process.env);
}
