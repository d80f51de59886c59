import type * as tf from '@tensorflow/tfjs-core';
import { LoptError } from '@lopt/core';

/** Largest layer width a checkpoint's config may name (the published architectures use <= 1024). */
export const MAX_CHECKPOINT_WIDTH = 16_384;
/** Largest layer count, and longest list (decays, layer widths), a checkpoint's config may name. */
export const MAX_CHECKPOINT_LAYERS = 64;

/** Config keys that are layer widths; `square` ones size a width x width (or LSTM) weight. */
const WIDTHS: Readonly<Record<string, { readonly square: boolean }>> = {
  hiddenSize: { square: false },
  lstmHiddenSize: { square: true },
  fromMlpSize: { square: false },
  fromLstmSize: { square: false },
  lstmToFf: { square: false },
  layers: { square: true },
};

function fail(name: string, message: string, option: string): never {
  throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint config of '${name}': ${message} The config does not fit the tensors in the file (edited or tampered?).`, { option });
}

function widthsOf(key: string, value: unknown): number[] {
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return typeof value === 'number' ? [value] : [];
}

/**
 * Checks a learned-optimizer checkpoint's config against the tensors stored with it, before
 * the architecture is built: every layer width must be at most {@link MAX_CHECKPOINT_WIDTH}
 * and at most the largest tensor dimension in the file (a width is always a dimension of
 * one of its weights), widths of square (hidden-to-hidden, LSTM) weights must have
 * `width^2` at most the file's element count, layer counts at most the file's tensor count
 * and {@link MAX_CHECKPOINT_LAYERS}, lists at most {@link MAX_CHECKPOINT_LAYERS} long. So a
 * few-KB file claiming `hiddenSize: 1e6` is refused at once instead of allocating gigabytes.
 * Throws `CHECKPOINT_MISMATCH` naming the config field.
 */
export function checkConfigFitsTensors(name: string, config: Readonly<Record<string, unknown>>, leaves: readonly tf.Tensor[]): void {
  const elements = leaves.reduce((s, t) => s + t.size, 0);
  const maxDim = leaves.reduce((m, t) => Math.max(m, ...t.shape), 0);
  const hiddenLayers = config.hiddenLayers;
  if (hiddenLayers !== undefined && (typeof hiddenLayers !== 'number' || hiddenLayers > Math.min(MAX_CHECKPOINT_LAYERS, leaves.length))) {
    fail(name, `'hiddenLayers' is ${JSON.stringify(hiddenLayers)}, but the file holds ${leaves.length} tensors (and at most ${MAX_CHECKPOINT_LAYERS} layers are allowed).`, 'hiddenLayers');
  }
  for (const [key, value] of Object.entries(config)) {
    if (Array.isArray(value) && value.length > MAX_CHECKPOINT_LAYERS) fail(name, `'${key}' lists ${value.length} values, more than ${MAX_CHECKPOINT_LAYERS}.`, key);
    const width = WIDTHS[key];
    if (!width) continue;
    // A hidden size without hidden layers sizes nothing.
    if (key === 'hiddenSize' && hiddenLayers === 0) continue;
    const square = width.square || (key === 'hiddenSize' && typeof hiddenLayers === 'number' && hiddenLayers >= 2);
    for (const w of widthsOf(key, value)) {
      if (w > MAX_CHECKPOINT_WIDTH || w > maxDim) {
        fail(name, `'${key}' is ${w}, but the largest tensor dimension in the file is ${maxDim} (and widths above ${MAX_CHECKPOINT_WIDTH} are refused).`, key);
      }
      if (square && w * w > elements) fail(name, `'${key}' is ${w}, which needs at least ${w * w} meta-parameters, but the file holds ${elements}.`, key);
    }
  }
}
