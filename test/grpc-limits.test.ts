/** The gRPC receive limit: derived from the body cap by default, never below a body at the limit plus framing. */
import { GRPC_FRAMING_HEADROOM_BYTES, grpcReceiveLimit } from "../src/grpc-limits";

const MIB = 1024 * 1024;

describe("grpcReceiveLimit", () => {
  it("0 means twice the larger of the body cap and the message size, plus framing", () => {
    expect(
      grpcReceiveLimit({ grpcMaxReceiveBytes: 0, grpcMaxMessageSizeBytes: 4 * MIB, maxBodyBytes: 4 * MIB }),
    ).toBe(8 * MIB + GRPC_FRAMING_HEADROOM_BYTES);
    expect(
      grpcReceiveLimit({ grpcMaxReceiveBytes: 0, grpcMaxMessageSizeBytes: MIB, maxBodyBytes: 16 * MIB }),
    ).toBe(32 * MIB + GRPC_FRAMING_HEADROOM_BYTES);
  });

  it("an explicit value is used, but never below a body at the limit plus framing", () => {
    expect(
      grpcReceiveLimit({
        grpcMaxReceiveBytes: 64 * MIB,
        grpcMaxMessageSizeBytes: 4 * MIB,
        maxBodyBytes: 4 * MIB,
      }),
    ).toBe(64 * MIB);
    expect(
      grpcReceiveLimit({ grpcMaxReceiveBytes: MIB, grpcMaxMessageSizeBytes: 4 * MIB, maxBodyBytes: 8 * MIB }),
    ).toBe(8 * MIB + GRPC_FRAMING_HEADROOM_BYTES);
  });
});
