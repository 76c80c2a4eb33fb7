/**
 * The live half of a pod's KV-event stream: a ZeroMQ SUB socket connected to the engine's PUB endpoint, with its
 * TCP connection state (from the socket's event observer) and reconnection with backoff after socket failures.
 * It only hands frames and connection changes to its owner; sequencing and replay live in {@link PodSubscriber}.
 *
 * @module
 */
import { Subscriber } from "zeromq";
import { MAX_KV_MESSAGE_BYTES, tcpEndpoint } from "./replay";
import type { SocketFailure } from "./types";
import { socketFailure } from "./types";

/** What a {@link SubConnection} reports. Handlers run synchronously and must not throw. */
export interface SubConnectionHandlers {
  /** One multipart message off the socket. */
  frames(frames: Buffer[]): void;
  /** The TCP connection to the engine is up (first time, or again). */
  connected(): void;
  /** The TCP connection dropped (libzmq reconnects by itself; a socket failure recreates the socket). */
  disconnected(): void;
  /** The socket failed; it is recreated after a backoff. */
  failed(failure: SocketFailure): void;
}

/** A SUB socket that keeps itself connected until closed. */
export class SubConnection {
  private closed = false;
  private sub: Subscriber | undefined;
  private cancelSleep: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly ip: string,
    private readonly port: number,
    private readonly backoff: { readonly initialMs: number; readonly maxMs: number },
    private readonly on: SubConnectionHandlers,
  ) {
    this.done = this.receiveLoop();
  }

  /** Close the socket and stop reconnecting. */
  close(): Promise<void> {
    this.closed = true;
    this.sub?.close();
    this.cancelSleep?.();
    return this.done;
  }

  private async receiveLoop(): Promise<void> {
    const { initialMs, maxMs } = this.backoff;
    let backoff = initialMs;
    const endpoint = tcpEndpoint(this.ip, this.port);
    while (!this.closed) {
      const sub = new Subscriber({
        linger: 0,
        ipv6: this.ip.includes(":"),
        maxMessageSize: MAX_KV_MESSAGE_BYTES,
      });
      this.sub = sub;
      void this.watchConnection(sub);
      try {
        sub.connect(endpoint);
        sub.subscribe();
        for await (const frames of sub) {
          backoff = initialMs;
          this.on.frames(frames);
        }
      } catch (err) {
        if (!this.closed) this.on.failed(socketFailure(err));
      } finally {
        if (!sub.closed) sub.close();
        this.on.disconnected();
      }
      if (this.closed) break;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, maxMs);
    }
  }

  /** Report the socket's TCP connection changes from its event observer. */
  private async watchConnection(sub: Subscriber): Promise<void> {
    try {
      for await (const ev of sub.events) {
        if (this.closed) return;
        if (ev.type === "connect") this.on.connected();
        else if (ev.type === "disconnect") this.on.disconnected();
      }
    } catch {
      // The observer ends with its socket.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.cancelSleep = done;
    });
  }
}
