/**
 * Error replies and log lines that quote client input (the unknown-model error echoes the model name in a header
 * and the message) stay short and free of control characters: a model name with CR/LF/NUL cannot split a header
 * or a log line, and a 2 MB one neither overflows the gRPC send limit nor lands whole in the log.
 */
import * as grpc from "@grpc/grpc-js";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { MAX_ECHO_BYTES, MAX_MESSAGE_BYTES } from "../../src/client-echo";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "./harness";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];

function errorParts(r: ProcessingResponse | undefined): { header: Buffer; message: string; status: number } {
  const ir = r?.immediate_response;
  const set = ir?.headers?.set_headers ?? [];
  const h = set.find((o) => o.header.key === "x-error-no-model-backends");
  const env = JSON.parse(Buffer.from(ir?.body ?? []).toString("utf8")) as { error: { message: string } };
  return {
    header: Buffer.from(h?.header.raw_value ?? []),
    message: env.error.message,
    status: ir?.status.code ?? 0,
  };
}

/** Bytes a header value must never carry (HTTP field-value rules: no CR, LF, NUL or other controls). */
function hasControlBytes(b: Buffer): boolean {
  return b.some((x) => x < 0x20 || x === 0x7f);
}

describe("client input quoted in errors and logs", () => {
  let h: Harness;
  beforeAll(async () => {
    // With the request lines at info, as an operator who turns them on would have them.
    h = await startHarness(PODS, ["--max-body-bytes", String(4 * 1024 * 1024), "--log-requests"]);
  });
  afterAll(async () => {
    await h.close();
  });

  async function unknownModel(model: string, prompt = "hello"): Promise<ProcessingResponse | undefined> {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    s.send(body(chatBody(model, prompt)));
    const r = await s.next();
    expect((await s.status).code).toBe(grpc.status.OK);
    return r;
  }

  it("CR, LF and NUL in the model name never reach the header, the message or the log line", async () => {
    const r = await unknownModel("evil\r\nset-cookie: a=b\u0000x");
    const { header, message, status } = errorParts(r);
    expect(status).toBe(400);
    expect(hasControlBytes(header)).toBe(false);
    expect(header.toString("utf8")).toBe("evil\uFFFD\uFFFDset-cookie: a=b\uFFFDx");
    expect(message).toBe("model evil\uFFFD\uFFFDset-cookie: a=b\uFFFDx does not exist");
    const line = await h.log.waitFor(
      (l) => l["msg"] === "request rejected" && String(l["error"]).includes("evil"),
    );
    expect(hasControlBytes(Buffer.from(String(line["error"])))).toBe(false);
  });

  it("a 2 MB model name gets the 400 envelope with a bounded header, message and log line", async () => {
    const model = `big-${"m".repeat(2 * 1024 * 1024)}`;
    const r = await unknownModel(model);
    const { header, message, status } = errorParts(r);
    expect(status).toBe(400);
    expect(header.length).toBeLessThanOrEqual(MAX_ECHO_BYTES);
    expect(header.toString("utf8")).toMatch(/^big-m+…$/);
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(message).toMatch(/^model big-m+… does not exist$/);
    const line = await h.log.waitFor(
      (l) => l["msg"] === "request rejected" && String(l["error"]).includes("big-"),
    );
    expect(Buffer.byteLength(String(line["error"]))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });

  it("prompt text is never logged at info level or above, even when the body is malformed", async () => {
    const secret = "PROMPT-SECRET-7f3a";
    await unknownModel("nobody", secret);
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    // Not JSON: the parser's own error (kept as the cause) quotes the text around the fault.
    const [r] = await s.exchange(body(`{"model":"m1","messages":[{"role":"user","content":"${secret}"}]`));
    expect(r?.immediate_response?.status.code).toBe(400);
    await h.log.waitFor((l) => l["msg"] === "request rejected" && l["code"] === "bad_request");
    const atInfoOrAbove = new Set(["info", "warn", "error", "fatal"]);
    expect(h.log.lines.some((l) => l["msg"] === "request rejected" && l["level"] === "info")).toBe(true);
    const leaked = h.log.lines.filter(
      (l) => atInfoOrAbove.has(String(l["level"])) && JSON.stringify(l).includes(secret),
    );
    expect(leaked).toEqual([]);
  });
});
