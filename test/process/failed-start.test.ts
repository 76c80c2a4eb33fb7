/**
 * A start that fails half-way closes what it had already started: the process (running `main()` without
 * `process.exit`) ends on its own, and the ports it had bound are free again.
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { freePort, startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { compiled } from "../support/compiled-build";
import { occupy, release } from "../support/occupy-port";

jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, "../..");
/** How long a process whose `main()` returned may take to exit: generous for a loaded machine, far below a hang. */
const EXIT_BOUND_MS = 20_000;

const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

interface Outcome {
  /** What `main()` resolved with. */
  readonly returned: number | undefined;
  /** Whether the process then exited by itself within the bound. */
  readonly exitedAlone: boolean;
  readonly exitCode: number | null;
}

/** Run `main()` in a child with `args` and watch whether the process ends by itself once it returned. */
async function runMain(args: string[]): Promise<Outcome> {
  const child = spawn(
    process.execPath,
    [...compiled("test/process/fixtures/main-without-exit.ts"), ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env["PATH"] ?? "" },
    },
  );
  children.add(child);
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let returned: number | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const rec = JSON.parse(line) as { msg?: string; code?: number };
    if (rec.msg === "main returned") {
      returned = rec.code;
      break;
    }
  }
  child.stdout.resume();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), EXIT_BOUND_MS)));
  const first = await Promise.race([exited, bound]);
  clearTimeout(timer);
  if (first === "hung") {
    child.kill("SIGKILL");
    return { returned, exitedAlone: false, exitCode: null };
  }
  return { returned, exitedAlone: true, exitCode: first };
}

const STANDALONE = ["--standalone", "--endpoints-config", "examples/endpoints.yaml"];

describe("a failed start", () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it("with the HTTP port taken: returns 1, frees the gRPC port it had bound, leaves nothing open", async () => {
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const taken = await occupy(httpPort);
    try {
      const r = await runMain([
        ...STANDALONE,
        "--grpc-bind-address",
        `127.0.0.1:${grpcPort}`,
        "--http-bind-address",
        `127.0.0.1:${httpPort}`,
        "--redis-host",
        redis.host,
        "--redis-port",
        String(redis.port),
      ]);
      expect(r).toEqual({ returned: 1, exitedAlone: true, exitCode: 1 });
      // The gRPC port kvroute had bound before the HTTP bind failed is free again.
      await release(await occupy(grpcPort));
    } finally {
      await release(taken);
    }
  });

  it("with the gRPC port taken: returns 1 and closes Redis, the scraper and the KV-cache runtime", async () => {
    const grpcPort = await freePort();
    const taken = await occupy(grpcPort);
    try {
      const r = await runMain([
        ...STANDALONE,
        "--grpc-bind-address",
        `127.0.0.1:${grpcPort}`,
        "--http-bind-address",
        "127.0.0.1:0",
        "--redis-host",
        redis.host,
        "--redis-port",
        String(redis.port),
      ]);
      expect(r).toEqual({ returned: 1, exitedAlone: true, exitCode: 1 });
    } finally {
      await release(taken);
    }
  });
});
