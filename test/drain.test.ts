/**
 * The stop sequence over real gRPC and HTTP: readiness off at once while new streams are still served for the
 * delay; then the listener closes, a request arriving on a stream opened before gets the 503 envelope, routed
 * streams finish; a hurry cuts; and every piece closes even when one fails to.
 */
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { EXT_PROC_SERVICE } from "../src/admin/grpc-health";
import type { ProcessingResponse } from "../src/extproc/messages";
import {
  CHAT_HEADERS,
  ExtProcClient,
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./extproc/harness";
import type { ExtProcStream, Harness } from "./extproc/harness";
import { healthClient } from "./support/health-client";

jest.setTimeout(60_000);

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
const READINESS_NAMES = ["readiness", EXT_PROC_SERVICE, "gateway-plugin", "inference-extension"];
const DELAY_MSG = "drain: readiness NOT_SERVING; still serving new streams until the delay ends";
const CLOSED_MSG = "drain: delay over; listener closed, GOAWAY sent, open streams finishing";

async function routed(s: ExtProcStream): Promise<string> {
  await s.exchange(headers(CHAT_HEADERS));
  const [r] = await s.exchange(body(chatBody()));
  return setHeaders(r)["target-pod"] ?? "";
}

async function finish(s: ExtProcStream): Promise<grpc.StatusObject> {
  await s.exchange(responseHeaders(200));
  await s.exchange(responseBody("{}", true));
  s.end();
  return s.status;
}

/** The immediate response's status, headers and OpenAI envelope. */
function immediate(r: ProcessingResponse | undefined): {
  status: number | undefined;
  headers: Record<string, string>;
  error: Record<string, unknown>;
} {
  const ir = r?.immediate_response;
  const hs: Record<string, string> = {};
  for (const o of ir?.headers?.set_headers ?? [])
    hs[o.header.key] = Buffer.from(o.header.raw_value).toString();
  const envelope = JSON.parse(Buffer.from(ir?.body ?? []).toString() || "{}") as {
    error?: Record<string, unknown>;
  };
  return { status: ir?.status.code, headers: hs, error: envelope.error ?? {} };
}

/** Resolves when `port` can be bound on loopback (and releases it). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

describe("drain", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it("readiness goes NOT_SERVING at once while new streams, on new and open connections, are routed for the delay", async () => {
    h = await startHarness(PODS);
    const health = healthClient(h.server.grpcPort);
    try {
      expect(await routed(h.client.open())).not.toBe(""); // the connection is open before the drain
      const drained = h.server.drain({ delayMs: 600_000, timeoutMs: 10_000 });
      for (const name of READINESS_NAMES) expect(await health.check(name)).toBe("NOT_SERVING");
      expect(await health.check("liveness")).toBe("SERVING");
      expect((await fetch(`http://127.0.0.1:${h.server.httpPort}/readyz`)).status).toBe(503);
      await h.log.waitFor((l) => l["msg"] === DELAY_MSG);

      const onOpenConnection = h.client.open();
      const fresh = new ExtProcClient(`127.0.0.1:${h.server.grpcPort}`);
      const onNewConnection = fresh.open();
      expect(await routed(onOpenConnection)).toMatch(/^10\.0\.0\.[12]:8000$/);
      expect(await routed(onNewConnection)).toMatch(/^10\.0\.0\.[12]:8000$/);
      expect((await finish(onOpenConnection)).code).toBe(grpc.status.OK);
      expect((await finish(onNewConnection)).code).toBe(grpc.status.OK);
      fresh.close();

      h.server.hurryDrain();
      await drained;
      const msgs = h.log.lines.map((l) => l["msg"]);
      expect(msgs.indexOf(DELAY_MSG)).toBeLessThan(msgs.indexOf(CLOSED_MSG));
      expect(msgs).toContain("drain: hurried; delay skipped");
    } finally {
      health.close();
    }
  });

  it("after the delay: new connections are refused, a request on a stream opened before gets the 503 envelope, routed streams finish", async () => {
    h = await startHarness(PODS);
    const inFlight = h.client.open();
    expect(await routed(inFlight)).not.toBe("");
    const opened = h.client.open(); // opened before the drain; its request comes after the delay
    // Same connection, later stream: once it is answered, the server has seen `opened` too (HTTP/2 keeps order).
    const probe = h.client.open();
    expect(await routed(probe)).not.toBe("");
    expect(h.server.extProc.activeStreams()).toBe(3);
    expect((await finish(probe)).code).toBe(grpc.status.OK);

    const drained = h.server.drain({ delayMs: 0, timeoutMs: 60_000 });
    await h.log.waitFor((l) => l["msg"] === CLOSED_MSG);

    const [reply] = await opened.exchange(headers({ ...CHAT_HEADERS, "x-request-id": "late-1" }));
    const late = immediate(reply);
    expect(late.status).toBe(503);
    expect(late.headers["x-error-draining"]).toBe("true");
    expect(late.headers["x-request-id"]).toBe("late-1");
    expect(late.error).toMatchObject({ type: "overloaded_error", code: "service_unavailable" });
    await opened.status;

    const fresh = new ExtProcClient(`127.0.0.1:${h.server.grpcPort}`);
    const refused = fresh.open();
    refused.send(headers(CHAT_HEADERS));
    expect((await refused.status).code).toBe(grpc.status.UNAVAILABLE);
    fresh.close();

    expect((await finish(inFlight)).code).toBe(grpc.status.OK);
    await drained;
    const errors = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(errors).toMatch(/reason="draining"} 1$/m);
    const finished = h.log.lines.filter((l) => l["msg"] === "request finished").map((l) => l["outcome"]);
    expect(finished).toEqual(["success", "success"]);
  });

  it("a hurry (second signal) skips the delay and cuts open streams, recorded as shutdown", async () => {
    h = await startHarness(PODS);
    const s = h.client.open();
    expect(await routed(s)).not.toBe("");
    const drained = h.server.drain({ delayMs: 600_000, timeoutMs: 600_000 });
    await h.log.waitFor((l) => l["msg"] === DELAY_MSG);
    h.server.hurryDrain();
    await drained;
    const line = await h.log.waitFor((l) => l["msg"] === "request finished");
    expect(line["outcome"]).toBe("shutdown");
    expect(
      h.log.lines.find((l) => l["msg"] === "drain deadline reached; cutting open streams"),
    ).toMatchObject({
      hurried: true,
    });
    expect((await s.status).code).not.toBe(grpc.status.OK);
  });

  it("a piece whose close throws does not stop the later ones, and the drain still resolves", async () => {
    const closing: string[] = [];
    h = await startHarness(
      PODS,
      [],
      {},
      {
        onClosing: (piece) => {
          closing.push(piece);
          if (piece === "scraper") throw new Error("scraper close failed");
        },
      },
    );
    const { httpPort } = h.server;
    await expect(h.server.drain(0)).resolves.toBeUndefined();
    expect(closing).toEqual([
      "cluster-subscription",
      "scraper",
      "pd-prefill-client",
      "passive-health",
      "kv-cache",
      "flow-control",
      "usage",
      "admin",
    ]);
    expect(h.log.lines.find((l) => l["msg"] === "drain: close failed")).toMatchObject({
      piece: "scraper",
      error: "scraper close failed",
    });
    // The admin port, closed after the failing piece, is free again.
    expect(await bindable(httpPort)).toBe(true);
  });
});
