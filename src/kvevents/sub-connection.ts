/**
 * The live half of a pod's KV-event stream: a ZeroMQ SUB socket connected to the engine's PUB endpoint, with its
 * TCP connection state (from the socket's event observer) and reconnection with backoff after socket failures.
 *
 * libzmq reconnects a dropped connection by itself — except after a protocol error, such as a message part over
 * the socket's size bound, which it treats as the peer's fault: that connection is closed for good and the socket
 * sits unconnected forever. So a disconnect that libzmq does not follow with a retry (or a reconnect) within
 * {@link ABANDONED_AFTER_MS} is a socket failure here (`protocol`): the socket is closed and a new one connects
 * after the backoff.
 * It only hands frames and connection changes to its owner; sequencing and replay live in {@link PodSubscriber}.
 *
 * @module
 */
import type { Subscriber } from "zeromq";
import { MAX_KV_MESSAGE_BYTES, tcpEndpoint } from "./replay";
import type { SocketFailure } from "./types";
import { socketFailure } from "./types";
import { loadZeromq } from "./zeromq";

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

/**
 * After a disconnect, how long libzmq may stay silent (no retry, no reconnect) before the socket is taken as given up
 * on, ms. Its own retries start after `reconnect_ivl` (100 ms by default).
 */
export const ABANDONED_AFTER_MS = 1000;

/** A SUB socket that keeps itself connected until closed. */
export class SubConnection {
  private closed = false;
  private sub: Subscriber | undefined;
  /** The socket closed here because libzmq gave its connection up (its failure is already reported). */
  private abandoned: Subscriber | undefined;
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
    const { Subscriber } = loadZeromq();
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
        if (!this.closed && this.abandoned !== sub) this.on.failed(socketFailure(err));
      } finally {
        if (!sub.closed) sub.close();
        this.on.disconnected();
      }
      if (this.closed) break;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, maxMs);
    }
  }

  /**
   * Report the socket's TCP connection changes from its event observer, and close a socket whose connection
   * libzmq dropped without retrying (see the module comment).
   */
  private async watchConnection(sub: Subscriber): Promise<void> {
    let watchdog: NodeJS.Timeout | undefined;
    const calm = (): void => {
      clearTimeout(watchdog);
      watchdog = undefined;
    };
    try {
      for await (const ev of sub.events) {
        if (this.closed) return;
        if (ev.type === "connect") {
          calm();
          this.on.connected();
        } else if (ev.type === "disconnect") {
          this.on.disconnected();
          calm();
          watchdog = setTimeout(() => this.abandon(sub), ABANDONED_AFTER_MS);
        } else if (ev.type === "connect:retry" || ev.type === "connect:delay") {
          calm();
        }
      }
    } catch {
      // The observer ends with its socket.
    } finally {
      calm();
    }
  }

  /** libzmq will not reconnect `sub`: report it and close it, so the receive loop builds a new one. */
  private abandon(sub: Subscriber): void {
    if (this.closed || sub !== this.sub || sub.closed) return;
    this.abandoned = sub;
    this.on.failed("protocol");
    sub.close();
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
