/**
 * Small HTTP helpers of the simulated pod: bounded body reading and JSON / OpenAI-error replies.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody } from "./openai";

/** The body was larger than allowed. */
export class BodyTooLargeError extends Error {}

/** Read the whole body, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Answer with a JSON body (nothing when the response has already started or the client left). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Answer with vLLM's error envelope. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  param: string | null = null,
): void {
  sendJson(res, status, errorBody(status, message, param));
}
