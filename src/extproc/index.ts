/**
 * What other areas may use of `src/extproc`: import it from here, never from a file inside.
 *
 * @module
 */
export { createApiKeyCheck } from "./api-key";
export { createBodyBudget } from "./body-budget";
export { loadExtProcDefinition } from "./proto";
export { DECISION_KEYS, ENDPOINT_SCORES, KVROUTE_NAMESPACE, LB_NAMESPACE } from "./replies";
export type { ProcessingRequest, ProcessingResponse, ProtoStruct } from "./messages";
export { createRequestReporter } from "./request-reporter";
export { createExtProcService } from "./service";
export type { ExtProcService } from "./service";
export type { SessionHooks } from "./session";
export { withFastCodec } from "./wire-codec";
