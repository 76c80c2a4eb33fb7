/** @type {import('jest').Config} */
module.exports = {
  // jest's node environment with an ordinary global object: global reads at full speed (see the file).
  testEnvironment: "<rootDir>/test/support/ordinary-global-environment.ts",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.(ts|js|mjs|cjs)$": [
      "@swc/jest",
      { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } },
    ],
  },
  // @kubernetes/client-node 1.x and three of its dependencies are ESM-only; jest's loader cannot require ESM on
  // Node 20, so swc transforms them to CommonJS too. The OTLP exporter's CommonJS build loads `http` with a dynamic
  // import(), which jest's VM refuses without --experimental-vm-modules: swc turns it into a require.
  transformIgnorePatterns: [
    "/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|@opentelemetry/otlp-exporter-base)/)",
  ],
  // src writes its few dynamic imports of its own files with the `.js` extension Node's ESM resolution needs
  // (tsconfig's module node20); jest resolves them to the `.ts` source.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testTimeout: 20000,
  // jest's default on a 2-core machine is one worker; much of the suite waits on sockets and child processes, so
  // two overlap that waiting (the suite must pass under CPU contention anyway: npm run test:stress).
  maxWorkers: 2,
  // One compiled build per run for the tests that start kvroute as a process (test/support/compiled-build.ts).
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  // Removes the scratch directories a test file made (test/support/scratch-dir.ts); starts kvroute's worker threads
  // from that compiled build too (test/support/compiled-threads.ts).
  setupFilesAfterEnv: [
    "<rootDir>/test/support/scratch-cleanup.ts",
    "<rootDir>/test/support/compiled-threads.ts",
  ],
  // Fail fast on handles left open rather than hanging CI.
  forceExit: false,
};
