/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.(ts|js|mjs)$": [
      "@swc/jest",
      { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } },
    ],
  },
  // @kubernetes/client-node 1.x and three of its dependencies are ESM-only; jest's loader cannot require ESM on
  // Node 20, so swc transforms them to CommonJS too.
  transformIgnorePatterns: ["/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)"],
  testTimeout: 20000,
  // Fail fast on handles left open rather than hanging CI.
  forceExit: false,
};
