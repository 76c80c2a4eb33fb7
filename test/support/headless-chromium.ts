/**
 * A real headless Chromium for browser tests, driven over the Chrome DevTools Protocol with Node's own WebSocket
 * (no puppeteer, no browser download): the system's `chromium` (Debian's package; `.ci/run` installs it) started
 * in its own process group with a throw-away profile and every background service off, and DNS mapped to nothing
 * but 127.0.0.1, so it cannot reach past loopback. {@link inetPeers} lets a test check that it did not.
 *
 * @module
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { scratchDir } from "./scratch-dir";

/** Longest wait for the browser to start and print its DevTools address, ms. */
const LAUNCH_TIMEOUT_MS = 20_000;
/** Longest wait for one CDP command's answer, ms. */
const COMMAND_TIMEOUT_MS = 15_000;

/** Flags that keep Chromium from calling home: no first-run, sync, updates, field trials, safe browsing, … */
const QUIET_FLAGS = [
  "--headless=new",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-client-side-phishing-detection",
  "--disable-domain-reliability",
  "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
  "--metrics-recording-only",
  "--no-pings",
  "--password-store=basic",
  "--use-mock-keychain",
  "--mute-audio",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  // Every host name resolves to nothing; only the literal loopback address is reachable.
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

/** The `chromium` on PATH; throws a clear error when there is none (a browser test must fail, not skip). */
export function findChromium(): string {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (found) return found;
    } catch {
      // not this name
    }
  }
  throw new Error(
    "headless browser test: no `chromium` on PATH. Install Debian's package (`apt-get install -y chromium`; " +
      ".ci/run does this) and run the test again.",
  );
}

/** A CDP message from the browser. */
interface CdpMessage {
  readonly id?: number;
  readonly method?: string;
  readonly sessionId?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: Record<string, unknown>;
  readonly error?: { message: string };
}

/** One page (tab), attached with a flat session. */
export interface CdpPage {
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Console errors, uncaught exceptions and error log entries (CSP violations, failed loads) seen so far. */
  readonly errors: string[];
  /** Every URL the page requested. */
  readonly requests: string[];
  /** Evaluate `expression` in the page and return its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** Poll `expression` in the page until it is truthy; throws naming `what` after `timeoutMs`. */
  waitFor(expression: string, what: string, timeoutMs?: number): Promise<void>;
}

/** A running browser. */
export interface Chromium {
  readonly pid: number;
  newPage(): Promise<CdpPage>;
  /** Kill the whole process group (idempotent) and wait for the browser process to exit. */
  close(): Promise<void>;
}

function devToolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () =>
        reject(new Error(`chromium printed no DevTools address within ${LAUNCH_TIMEOUT_MS} ms:\n${text}`)),
      LAUNCH_TIMEOUT_MS,
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const m = /DevTools listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(text);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code ?? signal}) before DevTools was up:\n${text}`));
    });
  });
}

/** Start headless Chromium on loopback with a fresh profile. */
export async function launchChromium(): Promise<Chromium> {
  const binary = findChromium();
  const profile = scratchDir("kvroute-chromium-");
  const flags = [
    ...QUIET_FLAGS,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    // The sandbox needs user namespaces CI containers rarely give (and never to root); the browser only ever
    // loads kvroute's own page from loopback.
    "--no-sandbox",
    "about:blank",
  ];
  const child = spawn(binary, flags, { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${binary}`);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = (): void => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  let ws: WebSocket;
  try {
    ws = new WebSocket(await devToolsUrl(child));
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("CDP WebSocket failed to open")), { once: true });
    });
  } catch (e) {
    kill();
    await exited;
    throw e;
  }
  // Chromium's stderr is only needed for the address; keep draining it so the pipe never fills.
  child.stderr?.resume();

  let nextId = 1;
  const pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  const listeners = new Map<string, (m: CdpMessage) => void>();
  ws.addEventListener("message", (ev: MessageEvent) => {
    const m = JSON.parse(String(ev.data)) as CdpMessage;
    if (m.id !== undefined) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error.message));
      else p?.resolve(m.result ?? {});
    } else if (m.sessionId !== undefined) listeners.get(m.sessionId)?.(m);
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP ${method}: no answer within ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      pending.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });

  return {
    pid,
    async newPage() {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = (await send("Target.attachToTarget", { targetId, flatten: true })) as {
        sessionId: string;
      };
      const errors: string[] = [];
      const requests: string[] = [];
      listeners.set(sessionId, (m) => {
        const p = m.params ?? {};
        if (m.method === "Runtime.exceptionThrown")
          errors.push(`exception: ${JSON.stringify(p["exceptionDetails"])}`);
        if (m.method === "Runtime.consoleAPICalled" && (p["type"] === "error" || p["type"] === "assert"))
          errors.push(`console.${String(p["type"])}: ${JSON.stringify(p["args"])}`);
        if (m.method === "Log.entryAdded") {
          const entry = p["entry"] as { level: string; text: string; url?: string };
          if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
        }
        if (m.method === "Network.requestWillBeSent") requests.push((p["request"] as { url: string }).url);
      });
      const page = (method: string, params?: Record<string, unknown>) => send(method, params, sessionId);
      for (const domain of ["Runtime", "Log", "Network", "Page"]) await page(`${domain}.enable`);
      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = (await page("Runtime.evaluate", { expression, returnByValue: true })) as {
          result: { value?: T };
          exceptionDetails?: unknown;
        };
        if (r.exceptionDetails)
          throw new Error(`evaluate ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
        return r.result.value as T;
      };
      return {
        send: page,
        errors,
        requests,
        evaluate,
        async waitFor(expression, what, timeoutMs = 15_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            if (await evaluate<boolean>(`Boolean(${expression})`)) return;
            if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
            // A DOM poll, not a guess at how long the page takes: the condition is checked again at once after.
            await new Promise((r) => setTimeout(r, 50));
          }
        },
      };
    },
    async close() {
      try {
        ws.close();
      } catch {
        // already closed
      }
      kill();
      await exited;
    },
  };
}

/** Loopback and unspecified addresses in /proc/net/tcp{,6} hex form. */
function isLoopbackOrUnset(hexAddr: string): boolean {
  if (/^0+$/.test(hexAddr)) return true;
  if (hexAddr.length === 8) return hexAddr.endsWith("7F"); // 127.x.x.x, little-endian
  // ::1, or ::ffff:127.x.x.x
  if (hexAddr === "00000000000000000000000001000000") return true;
  return hexAddr.startsWith("0000000000000000FFFF0000") && hexAddr.endsWith("7F");
}

/**
 * The remote ends of every TCP/UDP socket the processes of group `pgid` hold now that are neither loopback nor
 * unset (Linux /proc); empty when the browser only talks to 127.0.0.1.
 */
export function inetPeers(pgid: number): string[] {
  const inodes = new Set<string>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp !== pgid) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      }
    } catch {
      // the process ended meanwhile
    }
  }
  const peers: string[] = [];
  for (const table of ["tcp", "tcp6", "udp", "udp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const remote = cols[2];
      const inode = cols[9];
      if (!remote || !inode || !inodes.has(inode)) continue;
      const [addr] = remote.split(":");
      if (addr !== undefined && !isLoopbackOrUnset(addr)) peers.push(`${table} ${remote}`);
    }
  }
  return peers;
}
