import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeLeaves, treeMap, treePaths, type Optimizer, type TensorTree } from '@lopt/core';
import { injectHyperparams, type InjectedOptimizer } from '../inject.js';
import type { TransformationOptimizer } from '../transformation.js';
import { adam, adamw } from '../optimizers/adam.js';
import { adabelief, adamax, amsgrad, nadamw, radam, yogi } from '../optimizers/adaptive.js';
import { lion } from '../optimizers/lion.js';
import { adadelta, adagrad, rmsprop } from '../optimizers/rms.js';
import { sgd } from '../optimizers/sgd.js';
import { lamb } from '../optimizers/trust.js';

type Factory = (options: Record<string, unknown>) => TransformationOptimizer<unknown>;

/**
 * The built-in factories a plain optimizer can be rebuilt from (by its `name` and JSON
 * `config`). All of them apply the learning rate last, so their update is
 * `-learningRate * direction` with a direction that does not depend on the learning rate
 * (rmsprop only without momentum, which it applies after the learning rate).
 */
const FACTORIES: Readonly<Record<string, Factory>> = {
  sgd: sgd as Factory,
  adam: adam as Factory,
  adamw: adamw as Factory,
  nadamw: nadamw as Factory,
  amsgrad: amsgrad as Factory,
  adamax: adamax as Factory,
  radam: radam as Factory,
  yogi: yogi as Factory,
  adabelief: adabelief as Factory,
  lion: lion as Factory,
  rmsprop: rmsprop as Factory,
  adagrad: adagrad as Factory,
  adadelta: adadelta as Factory,
  lamb: lamb as Factory,
};

/** Names of the built-in optimizers that `hypergradient` and `metaOptimize` can rebuild from a plain instance. */
export const REBUILDABLE_OPTIMIZERS: readonly string[] = Object.keys(FACTORIES);

/** True for an optimizer built by `injectHyperparams`. */
export function isInjected(opt: unknown): opt is InjectedOptimizer {
  return (
    typeof opt === 'object' &&
    opt !== null &&
    Array.isArray((opt as InjectedOptimizer).hyperparamNames) &&
    typeof (opt as InjectedOptimizer).validateHyperparams === 'function' &&
    typeof (opt as InjectedOptimizer).transformation === 'object'
  );
}

/** True for a transformation-based optimizer (`optimizerFrom`, every built-in). */
export function isTransformationOptimizer(opt: unknown): opt is TransformationOptimizer<unknown> {
  return (
    typeof opt === 'object' &&
    opt !== null &&
    typeof (opt as TransformationOptimizer).name === 'string' &&
    typeof (opt as TransformationOptimizer).transformation === 'object' &&
    typeof (opt as TransformationOptimizer).config === 'object'
  );
}

/** True when the named built-in's update is linear in its learning rate for this config. */
export function linearInLearningRate(name: string, config: Readonly<Record<string, unknown>>): boolean {
  if (!(name in FACTORIES)) return false;
  if (name === 'rmsprop') return config.momentum === undefined;
  return true;
}

/**
 * Rebuilds a plain built-in optimizer from its `name` and JSON `config` through `build`
 * (the factory with possibly changed options). Throws `LoptError('INVALID_OPTION')`
 * naming `option` when it cannot: an unknown name, or a learning rate that is a schedule
 * or a tensor (not in the JSON config).
 */
export function rebuildPlain<T>(
  opt: Optimizer<unknown>,
  option: string,
  build: (factory: Factory, config: Record<string, unknown>) => T,
): T {
  if (!isTransformationOptimizer(opt)) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an lopt optimizer built by this package (e.g. adam()).`, { option });
  }
  const factory = FACTORIES[opt.name];
  if (factory === undefined) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}': cannot rebuild optimizer '${opt.name}'; supported: ${REBUILDABLE_OPTIMIZERS.join(', ')}. ` +
        'For another factory pass injectHyperparams(factory)(options).',
      { option },
    );
  }
  if (typeof opt.config.learningRate !== 'number') {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}': the learning rate of '${opt.name}' must be a number to be tuned (schedules and tensors are not).`,
      { option },
    );
  }
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opt.config)) if (k !== 'injected') config[k] = v;
  return build(factory, config);
}

/**
 * The updates `transformation.update(g, init(params), params)` of one first step, for two
 * probe gradients (zeros, which isolates weight decay and masks, and `p / 2 + 1`).
 */
function probeUpdates(opt: TransformationOptimizer<unknown>, params: TensorTree): tf.Tensor[][] {
  const probes = [treeMap((p) => tf.zerosLike(p), params), treeMap((p) => tf.add(tf.mul(p, 0.5), 1), params)];
  return probes.map((g) => treeLeaves(opt.transformation.update(g, opt.transformation.init(params), params).updates));
}

/**
 * Checks that `rebuilt` (scaled by `scale`) makes the same first updates as `original`,
 * so that options lost by the JSON config (masks, tensors) cannot change the optimizer
 * silently. Throws `LoptError('INVALID_OPTION')` naming `option` and the leaf.
 */
export function checkRebuilt(
  original: TransformationOptimizer<unknown>,
  rebuilt: TransformationOptimizer<unknown>,
  params: TensorTree,
  option: string,
  scale = 1,
): void {
  const paths = treePaths(params);
  const bad = tf.tidy(() => {
    const a = probeUpdates(original, params);
    const b = probeUpdates(rebuilt, params);
    for (let i = 0; i < a.length; i++) {
      for (let j = 0; j < paths.length; j++) {
        const x = (a[i] as tf.Tensor[])[j] as tf.Tensor;
        const y = tf.mul((b[i] as tf.Tensor[])[j] as tf.Tensor, scale);
        const err = tf.max(tf.abs(tf.sub(x, y))).dataSync()[0] as number;
        const size = x.size === 0 ? 0 : (tf.max(tf.abs(x)).dataSync()[0] as number);
        if (!(err <= 1e-4 * size + 1e-30)) return paths[j] as string;
      }
    }
    return undefined;
  });
  if (bad !== undefined) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}': '${original.name}' could not be rebuilt from its JSON config (its update at '${bad}' differs; ` +
        'options such as masks are not in the config). Pass injectHyperparams(factory)(options) instead.',
      { option, path: bad },
    );
  }
}

/** Builds the injected form of a plain built-in, with `overrides` applied to its options. */
export function injectPlain(opt: Optimizer<unknown>, option: string, overrides: (config: Record<string, unknown>) => Record<string, unknown> = (c) => c): InjectedOptimizer {
  return rebuildPlain(opt, option, (factory, config) => injectHyperparams(factory)(overrides(config)));
}
