/** Simulated vLLM engine core (issue 6): see README.md. @module */
export * from "./types";
export { createSimEngine } from "./engine";
export { PRESETS, preset, type SimPresetName } from "./presets";
export { systemClock, virtualClock, type VirtualClock } from "./virtual-clock";
