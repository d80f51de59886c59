// Learned optimizers wrapped for tfjs (toTfjsOptimizer({ learned, theta }) from @lopt/optimizers)
// save and load the way tfjs-layers does it (getConfig + getWeights, then fromConfig +
// setWeights): the architecture is rebuilt through the registry, theta travels in the
// optimizer weights, and training continues exactly like the uninterrupted run.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeTree, key, normal, type LearnedOptimizer, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { LoptTfjsOptimizer, toTfjsOptimizer } from '@lopt/optimizers';
import { adafacMlpLOpt, nnAdam, registerAll } from './index.js';

beforeAll(() => registerAll());

const loss = (w: tf.Variable, b: tf.Variable) => (): tf.Scalar =>
  tf.tidy(() => tf.add(tf.sum(tf.square(tf.sub(w, 0.3))), tf.mul(2, tf.sum(tf.square(b)))) as tf.Scalar);

async function saveLoadContinue(learned: LearnedOptimizer, theta: TensorTree, tag: string): Promise<{ straight: number[]; resumed: number[]; fresh: number[] }> {
  const w = tf.variable(normal(key(1), [3, 4]), true, `${tag}_w`);
  const b = tf.variable(normal(key(2), [4]), true, `${tag}_b`);
  const opt = toTfjsOptimizer({ learned, theta });
  for (let i = 0; i < 3; i++) opt.minimize(loss(w, b));
  const config = JSON.parse(JSON.stringify(opt.getConfig())) as tf.serialization.ConfigDict;
  const weights = (await opt.getWeights()).map((x) => ({ name: x.name, tensor: tf.clone(x.tensor) }));
  const at3 = [tf.clone(w), tf.clone(b)];
  for (let i = 0; i < 3; i++) opt.minimize(loss(w, b));
  const straight = [...w.dataSync(), ...b.dataSync()];
  const run = async (restore: boolean): Promise<number[]> => {
    w.assign(at3[0]!);
    b.assign(at3[1]!);
    const loaded = LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, config) as LoptTfjsOptimizer;
    await loaded.setWeights(restore ? weights : weights.filter((x) => x.name === 'iter' || x.name.startsWith('lopt.theta/')));
    for (let i = 0; i < 3; i++) loaded.minimize(loss(w, b));
    loaded.dispose();
    return [...w.dataSync(), ...b.dataSync()];
  };
  const resumed = await run(true);
  const fresh = await run(false);
  opt.dispose();
  tf.dispose([w, b, ...at3, ...weights.map((x) => x.tensor)]);
  return { straight, resumed, fresh };
}

describe('learned optimizers through toTfjsOptimizer: save -> load -> continue', () => {
  for (const [name, make] of [
    ['nnAdam', () => nnAdam({ outputScale: 1 })],
    ['adafacMlpLOpt', () => adafacMlpLOpt()],
  ] as const) {
    it(`${name}: equals the uninterrupted run; theta and state both matter`, async () => {
      const learned = make() as unknown as LearnedOptimizer;
      const theta = learned.init(key(9));
      const r = await saveLoadContinue(learned, theta, `lopt_learned_save_${name}`);
      expectClose(r.resumed, r.straight, { rtol: 1e-6, atol: 1e-7, label: name });
      // without the saved per-variable state (theta only), the continuation differs
      expect(Math.max(...r.fresh.map((x, i) => Math.abs(x - r.straight[i]!)))).toBeGreaterThan(1e-5);
      disposeTree(theta);
    });
  }

  it('a theta of the wrong shape is rejected on load, naming the weight', async () => {
    const learned = nnAdam() as unknown as LearnedOptimizer;
    const theta = learned.init(key(3));
    const opt = toTfjsOptimizer({ learned, theta });
    const loaded = LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, JSON.parse(JSON.stringify(opt.getConfig()))) as LoptTfjsOptimizer;
    const weights = await opt.getWeights();
    const bad = weights.map((x) => (x.name === 'lopt.theta/per_layer_lr' ? { name: x.name, tensor: tf.zeros([2]) } : x));
    await expect(loaded.setWeights(bad)).rejects.toThrow(/weight 'lopt.theta\/per_layer_lr' is \[2\], expected \[\]/);
    opt.dispose();
    loaded.dispose();
  });
});
