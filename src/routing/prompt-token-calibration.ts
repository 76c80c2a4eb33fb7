/**
 * Per-model calibration of the parser's prompt-token estimate (UTF-16 length / 4 for a text prompt) against what the
 * engine reports it computed (`usage.prompt_tokens` on completed requests). The estimate is off by the model's
 * tokenizer and language (English BPE ≈ 4 characters a token, CJK text ≈ 1–1.5, a character tokenizer exactly 1)
 * and by the chat template's tokens; the in-flight token work that flow control and the load-aware strategies read
 * is the estimate, so without calibration a pod's token bound closes at the wrong load (4× too late on a
 * character-level model).
 *
 * The factor is a ratio of decayed sums, Σ reported / Σ estimated, each sum decayed by {@link CALIBRATION_DECAY}
 * per sample: token-weighted, so a burst of tiny prompts (mostly template) does not swing it, and it follows a
 * workload that changes language. Bounded to [{@link MIN_FACTOR}, {@link MAX_FACTOR}]: a hostile or broken usage
 * block moves it at most that far. Only text prompts are sampled and scaled (a token-id prompt's count is exact).
 * A request the engine reported no usage for (no `include_usage` on a stream, an error) teaches nothing. Until a
 * model has a sample its factor is 1: the raw estimate, as before.
 *
 * @module
 */

import type { InferenceRequest } from "../request";

/** Weight of the past per new sample: the factor follows roughly the last 1 / (1 − decay) = 20 requests. */
export const CALIBRATION_DECAY = 0.95;
/** Smallest factor: the estimate is at most 8× too high. */
export const MIN_FACTOR = 1 / 8;
/** Largest factor: the estimate is at most 8× too low (a character tokenizer on text is 4×). */
export const MAX_FACTOR = 8;
/** Most models remembered; beyond, the one calibrated first is forgotten (it starts again from 1 if it returns). */
export const CALIBRATION_MAX_MODELS = 1024;

/** Calibrated prompt-token estimates per model. */
export interface PromptTokenCalibration {
  /** `estimate` × the model's factor, rounded up (0 stays 0). */
  scale(model: string, estimate: number): number;
  /** A completed request of `model`: its raw estimate and the engine's reported prompt tokens. */
  observe(model: string, estimate: number, reported: number | undefined): void;
  /** The model's current factor (1 while uncalibrated). */
  factor(model: string): number;
}

interface Sums {
  reported: number;
  estimated: number;
  factor: number;
}

/** Create a calibration with no samples (every factor 1). */
export function createPromptTokenCalibration(): PromptTokenCalibration {
  const byModel = new Map<string, Sums>();
  const factor = (model: string): number => byModel.get(model)?.factor ?? 1;
  return {
    factor,
    scale(model, estimate) {
      const f = factor(model);
      return f === 1 ? estimate : Math.ceil(estimate * f);
    },
    observe(model, estimate, reported) {
      if (!(estimate > 0) || !Number.isFinite(estimate)) return;
      if (reported === undefined || !(reported > 0) || !Number.isFinite(reported)) return;
      let s = byModel.get(model);
      if (s === undefined) {
        if (byModel.size >= CALIBRATION_MAX_MODELS) {
          const oldest = byModel.keys().next();
          if (!oldest.done) byModel.delete(oldest.value);
        }
        s = { reported: 0, estimated: 0, factor: 1 };
        byModel.set(model, s);
      }
      s.reported = s.reported * CALIBRATION_DECAY + reported;
      s.estimated = s.estimated * CALIBRATION_DECAY + estimate;
      s.factor = Math.min(MAX_FACTOR, Math.max(MIN_FACTOR, s.reported / s.estimated));
    },
  };
}

/** The request's prompt-token estimate, calibrated when it is a text prompt and a calibration is given. */
export function calibratedPromptTokens(
  request: Pick<InferenceRequest, "model" | "prompt" | "promptTokens">,
  calibration: PromptTokenCalibration | undefined,
): number {
  if (calibration === undefined || request.prompt.t !== "text") return request.promptTokens;
  return calibration.scale(request.model, request.promptTokens);
}
