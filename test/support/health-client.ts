/**
 * A `grpc.health.v1` client for tests: Check, List and Watch against kvroute's gRPC port.
 */
import * as grpc from "@grpc/grpc-js";
import { protoPath as healthProto } from "grpc-health-check";
import * as protoLoader from "@grpc/proto-loader";

/** Connect to the health service on `127.0.0.1:port`. */
export function healthClient(port: number) {
  const def = protoLoader.loadSync(healthProto, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client } } };
  };
  const client = new pkg.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & {
    Check(req: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
    List(
      req: object,
      cb: (e: grpc.ServiceError | null, r?: { statuses: Record<string, { status: string }> }) => void,
    ): void;
    Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
  };
  return {
    check: (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check({ service }, (e, r) => (e ? reject(e) : resolve(r?.status ?? ""))),
      ),
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
