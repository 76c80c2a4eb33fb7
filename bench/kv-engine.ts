/**
 * The engine of the `kv` benchmark, as its own process (forked, compiled, by `kv-ingest.ts`): vLLM's publisher
 * (the simulator's `KvEventPublisher`: PUB + ROUTER replay on loopback) sending fresh `BlockStored` payloads
 * (`kv-fresh.ts`) when told to. Its CPU is not counted: only the ingesting process's is.
 *
 * IPC: the parent sends {@link EngineCommand}s; the child answers `ready` once bound and `sent` after each window.
 *
 * @module
 */
import { KvEventPublisher } from "../src/sim/server/kv-publisher";
import { freshPayload, freshTemplate } from "./kv-fresh";

/** Parent → engine. */
export type EngineCommand =
  /** Publish `count` fresh messages, then answer `sent`. */
  | { readonly t: "send"; readonly count: number }
  /** Publish one fresh message every 10 ms until `stop` (the ZeroMQ slow joiner: the first ones are lost). */
  | { readonly t: "probe" }
  | { readonly t: "stop" };

/** Engine → parent. */
export type EngineReply =
  | { readonly t: "ready"; readonly pubPort: number; readonly replayPort: number }
  /** Sequence number of the last message published (decimal string: bigint does not cross IPC). */
  | { readonly t: "sent"; readonly lastSeq: string };

async function main(blocks: number, blockSize: number): Promise<void> {
  const template = freshTemplate(blocks, blockSize);
  const pub = await KvEventPublisher.start({ host: "127.0.0.1", bufferSteps: 1024 });
  let n = 0;
  let probing = false;
  const send = (m: EngineReply): void => void process.send?.(m);
  process.on("message", (raw: EngineCommand) => {
    if (raw.t === "probe") {
      probing = true;
      void (async () => {
        while (probing) {
          await pub.publish(freshPayload(template, n++));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
    } else if (raw.t === "stop") {
      probing = false;
    } else {
      void (async () => {
        let last = 0n;
        for (let i = 0; i < raw.count; i++) last = await pub.publish(freshPayload(template, n++));
        send({ t: "sent", lastSeq: String(last) });
      })();
    }
  });
  process.once("disconnect", () => void pub.close().finally(() => process.exit(0)));
  send({ t: "ready", pubPort: pub.pubPort, replayPort: pub.replayPort });
}

if (require.main === module) void main(Number(process.argv[2] ?? 128), Number(process.argv[3] ?? 16));
