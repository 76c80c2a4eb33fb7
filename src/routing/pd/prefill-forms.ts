/**
 * The request bodies of a disaggregated request, per engine, as AIBrix sends them: the prefill request (one output
 * token, not streamed) and the decode request (the client's body plus what ties it to the prefill's KV cache).
 *
 * - vLLM, `shfs` connector (default): prefill carries `kv_transfer_params: { do_remote_decode: true, ... }`; the
 *   decode body gets the prefill response's `kv_transfer_params`, with `remote_host` set to the prefill pod's IP.
 * - vLLM, `nixl` connector: prefill carries nothing extra; the decode body gets the whole prefill response as
 *   `disagg_prefill_resp`.
 * - SGLang: both bodies carry `bootstrap_host` (prefill pod IP), `bootstrap_port` and a random `bootstrap_room`;
 *   the prefill runs alongside the decode (the engines meet through the bootstrap server), so nothing is read back.
 *
 * @module
 */
import type { Pod } from "../../cluster";

/** vLLM's KV connector families, as AIBrix's `AIBRIX_KV_CONNECTOR_TYPE` names them. */
export type KvConnectorType = "shfs" | "nixl";

/** SGLang's bootstrap port when the pod does not say (label `model.aibrix.ai/sglang-bootstrap-port`). */
export const SGLANG_BOOTSTRAP_PORT = 8998;
const SGLANG_BOOTSTRAP_PORT_LABEL = "model.aibrix.ai/sglang-bootstrap-port";

/** A JSON object body. */
export type JsonObject = Record<string, unknown>;

/** How one engine disaggregates; undefined from {@link formFor} for an engine kvroute cannot disaggregate. */
export interface PrefillForm {
  /** SGLang: the prefill is dispatched and the decode request goes at once (its response is not read). */
  readonly async: boolean;
  /** The prefill request's body. */
  prefillBody(request: JsonObject): JsonObject;
  /**
   * The decode request's body from the prefill response (`undefined` for an async form); `undefined` when the
   * response lacks what the decode pod needs (a malformed answer).
   */
  decodeBody(request: JsonObject, response: JsonObject | undefined): JsonObject | undefined;
}

/** The client's body cut down to one prefill step: one token, not streamed (AIBrix's prefill payload). */
function oneToken(request: JsonObject, extra: JsonObject): JsonObject {
  const out: JsonObject = { ...request, ...extra, max_tokens: 1, max_completion_tokens: 1, stream: false };
  delete out.stream_options;
  delete out.min_tokens;
  return out;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function vllmShfs(prefill: Pod): PrefillForm {
  return {
    async: false,
    prefillBody: (request) =>
      oneToken(request, {
        kv_transfer_params: {
          do_remote_decode: true,
          do_remote_prefill: false,
          remote_engine_id: null,
          remote_block_ids: null,
          remote_host: null,
          remote_port: null,
        },
      }),
    decodeBody(request, response) {
      const params = response?.kv_transfer_params;
      if (!isObject(params)) return undefined;
      return { ...request, kv_transfer_params: { ...params, remote_host: prefill.ip } };
    },
  };
}

const vllmNixl: PrefillForm = {
  async: false,
  prefillBody: (request) => oneToken(request, {}),
  decodeBody: (request, response) =>
    response === undefined ? undefined : { ...request, disagg_prefill_resp: response },
};

function sglang(prefill: Pod, random: () => number): PrefillForm {
  const label = Number(prefill.labels[SGLANG_BOOTSTRAP_PORT_LABEL]);
  const bootstrap = {
    bootstrap_host: prefill.ip,
    bootstrap_port: Number.isInteger(label) && label > 0 && label < 65_536 ? label : SGLANG_BOOTSTRAP_PORT,
    // A safe integer, so it survives JSON in every reader (AIBrix draws up to 2^63).
    bootstrap_room: Math.floor(random() * Number.MAX_SAFE_INTEGER),
  };
  return {
    async: true,
    prefillBody: (request) => oneToken(request, bootstrap),
    decodeBody: (request) => ({ ...request, ...bootstrap }),
  };
}

/**
 * The form for the prefill pod's engine (`vllm` with `connector`, or `sglang`); undefined for another engine
 * (TensorRT-LLM's `disaggregated_params` carry 63-bit ids that JSON numbers here would round: not supported).
 */
export function formFor(
  prefill: Pod,
  connector: KvConnectorType,
  random: () => number,
): PrefillForm | undefined {
  switch (prefill.engine) {
    case "vllm":
      return connector === "nixl" ? vllmNixl : vllmShfs(prefill);
    case "sglang":
      return sglang(prefill, random);
    default:
      return undefined;
  }
}

/** The body as a JSON object, or undefined when it is not one. */
export function parseBody(body: Uint8Array): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(
      Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"),
    );
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Parse a prefill response body; undefined when it is not a JSON object. */
export const parseResponse = parseBody;
