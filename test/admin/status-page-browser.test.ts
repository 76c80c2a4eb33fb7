/**
 * The status page in a real headless Chromium (test/support/headless-chromium.ts): kvroute runs with a few pods,
 * the browser loads the page over loopback, and the test waits, by polling the DOM, for the fleet table, then for
 * the recent-decisions table and the decision counter to move after requests are routed through the real gRPC
 * harness. No console error, no uncaught exception (a CSP violation would be one), no request past loopback; the
 * last frame is saved as test-output/status-page.png. With a token, the page loads from `#token=…`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { finishedLine } from "../extproc/harness-probes";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "../extproc/harness";
import type { Harness } from "../extproc/harness";
import { inetPeers, launchChromium } from "../support/headless-chromium";
import type { Chromium, CdpPage } from "../support/headless-chromium";

const PODS = [
  pod("vllm-a", "10.0.0.1", ["m1"]),
  pod("vllm-b", "10.0.0.2", ["m1"]),
  pod("vllm-c", "10.0.0.3", ["m2"], false),
];
const MARKER = "BROWSER-PROMPT-MARKER-51c2";
const SCREENSHOT = path.join(__dirname, "..", "..", "test-output", "status-page.png");

jest.setTimeout(90_000);

async function route(h: Harness, id: string, strategy?: string): Promise<void> {
  const s = h.client.open();
  await s.exchange(
    headers({ ...CHAT_HEADERS, "x-request-id": id, ...(strategy ? { "routing-strategy": strategy } : {}) }),
  );
  // A prefix strategy gets a prompt of several blocks, the same each time.
  await s.exchange(body(chatBody("m1", `${MARKER} ${strategy ? "a shared prefix ".repeat(8) : "hello"}`)));
  s.cancel();
  await finishedLine(h, { requestId: id });
}

/** Width and height from a PNG's IHDR; throws when `png` is not one. */
function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!png.subarray(0, 8).equals(signature) || png.toString("latin1", 12, 16) !== "IHDR")
    throw new Error("not a PNG");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

const text = (selector: string): string =>
  `document.querySelector(${JSON.stringify(selector)})?.textContent ?? ""`;

describe("status page in headless Chromium", () => {
  let browser: Chromium;
  let open: Harness;
  let guarded: Harness;
  beforeAll(async () => {
    // Launched first: a missing browser fails here with the install hint, before any server starts.
    browser = await launchChromium();
    open = await startHarness(PODS);
    guarded = await startHarness(PODS, [], { KVROUTE_STATUS_PAGE_TOKEN: "br0wser-token" });
  });
  afterAll(async () => {
    await browser?.close();
    await open?.close();
    await guarded?.close();
  });

  function expectClean(page: CdpPage, port: number): void {
    expect(page.errors).toEqual([]);
    expect(page.requests.filter((u) => !u.startsWith(`http://127.0.0.1:${port}/`))).toEqual([]);
    expect(inetPeers(browser.pid)).toEqual([]);
  }

  it("shows the fleet, then the decisions routed through gRPC, with no error and nothing past loopback", async () => {
    const page = await browser.newPage();
    await page.send("Emulation.setDeviceMetricsOverride", {
      width: 1400,
      height: 1000,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const port = open.server.httpPort;
    await page.send("Page.navigate", { url: `http://127.0.0.1:${port}/` });
    await page.waitFor(
      `document.querySelectorAll("#fleet-body tr[data-pod]").length === 3`,
      "the fleet table",
    );
    expect(
      await page.evaluate<string[]>(
        `[...document.querySelectorAll("#fleet-body tr")].map((r) => r.dataset.pod)`,
      ),
    ).toEqual(["vllm-a", "vllm-b", "vllm-c"]);
    expect(await page.evaluate<string>(text("#conn"))).toBe("live");
    expect(await page.evaluate<string>(text("#pods-ready"))).toBe("2 / 3");
    expect(await page.evaluate<number>(`document.querySelectorAll("#recent-body tr.decision").length`)).toBe(
      0,
    );
    expect(await page.evaluate<string>(text("#decisions-total"))).toBe("0");

    for (let i = 0; i < 4; i++) await route(open, `browser-${i}`);
    await page.waitFor(
      `document.querySelectorAll("#recent-body tr.decision").length === 4`,
      "four recent decisions",
    );
    await page.waitFor(`${text("#decisions-total")} === "4"`, "the decision counter at 4");
    const rows = await page.evaluate<string[][]>(
      `[...document.querySelectorAll("#recent-body tr.decision")].map((r) => [...r.cells].map((c) => c.textContent))`,
    );
    for (const r of rows) {
      expect(["vllm-a", "vllm-b"]).toContain(r[1]);
      expect(r.slice(2, 4)).toEqual(["least-request", "m1"]);
      // No prefix looked up, no response status: the client ended each stream after its decision.
      expect(r[4]).toBe("\u2014");
      expect(r.slice(7, 9)).toEqual(["\u2014", "cancelled (client-ended)"]);
    }
    // prefix-cache: the first prompt hits no block, the same prompt again all of them.
    await route(open, "browser-prefix-0", "prefix-cache");
    await route(open, "browser-prefix-1", "prefix-cache");
    await page.waitFor(
      `document.querySelectorAll("#recent-body tr.decision").length === 6`,
      "six recent decisions",
    );
    const [hit, miss] = await page.evaluate<string[]>(
      `[...document.querySelectorAll("#recent-body tr.decision")].slice(0, 2).map((r) => r.cells[4].textContent)`,
    );
    const looked = /^0\/(\d+) blocks$/.exec(miss ?? "")?.[1];
    expect(looked).toBeDefined();
    expect(hit).toBe(`${looked}/${looked} blocks`);
    expect(await page.evaluate<string>(text("#prefix-rate"))).toBe("50.0%");
    expect(await page.evaluate<string>(text("#strategy-body"))).toContain("least-request");
    expect(await page.evaluate<string>(`document.documentElement.outerHTML`)).not.toContain(MARKER);

    const shot = await page.send("Page.captureScreenshot", { format: "png" });
    const png = Buffer.from(String(shot["data"]), "base64");
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    writeFileSync(SCREENSHOT, png);
    expect(pngSize(png)).toEqual({ width: 1400, height: 1000 });
    // A blank frame of that size compresses to a few KB; tables and text make it far larger.
    expect(png.length).toBeGreaterThan(20_000);
    expectClean(page, port);
  });

  it("with a token: loads from the URL fragment and polls with the header", async () => {
    const page = await browser.newPage();
    const port = guarded.server.httpPort;
    await page.send("Page.navigate", { url: `http://127.0.0.1:${port}/ui#token=br0wser-token` });
    await page.waitFor(
      `document.querySelectorAll("#fleet-body tr[data-pod]").length === 3`,
      "the fleet table",
    );
    await route(guarded, "guarded-0");
    await page.waitFor(
      `document.querySelectorAll("#recent-body tr.decision").length === 1`,
      "one recent decision",
    );
    // The first load of the page answered 401 (the loader): Chromium logs that as a failed resource.
    expect(page.errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    expect(page.requests.filter((u) => !u.startsWith(`http://127.0.0.1:${port}/`))).toEqual([]);
    expect(inetPeers(browser.pid)).toEqual([]);
  });
});
