/**
 * Child process of the scrape benchmark: `--pods N` HTTP metric endpoints on 127.0.0.1:0, each serving a body
 * from `scrape-body.ts` (`--body fixture|full`) whose values change on every request. Reports
 * `{ t: "endpoints", ports }` over IPC once all listen, answers CPU queries (`child-ipc.ts`), and exits on SIGTERM
 * or when the parent goes away.
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { serveCpuQueries } from "./child-ipc";
import { createBodyRenderer } from "./scrape-body";
import type { BodyKind } from "./scrape-body";
import type { EndpointsMessage } from "./scrape-fleet";
import { seededRandom as random } from "../src/seeded-random";

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { pods: { type: "string" }, body: { type: "string" } },
    strict: true,
  });
  const pods = Number(values.pods ?? "100");
  const kind: BodyKind = values.body === "full" ? "full" : "fixture";
  const servers: http.Server[] = [];
  const stop = (): void => {
    for (const s of servers) s.closeAllConnections();
    process.exit(0);
  };
  serveCpuQueries(stop);
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const ports = await Promise.all(
    Array.from({ length: pods }, (_, i) => {
      const render = createBodyRenderer(kind, random(i + 1));
      let n = 0;
      const server = http.createServer((req, res) => {
        n += 1;
        const body = render(n);
        res.writeHead(200, {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
          "content-length": Buffer.byteLength(body),
        });
        res.end(body);
        req.resume();
      });
      // Like uvicorn's default (5 s); the scraper reuses its socket every interval, far inside this.
      server.keepAliveTimeout = 5000;
      servers.push(server);
      return new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
      );
    }),
  );
  const msg: EndpointsMessage = { t: "endpoints", ports };
  process.send?.(msg);
}

main().catch((err: unknown) => {
  process.stderr.write(`scrape-endpoints: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
