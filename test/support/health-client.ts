/**
 * A `grpc.health.v1` client for tests: Check, List and Watch against kvroute's gRPC port.
 */
import * as grpc from "@grpc/grpc-js";
import { protoPath as healthProto } from "grpc-health-check";
import * as protoLoader from "@grpc/proto-loader";

/** Connect to the health service on `127.0.0.1:port`, plaintext unless `credentials` say otherwise. */
export function healthClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
) {
  const def = protoLoader.loadSync(healthProto, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: {
      health: {
        v1: { Health: new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => grpc.Client };
      };
    };
  };
  const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials, options) as grpc.Client & {
    Check(req: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
    Check(
      req: { service: string },
      opts: grpc.CallOptions,
      cb: (e: grpc.ServiceError | null, r?: { status: string }) => void,
    ): void;
    List(
      req: object,
      cb: (e: grpc.ServiceError | null, r?: { statuses: Record<string, { status: string }> }) => void,
    ): void;
    Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
  };
  return {
    check: (service: string, deadlineMs?: number) =>
      new Promise<string>((resolve, reject) => {
        const callback = (e: grpc.ServiceError | null, r?: { status: string }): void =>
          e ? reject(e) : resolve(r?.status ?? "");
        if (deadlineMs === undefined) client.Check({ service }, callback);
        else client.Check({ service }, { deadline: Date.now() + deadlineMs }, callback);
      }),
    list: () =>
      new Promise<Record<string, string>>((resolve, reject) =>
        client.List({}, (e, r) =>
          e
            ? reject(e)
            : resolve(Object.fromEntries(Object.entries(r?.statuses ?? {}).map(([k, v]) => [k, v.status]))),
        ),
      ),
    watch: (service: string) => client.Watch({ service }),
    close: () => client.close(),
  };
}
