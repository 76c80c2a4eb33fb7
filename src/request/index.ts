/**
 * Request parsing: what other areas need to turn a `:path` and a buffered body into an `InferenceRequest`.
 *
 * @module
 */

export { endpointForPath, parseRequest } from "./parse";
export type { ParseLimits } from "./parse";
export { isWholeJsonObject } from "./shape-limits";
export type { Endpoint, InferenceRequest, Prompt } from "./inference-request";
