/**
 * Reads a stream's messages one at a time, as `for await (const m of stream.iterator({ destroyOnReturn: false }))`
 * does, without an async-iterator step per message: that step (a promise, its microtasks, a `read()` round) was a
 * visible share of the CPU of a conversation of two dozen small messages. Messages arrive as `data` events; while
 * one is handled asynchronously (or its replies wait for `drain`), the stream is paused and later messages wait in
 * order, so the next message is never handled before the previous one is done: the backpressure of the loop.
 *
 * Endings, as the iterator has them: the stream's end resolves; an `error`, or a `close` before the end (a cancel,
 * a reset), rejects — but only once the message in hand is done, as the loop only learnt of it at its next read.
 *
 * @module
 */
import type { Readable } from "node:stream";

/** After a message: read the next one, or stop reading (the stream is left open, as `break` leaves it). */
export type ReadStep = "next" | "stop";

/** Raised when the stream closed before its end without an error of its own. */
export class PrematureCloseError extends Error {
  constructor() {
    super("the stream closed before its end");
  }
}

/**
 * Hand each message of `stream` to `handle`, in order, one at a time. Resolves at the stream's end or when
 * `handle` says `stop`; rejects when the stream fails or closes early, or when `handle` throws or rejects.
 */
export function readMessages<T>(
  stream: Readable,
  handle: (msg: T) => ReadStep | Promise<ReadStep>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const backlog: T[] = [];
    let handling = false;
    let settled = false;
    let ended = false;
    /** A failure seen while a message was in hand, reported once it is done. */
    let failure: { readonly error: unknown } | undefined;

    const settle = (error?: { readonly error: unknown }): void => {
      if (settled) return;
      settled = true;
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onClose);
      if (!stream.destroyed) stream.pause();
      if (error === undefined) resolve();
      else reject(error.error);
    };

    /** Handle what is in the backlog until it is empty, a message goes asynchronous, or reading stops. */
    const run = (): void => {
      handling = true;
      for (;;) {
        if (failure !== undefined) return settle(failure);
        const msg = backlog.shift();
        if (msg === undefined) break;
        let step: ReadStep | Promise<ReadStep>;
        try {
          step = handle(msg);
        } catch (error) {
          return settle({ error });
        }
        if (step instanceof Promise) {
          stream.pause();
          step.then(
            (next) => {
              if (next === "stop") return settle();
              if (!settled && !stream.destroyed) stream.resume();
              run();
            },
            (error: unknown) => settle({ error }),
          );
          return;
        }
        if (step === "stop") return settle();
      }
      handling = false;
      if (ended) settle();
    };

    const onData = (msg: T): void => {
      backlog.push(msg);
      if (!handling) run();
    };
    const onEnd = (): void => {
      ended = true;
      if (!handling) settle();
    };
    const fail = (error: unknown): void => {
      if (handling) failure ??= { error };
      else settle({ error });
    };
    const onError = (error: unknown): void => fail(error);
    const onClose = (): void => {
      if (!ended) fail(new PrematureCloseError());
    };

    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.on("close", onClose);
  });
}
