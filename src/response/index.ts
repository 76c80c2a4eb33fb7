/**
 * Response-body processing: token usage harvested from upstream bodies streamed through ext_proc.
 *
 * @module
 */

export type { SseLineBuffer } from "./sse-line-buffer";
export { createSseLineBuffer } from "./sse-line-buffer";
export type { Usage, UsagePatch } from "./usage";
export { completeUsage, usageFromJson, usagePatchFromJson } from "./usage";
export type { HarvestResult, UsageHarvester, UsageHarvesterOptions } from "./usage-harvester";
export { createUsageHarvester } from "./usage-harvester";
