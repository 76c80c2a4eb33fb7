/**
 * kvroute's configuration: the only module that reads flags or environment variables. `main` calls
 * `loadConfigFromProcess()` once and passes the frozen `Config` down.
 *
 * @module
 */
export { commandFromProcess, parseCommand } from "./command";
export type { Command } from "./command";
export { ConfigError, helpText, loadConfig, loadConfigFromProcess } from "./load";
export type { HelpRequest, LoadResult } from "./load";
export { LOG_LEVELS, REQUEST_BODY_MODES, RESPONSE_BODY_MODES } from "./config";
export { SETTINGS } from "./settings";
export { startupSummary } from "./summary";
export { unreadAibrixEnv, unreadAibrixEnvFromProcess } from "./aibrix-env";
export type { DiscoveryMode, StartupSummary } from "./summary";
export type { Config, LogLevel, RequestBodyMode, ResponseBodyMode } from "./config";
export type { Setting } from "./settings";
export type { BindAddress } from "./values";
export { otlpTracesUrl } from "./settings-tracing";
