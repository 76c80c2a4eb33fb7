/**
 * The ext_proc benchmark's view of a tokenizer: how many tokens a request body's prompt is under the tokenizer a
 * scenario names, and what tokenizing those prompts alone costs in CPU time. Both follow kvroute's own path
 * (`src/prefix/prepare-prompt.ts`): parse the body with kvroute's parser, then the chat rendered with the model's
 * template and encoded when the encoder has a template (Qwen3 does), else the joined prompt text encoded.
 *
 * @module
 */
import { parseRequest } from "../src/request";
import type { InferenceRequest } from "../src/request";
import { loadEncoder, parseSpecString } from "../src/tokenize";
import type { LocalSpec, SyncEncoder } from "../src/tokenize";
import type { TokenizerChoice } from "./extproc-options";

const CHAT_PATH = "/v1/chat/completions";
/** Parse limits wide enough for every benchmark body (kvroute's own bounds are not what is measured here). */
const LIMITS = { maxBodyBytes: 64 * 1024 * 1024 } as const;

/** A loaded tokenizer for counting and timing prompts. */
export interface PromptTokenizer {
  readonly label: string;
  /** Tokens of the prompt of a chat-completions `body`, as kvroute would tokenize it. */
  count(body: Uint8Array): number;
  /**
   * CPU time (this thread, `process.threadCpuUsage()`) to tokenize the prompts of `bodies` alone, µs per prompt:
   * bodies parsed beforehand (parsing is not tokenizing), then render + encode, round-robin over the bodies for
   * at least `seconds` of CPU and at least one pass.
   */
  cpuMicrosPerPrompt(bodies: readonly Uint8Array[], seconds: number): number;
  free(): void;
}

/** Thread CPU time in µs (user + system) of the calling thread. */
export function threadCpuMicros(): number {
  const u = process.threadCpuUsage();
  return u.user + u.system;
}

/** The prompt's ids under `enc`, as kvroute computes them. */
function encodePrompt(enc: SyncEncoder, r: InferenceRequest): Uint32Array {
  if (r.chat && enc.renderChat) return enc.encode(enc.renderChat(r.chat));
  return enc.encode(r.prompt.t === "text" ? r.prompt.text : "");
}

/** Load `choice` in this process (files only: an `hf:` tokenizer loads from disk, no network). */
export function promptTokenizer(choice: TokenizerChoice): PromptTokenizer {
  const spec = parseSpecString(choice.spec, "--tokenizer");
  if (spec.type === "remote") throw new Error("the remote tokenizer cannot be measured offline");
  const enc = loadEncoder(spec satisfies LocalSpec);
  const parse = (body: Uint8Array): InferenceRequest => parseRequest(CHAT_PATH, body, LIMITS);
  return {
    label: choice.label,
    count: (body) => encodePrompt(enc, parse(body)).length,
    cpuMicrosPerPrompt(bodies, seconds) {
      const requests = bodies.map(parse);
      if (requests.length === 0) return Number.NaN;
      for (let i = 0; i < Math.min(3, requests.length); i++)
        encodePrompt(enc, requests[i] as InferenceRequest);
      const budget = seconds * 1e6;
      const t0 = threadCpuMicros();
      let n = 0;
      while (n < requests.length || threadCpuMicros() - t0 < budget) {
        encodePrompt(enc, requests[n % requests.length] as InferenceRequest);
        n++;
      }
      return (threadCpuMicros() - t0) / n;
    },
    free: () => enc.free?.(),
  };
}
