import { ANONYMOUS_TENANT, MAX_TENANT_CHARS, tenantOf } from "../../../src/routing/flow/tenant";

const view = (entries: Record<string, string>) => ({ get: (name: string) => entries[name] });

describe("tenantOf", () => {
  it("prefers the configured header, then user, then the API key, else anonymous", () => {
    const all = { "x-tenant": "acme", user: "bob", authorization: "Bearer sk-secret" };
    expect(tenantOf(view(all), "x-tenant")).toBe("header:acme");
    expect(tenantOf(view(all))).toBe("user:bob");
    expect(tenantOf(view({ authorization: "Bearer sk-secret" }))).toMatch(/^key:[0-9a-f]{16}$/);
    expect(tenantOf(view({ authorization: "Basic abc" }))).toBe(ANONYMOUS_TENANT);
    expect(tenantOf(view({ user: "  " }))).toBe(ANONYMOUS_TENANT);
  });

  it("never keeps the API key itself, and one key is one tenant", () => {
    const a = tenantOf(view({ authorization: "Bearer sk-secret" }));
    expect(a).not.toContain("sk-secret");
    expect(tenantOf(view({ authorization: "bearer   sk-secret  " }))).toBe(a);
    expect(tenantOf(view({ authorization: "Bearer sk-other" }))).not.toBe(a);
  });

  it("bounds a long value by a digest that keeps distinct values apart", () => {
    const long = "u".repeat(MAX_TENANT_CHARS + 1);
    const key = tenantOf(view({ user: long }));
    expect(key.length).toBeLessThan(40);
    expect(tenantOf(view({ user: `${long}x` }))).not.toBe(key);
    expect(tenantOf(view({ user: "u".repeat(MAX_TENANT_CHARS) }))).toBe(
      `user:${"u".repeat(MAX_TENANT_CHARS)}`,
    );
  });
});
