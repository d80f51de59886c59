// tfjs-layers save/load of a model compiled with a lopt optimizer: model.save(handler,
// { includeOptimizer: true }) -> tf.loadLayersModel -> fit must continue exactly like the run
// that was never interrupted (moments, counters and a learned optimizer's theta restored).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LoptError, key, register, treeLeaves, type LearnedOptimizer } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, adamw, chain, cosineDecay, lion, optimizerFrom, registerAll, scaleByAdam, scaleByLearningRate, sgd, toTfjsOptimizer, LoptTfjsOptimizer } from './index.js';
import { inferOptimizerRecipe } from './tfjs-recipe.js';

const chainOf = () => optimizerFrom(chain(scaleByAdam(), scaleByLearningRate(0.1)), 'chained');

beforeAll(() => {
  registerAll();
  register('learned-optimizer', 'testLearnedSgd', () => learnedSgd, 'test: SGD whose log step size is theta');
});

/** A tiny learned optimizer: p -= exp(theta.logLr) * g, with momentum in its state (so both theta and state matter). */
const learnedSgd: LearnedOptimizer<{ logLr: tf.Scalar }> = {
  name: 'testLearnedSgd',
  config: {},
  init: () => ({ logLr: tf.scalar(Math.log(0.05)) }),
  optimizer: (theta) => ({
    name: 'testLearnedSgd',
    init: (params) => ({ params, state: { m: treeLeaves(params).map((p) => tf.zerosLike(p)) }, iteration: 0 }),
    update: (state, grads) => {
      const g = treeLeaves(grads);
      const m = (state.state as { m: tf.Tensor[] }).m.map((mi, i) => tf.add(tf.mul(0.9, mi), g[i]!));
      const p = treeLeaves(state.params).map((pi, i) => tf.sub(pi, tf.mul(tf.exp(theta.logLr), m[i]!)));
      const name = Object.keys(state.params as Record<string, tf.Tensor>)[0]!;
      return { params: { [name]: p[0]! }, state: { m }, iteration: state.iteration + 1 };
    },
  }),
};

function makeModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 4, inputShape: [3], activation: 'tanh' }));
  model.add(tfl.layers.dense({ units: 1 }));
  // deterministic initial weights (no unseeded randomness in tests)
  model.setWeights(model.getWeights().map((w, k) => tf.tensor(Array.from({ length: w.size }, (_, j) => 0.5 * Math.sin(1 + j * 1.7 + k)), w.shape)));
  return model;
}

function data(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const x = Array.from({ length: 48 }, (_, i) => Math.sin(i * 1.3 + (i % 3)));
  const y = Array.from({ length: 16 }, (_, i) => 0.7 * x[3 * i]! - 1.2 * x[3 * i + 1]! + 0.3 * x[3 * i + 2]! ** 2);
  return { xs: tf.tensor2d(x, [16, 3]), ys: tf.tensor2d(y, [16, 1]) };
}

/** Saves with includeOptimizer into memory; returns the artifacts. */
async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return saved!;
}

const weightsOf = (m: tfl.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));
const fit = (m: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor, epochs: number) => m.fit(xs, ys, { epochs, batchSize: 8, shuffle: false, verbose: 0 });

/** Trains 4 epochs, saves, trains 4 more (the uninterrupted run); loads the save (same process: `_1` variable names) and trains it 4 epochs. */
async function roundTrip(optimizer: () => tf.Optimizer): Promise<{ straight: number[][]; resumed: number[][]; fresh: number[][]; loaded: tfl.LayersModel }> {
  const { xs, ys } = data();
  const model = makeModel();
  model.compile({ optimizer: optimizer(), loss: 'meanSquaredError' });
  await fit(model, xs, ys, 4);
  const artifacts = await saveToMemory(model);
  await fit(model, xs, ys, 4);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  await fit(loaded, xs, ys, 4);
  const fresh = await tfl.loadLayersModel(tf.io.fromMemory({ ...artifacts, trainingConfig: undefined, weightSpecs: artifacts.weightSpecs!.filter((s) => s.group !== 'optimizer') }));
  fresh.compile({ optimizer: optimizer(), loss: 'meanSquaredError' });
  await fit(fresh, xs, ys, 4);
  const out = { straight: weightsOf(model), resumed: weightsOf(loaded), fresh: weightsOf(fresh), loaded };
  model.optimizer.dispose();
  fresh.optimizer.dispose();
  tf.dispose([xs, ys]);
  return out;
}

function expectResumedExactly(r: Awaited<ReturnType<typeof roundTrip>>, label: string): void {
  r.resumed.forEach((w, i) => expectClose(w, r.straight[i]!, { rtol: 1e-6, atol: 1e-7, label: `${label} weight ${i}` }));
  // A fresh optimizer on the same loaded weights ends elsewhere: the comparison sees the restored state.
  const gap = Math.max(...r.fresh.flatMap((w, i) => w.map((x, j) => Math.abs(x - r.straight[i]![j]!))));
  expect(gap).toBeGreaterThan(1e-3);
}

describe('tfjs-layers save / load with a lopt optimizer', () => {
  it('adam (inferred spec): save -> loadLayersModel -> fit equals the uninterrupted run', async () => {
    const r = await roundTrip(() => toTfjsOptimizer(adam({ learningRate: 0.02, beta2: 0.99 })));
    expectResumedExactly(r, 'adam');
    const opt = r.loaded.optimizer as LoptTfjsOptimizer;
    expect(opt).toBeInstanceOf(LoptTfjsOptimizer);
    expect(opt.optimizer.name).toBe('adam');
    expect(opt.iterations).toBe(16); // 4 epochs x 2 batches before the save, 8 after
    // the moments went to the loaded model's own variables (renamed `..._1` in this process)
    expect(opt.variableNames).toEqual(r.loaded.trainableWeights.map((w) => w.name));
    expect(opt.variableNames.every((n) => /_\d+$/.test(n))).toBe(true);
    r.loaded.optimizer.dispose();
  });

  it("a spec and options by name: toTfjsOptimizer('sgd', { momentum, nesterov })", async () => {
    const r = await roundTrip(() => toTfjsOptimizer('sgd', { learningRate: 0.05, momentum: 0.9, nesterov: true }));
    expectResumedExactly(r, 'sgd');
    const config = (r.loaded.optimizer as LoptTfjsOptimizer).getConfig();
    expect(config).toMatchObject({ name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true });
    r.loaded.optimizer.dispose();
  });

  it('a learned optimizer carries its theta through the optimizer weights', async () => {
    const make = (): tf.Optimizer => toTfjsOptimizer({ learned: learnedSgd, theta: { logLr: tf.scalar(Math.log(0.03)) } });
    const r = await roundTrip(make);
    expectResumedExactly(r, 'learned');
    const opt = r.loaded.optimizer as LoptTfjsOptimizer;
    const weights = await opt.getWeights();
    const theta = weights.find((w) => w.name === 'lopt.theta/logLr');
    expect(theta?.tensor.dataSync()[0]).toBeCloseTo(Math.log(0.03), 6); // not the architecture's init (log 0.05)
    opt.dispose();
  });

  it('a learned optimizer loaded without its weights says how to restore theta', async () => {
    const opt = toTfjsOptimizer({ learned: learnedSgd, theta: learnedSgd.init(key(0)) });
    const rebuilt = LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, JSON.parse(JSON.stringify(opt.getConfig()))) as LoptTfjsOptimizer;
    const v = tf.variable(tf.tensor1d([1, 2]), true, 'lopt_save_theta_missing');
    expect(() => rebuilt.applyGradients({ lopt_save_theta_missing: tf.tensor1d([1, 1]) })).toThrow(/without its meta-parameters \(theta\).*includeOptimizer: true/);
    opt.dispose();
    v.dispose();
  });

  it('an optimizer no registered spec rebuilds makes model.save fail with a LoptError that says what to do', async () => {
    const model = makeModel();
    model.compile({ optimizer: toTfjsOptimizer(adam({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 10 }) })), loss: 'meanSquaredError' });
    const err = await saveToMemory(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).message).toMatch(/'adam' cannot be saved with a model: its option 'learningRate' cannot be stored as JSON.*toTfjsOptimizer\('adam'/);
    model.optimizer.dispose();
  });

  it('infers a recipe only when the registered factory rebuilds the same config (masks included)', () => {
    expect(inferOptimizerRecipe(adamw({ learningRate: 0.01, mask: false }))).toEqual({
      kind: 'optimizer',
      spec: 'adamw',
      options: { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, epsilonRoot: 0, nesterov: false, weightDecay: 1e-4, mask: false },
    });
    expect(inferOptimizerRecipe(adamw({ mask: { w: true, b: false } }))).toMatch(/option 'mask' cannot be stored as JSON/);
    expect(inferOptimizerRecipe(lion({ mask: (_path, p) => p.rank > 1 }))).toMatch(/option 'mask' cannot be stored as JSON/);
    expect(inferOptimizerRecipe(lion({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 5 }) }))).toMatch(/option 'learningRate' cannot be stored as JSON/);
    expect(inferOptimizerRecipe(chainOf())).toMatch(/no optimizer named 'chained' is registered/);
  });

  it('loading names the registerAll() to call when the saved spec is not registered', () => {
    const config = toTfjsOptimizer('sgd', { learningRate: 0.1 }).getConfig();
    const lopt = JSON.parse((config['lopt'] as { name: string }).name) as Record<string, unknown>;
    const tampered = { ...config, lopt: { name: JSON.stringify({ ...lopt, spec: 'noSuchOptimizer' }) } };
    expect(() => LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, tampered)).toThrow(/optimizer 'noSuchOptimizer', which is not registered: call registerAll\(\) from @lopt\/optimizers/);
    expect(() => LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, { name: 'sgd' })).toThrow(LoptError);
  });
});

describe('restored optimizer state is keyed by variable name, never attached silently', () => {
  const grads = [[0.3, -0.6, 0.1], [1.0, 0.2, -0.4], [-0.5, 0.25, 0.75]];

  it('names that match no variable are mapped by order when shapes agree (the same-process reload)', async () => {
    const a = tf.variable(tf.tensor1d([1, -1, 0.5]), true, 'lopt_order_a');
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    opt.applyGradients({ lopt_order_a: tf.tensor1d(grads[0]!) });
    const saved = (await opt.getWeights()).map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    const b = tf.variable(tf.clone(a), true, 'lopt_order_a_1');
    for (const g of grads.slice(1)) opt.applyGradients({ lopt_order_a: tf.tensor1d(g) });
    const opt2 = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    await opt2.setWeights(saved);
    for (const g of grads.slice(1)) opt2.applyGradients({ lopt_order_a_1: tf.tensor1d(g) });
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(opt2.variableNames).toEqual(['lopt_order_a_1']);
    expect(opt2.stateOf('lopt_order_a_1')?.iteration).toBe(3);
    opt.dispose();
    opt2.dispose();
    tf.dispose([a, b, ...saved.map((w) => w.tensor)]);
  });

  it('names that match no variable and cannot be mapped by shape throw, naming the saved variable', async () => {
    const a = tf.variable(tf.tensor1d([1, -1, 0.5]), true, 'lopt_mismatch_a');
    const c = tf.variable(tf.tensor1d([1, 2]), true, 'lopt_mismatch_c');
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    opt.applyGradients({ lopt_mismatch_a: tf.tensor1d(grads[0]!) });
    const opt2 = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    await opt2.setWeights(await opt.getWeights());
    const before = Array.from(c.dataSync());
    const err = (() => {
      try {
        opt2.applyGradients({ lopt_mismatch_c: tf.tensor1d([1, 1]) });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).code).toBe('CHECKPOINT_MISMATCH');
    expect((err as LoptError).message).toMatch(/'lopt_mismatch_a' matches no variable being optimized \('lopt_mismatch_c' \[2\]\).*is \[3\] float32, the optimizer keeps \[2\] float32/);
    expect(Array.from(c.dataSync())).toEqual(before); // nothing was updated
    // more saved states than variables: also an error, never a silent drop
    const opt3 = toTfjsOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 }));
    opt3.applyGradients({ lopt_mismatch_a: tf.tensor1d(grads[0]!), lopt_mismatch_c: tf.tensor1d([1, 1]) });
    const opt4 = toTfjsOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 }));
    await opt4.setWeights((await opt3.getWeights()).map((w) => ({ name: w.name.replace('lopt_mismatch_a', 'gone_a'), tensor: w.tensor })));
    expect(() => opt4.applyGradients({ lopt_mismatch_c: tf.tensor1d([1, 1]) })).toThrow(/'gone_a' matches no variable being optimized.*1 saved states for 0 variables/);
    for (const o of [opt, opt2, opt3, opt4]) o.dispose();
    tf.dispose([a, c]);
  });

  it('states of variables updated in turn (subsets) bind by name when each gets its first gradient', async () => {
    const make = () => [tf.variable(tf.tensor1d([1, -1]), true, 'lopt_turns_g'), tf.variable(tf.tensor1d([0.5, 2, -3]), true, 'lopt_turns_d')] as const;
    const [g, d] = make();
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    const turn = (o: LoptTfjsOptimizer, s: number): void => {
      if (s % 2 === 0) o.applyGradients({ lopt_turns_g: tf.tensor1d([0.3 + s, -0.2]) });
      else o.applyGradients({ lopt_turns_d: tf.tensor1d([1, -s, 0.5]) });
    };
    for (let s = 0; s < 4; s++) turn(opt, s);
    const saved = (await opt.getWeights()).map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    const at4 = [tf.clone(g), tf.clone(d)];
    for (let s = 4; s < 8; s++) turn(opt, s);
    const straight = [...g.dataSync(), ...d.dataSync()];
    g.assign(at4[0]!);
    d.assign(at4[1]!);
    const opt2 = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    await opt2.setWeights(saved);
    turn(opt2, 4); // only g: d's state waits
    expect(opt2.variableNames).toEqual(['lopt_turns_g']);
    for (let s = 5; s < 8; s++) turn(opt2, s);
    expect([...g.dataSync(), ...d.dataSync()]).toEqual(straight);
    expect(opt2.stateOf('lopt_turns_d')?.iteration).toBe(4);
    opt.dispose();
    opt2.dispose();
    tf.dispose([g, d, ...at4, ...saved.map((w) => w.tensor)]);
  });

  it('setWeights / applyGradients cycles do not leak tensors', async () => {
    const a = tf.variable(tf.tensor1d([1, -1, 0.5]), true, 'lopt_restore_leak');
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    opt.applyGradients({ lopt_restore_leak: tf.tensor1d(grads[0]!) });
    const cycle = async (): Promise<void> => {
      const weights = await opt.getWeights();
      const copies = weights.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
      tf.dispose(weights.filter((w) => w.name.endsWith('iteration') || w.name === 'iter').map((w) => w.tensor)); // made by getWeights
      await opt.setWeights(copies);
      tf.dispose(copies.map((w) => w.tensor));
      const g = tf.tensor1d(grads[1]!);
      opt.applyGradients({ lopt_restore_leak: g });
      g.dispose();
    };
    await cycle();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await cycle();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    a.dispose();
  });
});
