// lopt quickstart: train a small MLP to classify two interleaved spirals with lopt's Adam.
// Run it with `pnpm --filter @lopt/example-quickstart start` after building the packages.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, disposeTree, foldIn, key, normal, normalArray, type TensorTree } from '@lopt/core';
import { adam, warmupCosineDecay } from '@lopt/optimizers';

type Params = { w1: tf.Tensor; b1: tf.Tensor; w2: tf.Tensor; b2: tf.Tensor };

/** Two spirals of `n` points each, with a little Gaussian noise (deterministic from the key). */
function spirals(n: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const noise = normalArray(key(seed), 4 * n);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 2 * n; i++) {
    const label = i % 2;
    const t = (Math.floor(i / 2) / n) * 3 * Math.PI + 0.5;
    const sign = label === 0 ? 1 : -1;
    xs.push(sign * t * Math.cos(t) / 5 + 0.05 * (noise[2 * i] as number), sign * t * Math.sin(t) / 5 + 0.05 * (noise[2 * i + 1] as number));
    ys.push(label);
  }
  return { x: tf.tensor2d(xs, [2 * n, 2]), y: tf.tensor2d(ys, [2 * n, 1]) };
}

function initParams(seed: number, hidden: number): Params {
  const k = key(seed);
  return {
    w1: normal(foldIn(k, 1), [2, hidden], { std: Math.sqrt(2 / 2) }),
    b1: tf.zeros([hidden]),
    w2: normal(foldIn(k, 2), [hidden, 1], { std: Math.sqrt(1 / hidden) }),
    b2: tf.zeros([1]),
  };
}

function logits(p: Params, x: tf.Tensor2D): tf.Tensor {
  const h = tf.tanh(tf.add(tf.matMul(x, p.w1), p.b1));
  return tf.add(tf.matMul(h, p.w2), p.b2);
}

function loss(p: Params, x: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
  return tf.losses.sigmoidCrossEntropy(y, logits(p, x)) as tf.Scalar;
}

function accuracy(p: Params, x: tf.Tensor2D, y: tf.Tensor2D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.greater(logits(p, x), 0), tf.cast(y, 'bool')), 'float32')).dataSync()[0] as number);
}

async function main(): Promise<void> {
  const info = await initBackend();
  console.log(`backend: ${info.name} (${info.reason})`);

  const { x, y } = spirals(200, 0);
  const steps = 600;
  const opt = adam({ learningRate: warmupCosineDecay({ peakValue: 0.03, warmupSteps: 50, decaySteps: steps, endValue: 1e-3 }) });
  let state = opt.init(initParams(1, 32), { numSteps: steps });

  const names = ['w1', 'b1', 'w2', 'b2'] as const;
  const lossOf = (...leaves: tf.Tensor[]) => {
    const p = Object.fromEntries(names.map((n, i) => [n, leaves[i]])) as Params;
    return loss(p, x, y);
  };
  const valueAndGrads = tf.valueAndGrads(lossOf);

  const first = tf.tidy(() => loss(state.params as Params, x, y).dataSync()[0] as number);
  console.log(`step    0  loss ${first.toFixed(4)}  accuracy ${(100 * accuracy(state.params as Params, x, y)).toFixed(1)}%`);
  for (let step = 1; step <= steps; step++) {
    const p = state.params as Params;
    const { value, grads } = valueAndGrads(names.map((n) => p[n]));
    const gradTree: TensorTree = Object.fromEntries(names.map((n, i) => [n, grads[i] as tf.Tensor]));
    state = advance(opt, state, gradTree, { loss: value as tf.Scalar });
    if (step % 100 === 0) {
      console.log(
        `step ${String(step).padStart(4)}  loss ${(value.dataSync()[0] as number).toFixed(4)}  accuracy ${(100 * accuracy(state.params as Params, x, y)).toFixed(1)}%`,
      );
    }
    value.dispose();
    disposeTree(gradTree);
  }
  const last = tf.tidy(() => loss(state.params as Params, x, y).dataSync()[0] as number);
  console.log(`loss ${first.toFixed(4)} -> ${last.toFixed(4)} in ${steps} Adam steps; ${tf.memory().numTensors} tensors alive`);
  if (!(last < first)) {
    console.error('the loss did not go down');
    process.exitCode = 1;
  }
}

await main();
