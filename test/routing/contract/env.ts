/**
 * The environment the behavioural contract checks run in: a real block hasher and a real prompt preparer over the
 * character tokenizer (no worker threads), created once per test file and closed after it.
 *
 * @module
 */
import { createBlockHasher } from "../../../src/prefix/block-hasher";
import { createPromptPreparer } from "../../../src/prefix/prepare-prompt";
import { createTokenizerRegistry } from "../../../src/tokenize";
import type { TokenizerRegistry } from "../../../src/tokenize/tokenizer";
import type { CheckEnv } from "./checks";
import { SEED } from "../../prefix/fixtures";

/** Register `beforeAll`/`afterAll` hooks that build the env; `get()` returns it inside tests. */
export function useCheckEnv(): { get(): CheckEnv } {
  let env: CheckEnv | undefined;
  let tokenizers: TokenizerRegistry | undefined;
  beforeAll(async () => {
    tokenizers = createTokenizerRegistry({ defaultSpec: "character", workers: 0 });
    const hasher = await createBlockHasher(SEED);
    const prepare = createPromptPreparer({ tokenizers, hasher, approximate: { t: "kvroute", blockSize: 4 } });
    env = { prepare, hasher };
  });
  afterAll(async () => {
    await tokenizers?.close();
  });
  return {
    get() {
      if (!env) throw new Error("check env used outside a test");
      return env;
    },
  };
}
