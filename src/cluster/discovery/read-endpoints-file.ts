/**
 * Reading the endpoints file without ever waiting on it forever.
 *
 * Three hazards sit at an endpoints path besides a bad document: something that is not a regular file (a FIFO
 * nobody writes to blocks `open()` for ever; a device may have side effects when opened), a file far too big, and
 * a filesystem that stops answering (a hung NFS mount blocks `stat`/`read` in the kernel). Node runs file system
 * calls on libuv's small thread pool and cannot cancel one, and Node's exit joins those threads, so one call stuck
 * in the kernel also stops the process from exiting. Hence:
 *
 * - `stat` first (following symlinks: Kubernetes ConfigMap mounts are symlinks to regular files) and refuse a
 *   non-regular file or one over the size limit without opening it;
 * - open with `O_NONBLOCK` (a FIFO swapped in after the `stat` then fails fast instead of blocking) and check
 *   the opened descriptor is a regular file again before reading;
 * - bound the whole read in time: the caller stops waiting at the deadline, and the read (which cannot be
 *   cancelled) is tracked as stuck until it returns, so at most one thread is ever held by this file.
 *
 * @module
 */
import { constants } from "node:fs";
import { open, stat } from "node:fs/promises";
import { EndpointsFileError, MAX_ENDPOINTS_FILE_BYTES } from "./endpoints-file";

/** Default bound on one read of the file (stat, open, read, close), ms. */
export const DEFAULT_ENDPOINTS_READ_TIMEOUT_MS = 2000;

/** Why a read produced no text: a closed set, used as a metric label by the caller. */
export type EndpointsReadFailure =
  /** Not there, no permission, or an I/O error. */
  | "unreadable"
  /** A FIFO, socket, device or directory at the path. */
  | "not-regular-file"
  /** Over {@link MAX_ENDPOINTS_FILE_BYTES}. */
  | "too-large"
  /** Not valid UTF-8. */
  | "not-text"
  /** The read did not finish within its deadline. */
  | "timeout";

/** A read of the endpoints file that produced no text, with the reason as a closed kind. */
export class EndpointsReadError extends EndpointsFileError {
  constructor(
    readonly kind: EndpointsReadFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What a file's `stat` says it is, for the error message. */
function describeKind(s: { isFIFO(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (s.isFIFO()) return "a FIFO";
  if (s.isSocket()) return "a socket";
  if (s.isDirectory()) return "a directory";
  return "a device or other special file";
}

const tooLarge = (bytes: number | string): EndpointsReadError =>
  new EndpointsReadError(
    "too-large",
    `file is ${bytes} bytes, more than the limit of ${MAX_ENDPOINTS_FILE_BYTES}`,
  );

/** Read the file as UTF-8 with the checks above, without a deadline (the caller adds one). */
export async function readRegularFile(path: string): Promise<string> {
  let s;
  try {
    s = await stat(path);
  } catch (err) {
    throw new EndpointsReadError("unreadable", (err as Error).message, { cause: err });
  }
  if (!s.isFile()) {
    throw new EndpointsReadError("not-regular-file", `${describeKind(s)} is not a regular file; not opened`);
  }
  if (s.size > MAX_ENDPOINTS_FILE_BYTES) throw tooLarge(s.size);
  let fh;
  try {
    // O_NONBLOCK: should a FIFO have replaced the file since the stat, open returns at once instead of waiting
    // for a writer; the fstat below then refuses it.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new EndpointsReadError("unreadable", (err as Error).message, { cause: err });
  }
  try {
    const opened = await fh.stat();
    if (!opened.isFile()) {
      throw new EndpointsReadError("not-regular-file", `${describeKind(opened)} is not a regular file`);
    }
    // Read to EOF, but never more than the limit + 1 byte: the file may have grown since the stat.
    const buf = Buffer.alloc(MAX_ENDPOINTS_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0 || (n += bytesRead) === buf.length) break;
    }
    if (n > MAX_ENDPOINTS_FILE_BYTES) throw tooLarge(`more than ${MAX_ENDPOINTS_FILE_BYTES}`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      throw new EndpointsReadError("not-text", "file is not UTF-8 text");
    }
  } catch (err) {
    if (err instanceof EndpointsReadError) throw err;
    throw new EndpointsReadError("unreadable", (err as Error).message, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Reads the file one at a time, each bounded in time; see the module comment. */
export interface BoundedReader {
  /**
   * The file's text. Rejects with an {@link EndpointsReadError}: `timeout` at the deadline (the read goes on in
   * the background), and at once with `timeout` while an earlier read is still stuck, so a hung filesystem
   * holds one thread, not one per reload.
   */
  read(): Promise<string>;
  /** True while a read that timed out has still not returned from the kernel. */
  stuck(): boolean;
}

/**
 * A bounded reader of `path`. `readText` is the unbounded read, replaceable so tests can stand in a read that
 * never returns (what a hung network filesystem looks like from here).
 */
export function boundedReader(
  path: string,
  timeoutMs: number,
  readText: (path: string) => Promise<string> = readRegularFile,
): BoundedReader {
  let pending: Promise<unknown> | undefined;
  let stuck = false;
  return {
    stuck: () => stuck,
    read() {
      if (pending) {
        return Promise.reject(
          new EndpointsReadError("timeout", "an earlier read of the file has still not returned"),
        );
      }
      const attempt = readText(path);
      const settled = attempt.then(
        () => undefined,
        () => undefined,
      );
      pending = settled;
      void settled.then(() => {
        pending = undefined;
        stuck = false;
      });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          stuck = true;
          reject(new EndpointsReadError("timeout", `read did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        // A stuck read must not keep the process alive on its own account.
        timer.unref();
      });
      return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
    },
  };
}
