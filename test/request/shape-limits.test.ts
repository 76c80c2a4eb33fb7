import { itemsBeyond, maxContainersFor, nestsDeeperThan, scanShape } from "../../src/request/shape-limits";

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
  it("counts arrays and objects outside strings against the container bound", () => {
    expect(scanShape(bytes(`[${"{},".repeat(4)}{}]`), 128, 6)).toBeUndefined();
    expect(scanShape(bytes(`[${"{},".repeat(5)}{}]`), 128, 6)).toBe("json-containers");
    expect(scanShape(bytes(`["${"[{".repeat(100)}"]`), 128, 6)).toBeUndefined();
    expect(scanShape(bytes("[[[]]]"), 2, 100)).toBe("json-depth");
  });

  it("allows 16 arrays or objects per item, never fewer than 4096", () => {
    expect(maxContainersFor(4096)).toBe(65_536);
    expect(maxContainersFor(8)).toBe(4096);
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
