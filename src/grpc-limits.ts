/**
 * How large a message kvroute accepts from Envoy. The transport cap is kept apart from the body cap
 * (`--max-body-bytes`): a BUFFERED body arrives as one message, and one over the body cap must still reach the
 * session to be answered with kvroute's 413 — refused by gRPC instead (RESOURCE_EXHAUSTED), Envoy would answer a
 * bare 500.
 *
 * @module
 */
import type { Config } from "./config";

/** Room for the ProcessingRequest fields around a body at the size limit. */
export const GRPC_FRAMING_HEADROOM_BYTES = 64 * 1024;

/**
 * The gRPC receive limit. Never below the larger of `--max-body-bytes` and `--grpc-max-message-size-bytes` plus
 * the framing headroom, so a body at the limit is always parsed. `--grpc-max-receive-bytes 0` (the default)
 * means twice that larger value plus the headroom: a body up to twice the body cap gets the 413 envelope, and
 * Envoy's own buffer limit (which answers 413 itself) should be kept below the result. A message above it ends
 * the stream with RESOURCE_EXHAUSTED. At most 1 GiB + 64 KiB with the settings' ranges.
 */
export function grpcReceiveLimit(
  config: Pick<Config, "grpcMaxReceiveBytes" | "grpcMaxMessageSizeBytes" | "maxBodyBytes">,
): number {
  const larger = Math.max(config.grpcMaxMessageSizeBytes, config.maxBodyBytes);
  if (config.grpcMaxReceiveBytes === 0) return 2 * larger + GRPC_FRAMING_HEADROOM_BYTES;
  return Math.max(config.grpcMaxReceiveBytes, larger + GRPC_FRAMING_HEADROOM_BYTES);
}
