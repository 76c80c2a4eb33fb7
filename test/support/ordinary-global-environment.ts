/**
 * jest's node environment, with the test files' global object an ordinary object (Node's
 * `vm.constants.DONT_CONTEXTIFY`) instead of a contextified one. In a contextified sandbox every read of a global
 * from running code — `Math.imul` in a hash, `Buffer` in grpc-js, `BigInt` in a key chain — goes through V8's
 * interceptors to the sandbox object (a Proxy, in jest 30) and cannot be inlined: measured at 0.3–0.7 µs per read,
 * 250 times an ordinary one, which made kvroute's prefix-index tests spend most of their CPU looking up `Math`. The
 * environment is otherwise jest's own: each test file still gets a new context with the same globals.
 *
 * jest builds its context in its constructor, so `vm.createContext` is swapped for that call only. What the
 * contextified sandbox gave besides — jest tracking the globals a test file sets, to delete them at teardown (its
 * `globalsCleanup`) — is not needed: the context is dropped after its file either way.
 *
 * @module
 */
import vm from "node:vm";
import type { EnvironmentContext, JestEnvironmentConfig } from "@jest/environment";
import { TestEnvironment } from "jest-environment-node";

export default class OrdinaryGlobalEnvironment extends TestEnvironment {
  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    const createContext = vm.createContext;
    vm.createContext = (() => createContext(vm.constants.DONT_CONTEXTIFY)) as typeof vm.createContext;
    try {
      super(config, context);
    } finally {
      vm.createContext = createContext;
    }
  }
}
