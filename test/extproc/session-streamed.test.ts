/**
 * Which request bodies the session reads as they arrive: only one that comes in several chunks, in STREAMED or
 * FULL_DUPLEX_STREAMED mode, to a path with a prompt stream. The stream's result reaches the router with the
 * parsed request; every other body is routed exactly as before, without one.
 */
import type { ProcessingRequest } from "../../src/extproc/messages";
import type { Router, Session } from "../../src/extproc/session";
import { createBlockHasher } from "../../src/prefix/block-hasher";
import { createPromptStreams } from "../../src/prefix/prompt-streams";
import type { StreamedPrompt } from "../../src/prefix/streamed-prompt";
import { makeFleet, MODEL } from "../routing/pods";
import { fleetDirector } from "../support/director-fixture";
import { sessionFactory } from "../support/session-fixture";
import { CHAT_HEADERS, body, chatBody, headers } from "./harness";

/** What the router was handed per decision, and how many streams were asked for. */
async function setup(): Promise<{
  session: () => Session;
  seen: (StreamedPrompt | undefined)[];
  asked: string[];
}> {
  const director = fleetDirector(makeFleet(3));
  const seen: (StreamedPrompt | undefined)[] = [];
  const asked: string[] = [];
  const router: Router = {
    routeWithPrompt: (input) => {
      seen.push(input.streamed);
      return director.routeWithPrompt(input);
    },
  };
  const streams = createPromptStreams({
    hasher: await createBlockHasher(0n),
    scheme: "kvroute",
    blockSize: 4,
    engineBlockSizes: () => [],
    contextFor: () => "",
    characterModel: () => true,
  });
  return {
    seen,
    asked,
    session: sessionFactory({
      router,
      extra: {
        streamPrompt: (path) => {
          asked.push(path);
          return streams(path);
        },
      },
    }),
  };
}

const STREAMED: ProcessingRequest["protocol_config"] = {
  request_body_mode: "STREAMED",
  send_body_without_waiting_for_header_response: true,
};
const TEXT = chatBody(MODEL, "a prompt of a few blocks, sent in pieces");

/** Send the headers (with `protocol`) and `pieces` of the body; the last one ends it unless trailers do. */
async function send(
  s: Session,
  protocol: ProcessingRequest["protocol_config"] | undefined,
  pieces: readonly string[],
  trailers = false,
  path = CHAT_HEADERS[":path"],
): Promise<void> {
  await s.handle({
    ...(protocol ? { protocol_config: protocol } : {}),
    ...headers({ ...CHAT_HEADERS, ":path": path }),
  });
  for (let i = 0; i < pieces.length; i++)
    await s.handle(body(pieces[i] ?? "", !trailers && i === pieces.length - 1));
  if (trailers) await s.handle({ request_trailers: {} });
}

describe("a session reads a body's prompt as it arrives only when it comes in chunks", () => {
  it("BUFFERED: no stream", async () => {
    const { session, seen, asked } = await setup();
    await send(session(), undefined, [TEXT]);
    expect(asked).toEqual([]);
    expect(seen).toEqual([undefined]);
  });

  it("STREAMED in one message: no stream (nothing to gain)", async () => {
    const { session, seen, asked } = await setup();
    await send(session(), STREAMED, [TEXT]);
    expect(asked).toEqual([]);
    expect(seen).toEqual([undefined]);
  });

  it.each([
    ["STREAMED", STREAMED, false],
    ["FULL_DUPLEX_STREAMED ended by trailers", { request_body_mode: "FULL_DUPLEX_STREAMED" as const }, true],
  ] as const)(
    "%s in chunks: the prompt read as it came reaches the router",
    async (_name, protocol, trailers) => {
      const { session, seen, asked } = await setup();
      await send(session(), protocol, [TEXT.slice(0, 9), TEXT.slice(9, 40), TEXT.slice(40)], trailers);
      expect(asked).toEqual([CHAT_HEADERS[":path"]]);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.model).toBe(MODEL);
      expect(Buffer.from(seen[0]?.bytes ?? []).toString()).toBe("a prompt of a few blocks, sent in pieces");
      expect(seen[0]?.keys.get(4)).toHaveLength(10);
    },
  );

  it("a path without a prompt stream: routed without one", async () => {
    const { session, seen, asked } = await setup();
    const text = JSON.stringify({ model: MODEL, input: "some text to embed" });
    await send(session(), STREAMED, [text.slice(0, 10), text.slice(10)], false, "/v1/embeddings");
    expect(asked).toEqual(["/v1/embeddings"]);
    expect(seen).toEqual([undefined]);
  });
});
