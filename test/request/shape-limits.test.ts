import {
  itemsBeyond,
  maxContainersFor,
  maxKeyBytesFor,
  maxKeysFor,
  isWholeJsonObject,
  nestsDeeperThan,
  scanShape,
} from "../../src/request/shape-limits";
import type { ScanBudget } from "../../src/request/shape-limits";

const bytes = (s: string): Uint8Array => Buffer.from(s);

describe("nestsDeeperThan", () => {
  it.each<[string, number, boolean]>([
    ["{}", 1, false],
    ["{}", 0, true],
    ['{"a":[[1]]}', 3, false],
    ['{"a":[[1]]}', 2, true],
    ['{"a":"[[[[{{{{"}', 1, false],
    ['{"a":"x\\"[[[["}', 1, false], // escaped quote stays inside the string
    ['{"a":"x\\\\"}', 1, false], // escaped backslash: the quote after it closes the string
    ['{"a":"x\\\\","b":[[1]]}', 2, true],
    ['{"a":"\\\\\\"[[[["}', 1, false], // three backslashes: the quote is escaped
    ['{"a":"unterminated [[[[', 1, false],
    ["[]]]][[[", 2, false], // malformed: left to JSON.parse, which rejects it
  ])("%s with max %d → %s", (text, max, deeper) => {
    expect(nestsDeeperThan(bytes(text), max)).toBe(deeper);
  });
});

describe("scanShape", () => {
  const budget = (over: Partial<ScanBudget>): ScanBudget => ({
    maxDepth: 128,
    maxContainers: 100,
    maxKeys: 100,
    maxKeyBytes: 1000,
    ...over,
  });

  it("counts arrays and objects outside strings against the container bound", () => {
    expect(scanShape(bytes(`[${"{},".repeat(4)}{}]`), budget({ maxContainers: 6 }))).toBeUndefined();
    expect(scanShape(bytes(`[${"{},".repeat(5)}{}]`), budget({ maxContainers: 6 }))).toBe("json-containers");
    expect(scanShape(bytes(`["${"[{".repeat(100)}"]`), budget({ maxContainers: 6 }))).toBeUndefined();
    expect(scanShape(bytes("[[[]]]"), budget({ maxDepth: 2 }))).toBe("json-depth");
  });

  it("counts object keys (a colon outside strings) and their bytes against the key bounds", () => {
    const keys = (n: number, width: number) =>
      `{${Array.from({ length: n }, (_, i) => `"${String(i).padStart(width, "k")}":0`).join(",")}}`;
    expect(scanShape(bytes(keys(3, 4)), budget({ maxKeys: 3, maxKeyBytes: 12 }))).toBeUndefined();
    expect(scanShape(bytes(keys(4, 4)), budget({ maxKeys: 3 }))).toBe("json-keys");
    expect(scanShape(bytes(keys(3, 5)), budget({ maxKeys: 3, maxKeyBytes: 12 }))).toBe("json-keys");
    // Colons inside strings, and a key whose escaped quote stays inside it, count as text; spaces before a colon.
    const tricky = bytes(`{"a:b:c" : "x:y", "q\\"r":"::"}`); // keys of 5 and 4 bytes
    expect(scanShape(tricky, budget({ maxKeys: 2, maxKeyBytes: 9 }))).toBeUndefined();
    expect(scanShape(tricky, budget({ maxKeys: 2, maxKeyBytes: 8 }))).toBe("json-keys");
    expect(scanShape(tricky, budget({ maxKeys: 1 }))).toBe("json-keys");
  });

  it("allows 16 arrays or objects and 8 keys of 8 bytes per item, never fewer than 4096", () => {
    expect(maxContainersFor(4096)).toBe(65_536);
    expect(maxContainersFor(8)).toBe(4096);
    expect(maxKeysFor(4096)).toBe(32_768);
    expect(maxKeysFor(8)).toBe(4096);
    expect(maxKeyBytesFor(4096)).toBe(262_144);
  });
});

describe("isWholeJsonObject", () => {
  it.each<[string, boolean]>([
    ['{"a":1}', true],
    [' \n{"a":{"b":[1,{}]}}\r\n ', true],
    ['{"a":"}"}', true], // a brace inside a string is text
    ['{"a":"\\\\"}', true], // an escaped backslash: the quote after it closes the string
    ['{"a":"\\"}', false], // an escaped quote: the string never closes
    ['{"a":{"b":1}', false], // cut after an inner object closes: ends in a brace, but not balanced
    ['{"a":"x}', false], // cut inside a string
    ['{"a":1}{"b":2}', false], // the top-level object closes before the end
    ['{"a":1', false],
    ["[1]", false],
    ["", false],
  ])("%j → %s", (text, whole) => {
    expect(isWholeJsonObject(bytes(text))).toBe(whole);
  });
});

describe("itemsBeyond", () => {
  it("counts messages and their content parts together, and skips token-id arrays", () => {
    const parts = [
      { type: "text", text: "a" },
      { type: "text", text: "b" },
    ];
    const body = { messages: [{ content: "x" }, { content: parts }] };
    expect(itemsBeyond(body, "chat-completions", 4)).toBeUndefined();
    expect(itemsBeyond(body, "chat-completions", 3)).toBe("messages");
    expect(itemsBeyond({ prompt: [1, 2, 3, 4, 5] }, "completions", 2)).toBeUndefined();
    expect(itemsBeyond({ prompt: ["a", "b", "c"] }, "completions", 2)).toBe("prompt");
    expect(itemsBeyond({ system: [{}, {}], messages: [{}] }, "messages", 2)).toBe("messages");
  });
});
