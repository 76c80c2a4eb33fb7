import * as grpc from "@grpc/grpc-js";
import { applyStreamResetLimit, observeHttp2SessionErrors } from "../src/grpc-stream-reset-limit";

describe("applyStreamResetLimit", () => {
  it("sets the reset limit in the HTTP/2 options grpc-js passes to http2.createServer", () => {
    // Fails when a grpc-js upgrade moves its private `commonServerOptions`: then the limit must be reached another
    // way (src/grpc-stream-reset-limit.ts), or Envoy's stream resets bring GOAWAYs back.
    const server = new grpc.Server({ "grpc.max_concurrent_streams": 7 });
    applyStreamResetLimit(server, { burst: 1234, ratePerSecond: 567 });
    const options = (server as unknown as { commonServerOptions: Record<string, unknown> })
      .commonServerOptions;
    expect(options).toMatchObject({ streamResetBurst: 1234, streamResetRate: 567 });
    expect(options.settings).toEqual({ maxConcurrentStreams: 7 });
  });

  it("refuses a server without the options object", () => {
    const server = new grpc.Server();
    delete (server as unknown as { commonServerOptions?: unknown }).commonServerOptions;
    expect(() => applyStreamResetLimit(server, { burst: 1, ratePerSecond: 1 })).toThrow(
      /commonServerOptions/,
    );
  });

  it("observing session errors needs grpc-js's HTTP/2 server map, and refuses a server without it", () => {
    const server = new grpc.Server();
    expect(() => observeHttp2SessionErrors(server, () => undefined)).not.toThrow();
    delete (server as unknown as { http2Servers?: unknown }).http2Servers;
    expect(() => observeHttp2SessionErrors(server, () => undefined)).toThrow(/http2Servers/);
  });

  it("runs on the Node release the project pins (Node 20 ignores the reset-limit options)", () => {
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(24);
  });
});
