// An example plugin for the lopt CLI: it registers a task and a task family, which then
// work everywhere the CLI takes a name: `lopt list`, `lopt eval --task`, and `taskFamily`
// in a meta-train config. Load it with `lopt --plugin ./examples/plugin-example/index.js ...`
// or list it under `plugins` in a config file. See CONTRIBUTING.md, "Plugins for the lopt CLI".
//
// A plugin is an ES module. The CLI imports it and calls its exported `registerAll()` once.
// Registrations go into the one registry of @lopt/core, so nothing in lopt changes.
import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNumber, foldIn, key, normalArray, randintArray, register, uniformArray } from '@lopt/core';

/**
 * Least-squares linear regression on synthetic data: y = X w* + b* + noise, with X, w* and
 * the noise drawn from `dataSeed` (counter-based keys, so the data are identical on every
 * backend). 80% of the examples are the train split, 20% the test split.
 *
 * @param {{ dim?: number, noise?: number, batchSize?: number, numExamples?: number, dataSeed?: number }} [options]
 * @returns {import('@lopt/core').Task}
 */
export function linearRegressionTask(options = {}) {
  // Unknown option names (a typo, `bogus=1`) are errors, not silently ignored.
  checkKnownKeys('linearRegressionTask', options, ['dim', 'noise', 'batchSize', 'numExamples', 'dataSeed']);
  const dim = checkNumber('dim', options.dim ?? 8, { integer: true, min: 1, max: 4096 });
  const noise = checkNumber('noise', options.noise ?? 0.1, { min: 0 });
  const batchSize = checkNumber('batchSize', options.batchSize ?? 32, { integer: true, min: 1 });
  const numExamples = checkNumber('numExamples', options.numExamples ?? 1024, { integer: true, min: 10 });
  const dataSeed = checkNumber('dataSeed', options.dataSeed ?? 0, { integer: true, min: 0 });

  const k = key(dataSeed);
  const wTrue = normalArray(foldIn(k, 0), dim);
  const bTrue = normalArray(foldIn(k, 1), 1)[0];
  const xs = normalArray(foldIn(k, 2), numExamples * dim);
  const eps = normalArray(foldIn(k, 3), numExamples);
  const ys = new Float64Array(numExamples);
  for (let i = 0; i < numExamples; i++) {
    let s = bTrue;
    for (let j = 0; j < dim; j++) s += xs[i * dim + j] * wTrue[j];
    ys[i] = s + noise * eps[i];
  }
  const nTrain = Math.floor(0.8 * numExamples);

  /** Batches drawn with replacement from examples [lo, hi); the same key gives the same batch. */
  const split = (lo, hi) => ({
    sample(batchKey) {
      const idx = randintArray(batchKey, batchSize, lo, hi);
      const x = new Float32Array(batchSize * dim);
      const y = new Float32Array(batchSize);
      idx.forEach((row, i) => {
        for (let j = 0; j < dim; j++) x[i * dim + j] = xs[row * dim + j];
        y[i] = ys[row];
      });
      return { x: tf.tensor2d(x, [batchSize, dim]), y: tf.tensor1d(y) };
    },
  });

  return {
    name: `linear-regression-${dim}`,
    init: (initKey) => ({ w: tf.tensor1d(Float32Array.from(normalArray(initKey, dim), (v) => 0.1 * v)), b: tf.scalar(0) }),
    // Mean squared error. No tf.tidy here: the caller differentiates through the loss.
    loss: (params, batch) => tf.mean(tf.square(tf.sub(tf.add(tf.sum(tf.mul(batch.x, params.w), 1), params.b), batch.y))),
    datasets: { train: split(0, nTrain), test: split(nTrain, numExamples) },
  };
}

/**
 * Linear-regression tasks with a sampled dimension (4..32, log-uniform), noise level
 * (0.01..0.5, log-uniform) and data seed. Configurations are JSON.
 *
 * @param {{ minDim?: number, maxDim?: number }} [options]
 * @returns {import('@lopt/core').TaskFamily}
 */
export function linearRegressionFamily(options = {}) {
  checkKnownKeys('linearRegressionFamily', options, ['minDim', 'maxDim']);
  const minDim = checkNumber('minDim', options.minDim ?? 4, { integer: true, min: 1 });
  const maxDim = checkNumber('maxDim', options.maxDim ?? 32, { integer: true, min: minDim });
  return {
    name: 'linear-regression-family',
    sample(k) {
      const [u0, u1] = uniformArray(k, 2);
      const dim = Math.round(Math.exp(Math.log(minDim) + u0 * (Math.log(maxDim) - Math.log(minDim))));
      const noise = Math.exp(Math.log(0.01) + u1 * (Math.log(0.5) - Math.log(0.01)));
      const dataSeed = randintArray(foldIn(k, 1), 1, 0, 2 ** 30)[0];
      return { dim, noise, dataSeed };
    },
    task: (cfg) => linearRegressionTask(cfg),
  };
}

// Module-level factories: registering the very same function twice is a no-op, so the
// plugin may be loaded by both `--plugin` and a config's `plugins`.
const taskFactory = (o) => linearRegressionTask(o);
const familyFactory = (o) => linearRegressionFamily(o);

/** Registers the plugin's components (the CLI calls this once after importing the module). */
export function registerAll() {
  register('task', 'linearRegressionTask', taskFactory, 'least-squares linear regression on synthetic data (example plugin); options { dim, noise, batchSize, numExamples, dataSeed }');
  register('task-family', 'linearRegressionFamily', familyFactory, 'linear regression with sampled dimension and noise (example plugin); options { minDim, maxDim }');
}
