/**
 * The client side of vLLM's replay protocol (`ZmqEventPublisher` in `vllm/distributed/kv_events.py`) and the
 * ZeroMQ framing helpers.
 *
 * A DEALER (never REQ: a REQ socket receives only the first reply, then fails with `EFSM`) sends
 * `["", seq8(from)]`; the engine's ROUTER answers one `["", seq8, payload]` per buffered batch with
 * `seq >= from`, then `["", END_SEQ, ""]`. Every receive is bounded by a timeout.
 *
 * @module
 */
import type { Dealer } from "zeromq";
import { socketFailure } from "./types";
import { loadZeromq } from "./zeromq";

/**
 * Largest message part kvroute takes from an engine's sockets (libzmq's `ZMQ_MAXMSGSIZE`: a peer sending a larger
 * one is disconnected, and the connection is made again). A real `KVEventBatch` is well under a megabyte per
 * thousand blocks; without a bound libzmq would buffer whatever size a hostile engine announced.
 */
export const MAX_KV_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The replay end marker: sequence `0xffffffffffffffff` with an empty payload. */
export const END_SEQ = 0xffffffffffffffffn;

const EMPTY = Buffer.alloc(0);

/** Format a ZeroMQ TCP endpoint (IPv6 in brackets). */
export function tcpEndpoint(ip: string, port: number): string {
  return ip.includes(":") && !ip.startsWith("[") ? `tcp://[${ip}]:${port}` : `tcp://${ip}:${port}`;
}

/** Encode a sequence number as 8 bytes big-endian. */
export function seq8(seq: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(seq);
  return b;
}

/** One replayed (or live) batch. */
export interface SeqBatch {
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

/** Why a replay failed, as a closed set. */
export class ReplayFailure extends Error {
  constructor(readonly reason: "replay-timeout" | "replay-failed") {
    super(reason);
  }
}

/** One replay request on its own short-lived DEALER (a late answer to an old request can never be misread). */
export class ReplayRequest {
  private readonly dealer: Dealer;

  constructor(
    private readonly endpoint: string,
    private readonly from: bigint,
    timeoutMs: number,
  ) {
    const { Dealer } = loadZeromq();
    this.dealer = new Dealer({
      linger: 0,
      receiveTimeout: timeoutMs,
      sendTimeout: timeoutMs,
      maxMessageSize: MAX_KV_MESSAGE_BYTES,
    });
  }

  /** Send the request and yield the replayed batches in order until the end marker. Throws {@link ReplayFailure}. */
  async *batches(): AsyncGenerator<SeqBatch, void> {
    try {
      this.dealer.connect(this.endpoint);
      await this.dealer.send([EMPTY, seq8(this.from)]);
    } catch (err) {
      throw new ReplayFailure(socketFailure(err) === "timeout" ? "replay-timeout" : "replay-failed");
    }
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch (err) {
        throw new ReplayFailure(socketFailure(err) === "timeout" ? "replay-timeout" : "replay-failed");
      }
      const [delim, seqFrame, payload] = frames;
      if (frames.length !== 3 || delim?.length !== 0 || seqFrame?.length !== 8 || payload === undefined)
        throw new ReplayFailure("replay-failed");
      const seq = seqFrame.readBigUInt64BE(0);
      if (seq === END_SEQ) return;
      yield { seq, payload };
    }
  }

  /** Close the DEALER (a pending receive fails). */
  close(): void {
    this.dealer.close();
  }
}
