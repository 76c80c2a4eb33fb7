/**
 * The Bearer parser against the pattern it replaces (`/^\s*bearer\s+(.*?)\s*$/i`, quadratic in the header's
 * length): the same token, or the same refusal, for every shape of header, in a single linear pass.
 */
import { bearerToken, createApiKeyCheck, maxAuthorizationChars } from "../../src/extproc/api-key";
import { seededRandom } from "../../src/seeded-random";

const OLD = /^\s*bearer\s+(.*?)\s*$/i;
const oldToken = (h: string): string | undefined => OLD.exec(h)?.[1];

describe("bearerToken", () => {
  it.each([
    "Bearer abc",
    "bearer abc",
    "BEARER\tabc",
    "  Bearer   abc  ",
    "Bearer",
    "Bearer ",
    "Bearerabc",
    "Basic abc",
    "Bearer a b c",
    "Bearer abc\n",
    "Bearer ab\nc",
    "\u00a0Bearer\u2003abc\u3000",
    "Bearer \u2028abc",
    "",
    "   ",
  ])("parses %j as the old pattern did", (h) => {
    expect(bearerToken(h)).toBe(oldToken(h));
  });

  it("agrees with the old pattern on random short headers", () => {
    const random = seededRandom(11);
    const alphabet = ["b", "e", "a", "r", "B", "E", "R", " ", "\t", "\n", "x", "\u00a0", "\r"];
    const word = (n: number) =>
      Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    for (let i = 0; i < 5000; i++) {
      const h = (random() < 0.5 ? word(3) + "bearer" : "") + word(Math.floor(random() * 12));
      expect(bearerToken(h)).toBe(oldToken(h));
    }
  });
});

describe("createApiKeyCheck", () => {
  it("accepts the token and refuses anything else", () => {
    const check = createApiKeyCheck("s3cret");
    expect(check("Bearer s3cret")).toBe(true);
    expect(check("bearer   s3cret  ")).toBe(true);
    expect(check("Bearer s3cret2")).toBe(false);
    expect(check(undefined)).toBe(false);
    expect(check("s3cret")).toBe(false);
  });

  it("refuses a header longer than the bound without parsing it, and says so", () => {
    let tooLong = 0;
    const check = createApiKeyCheck("s3cret", () => tooLong++);
    const max = maxAuthorizationChars("s3cret");
    const padded = (n: number) => `Bearer s3cret${" ".repeat(n - "Bearer s3cret".length)}`;
    expect(check(padded(max))).toBe(true);
    expect(tooLong).toBe(0);
    expect(check(padded(max + 1))).toBe(false);
    expect(tooLong).toBe(1);
    // A token longer than the default bound still fits.
    const long = "k".repeat(20_000);
    expect(createApiKeyCheck(long)(`Bearer ${long}`)).toBe(true);
  });
});
