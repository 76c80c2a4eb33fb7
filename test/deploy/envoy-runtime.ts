/**
 * The Envoy runtime flag every shipped config sets: with it, Envoy ends an ext_proc stream with a half-close and
 * waits for kvroute's OK (Envoy >= 1.34); without it, with END_STREAM + RST_STREAM on every request.
 */
export const GRACEFUL_CLOSE_FLAG = "envoy.reloadable_features.ext_proc_graceful_grpc_close";

type Obj = Record<string, unknown>;

/** The flag's value in the last static layer of a (partial) Bootstrap that sets it; undefined when none does. */
export function gracefulCloseSetting(bootstrap: unknown): unknown {
  const layers = ((bootstrap as Obj | undefined)?.["layered_runtime"] as Obj | undefined)?.["layers"];
  if (!Array.isArray(layers)) return undefined;
  let value: unknown;
  for (const layer of layers as Obj[]) {
    const staticLayer = layer["static_layer"] as Obj | undefined;
    if (staticLayer && GRACEFUL_CLOSE_FLAG in staticLayer) value = staticLayer[GRACEFUL_CLOSE_FLAG];
  }
  return value;
}
