import { register, type FactoryOptions, type Optimizer } from '@lopt/core';
import { adam, adamw } from './optimizers/adam.js';
import { adafactor } from './optimizers/adafactor.js';
import { adabelief, adamax, amsgrad, nadamw, radam, yogi } from './optimizers/adaptive.js';
import { lion } from './optimizers/lion.js';
import { mfac } from './curvature/mfac.js';
import { muon } from './optimizers/muon.js';
import { shampoo } from './curvature/shampoo.js';
import { soap } from './curvature/soap.js';
import { kfac } from './curvature/kfac.js';
import { foof } from './curvature/foof.js';
import { mbf } from './curvature/mbf.js';
import { scheduleFreeAdamw, scheduleFreeSgd } from './optimizers/schedule_free.js';
import { adadelta, adagrad, rmsprop } from './optimizers/rms.js';
import { sgd } from './optimizers/sgd.js';
import { lamb, lars } from './optimizers/trust.js';
import { gradientAccumulation } from './wrappers/accumulation.js';
import { gradientClip } from './wrappers/clip.js';
import { graft } from './wrappers/graft.js';
import { lookahead } from './wrappers/lookahead.js';
import { innerOptimizer, withoutKeys } from './wrapping.js';
import { registerSelfTuning } from './selftuning/register.js';
import { registerTfjsOptimizer } from './tfjs.js';

type Entry = readonly [name: string, factory: (o: FactoryOptions) => Optimizer<unknown>, description: string];

/** Every built-in optimizer factory, with the registry name and description. */
const ENTRIES: readonly Entry[] = [
  ['sgd', (o) => sgd(o), 'SGD with optional (Nesterov) momentum (optax sgd)'],
  ['adam', (o) => adam(o), 'Adam, bias-corrected, epsilon outside the root (optax adam)'],
  ['adamw', (o) => adamw(o), 'Adam with decoupled weight decay times the learning rate (optax adamw)'],
  ['nadamw', (o) => nadamw(o), 'AdamW with Nesterov momentum (optax nadamw)'],
  ['amsgrad', (o) => amsgrad(o), 'AMSGrad (optax amsgrad)'],
  ['rmsprop', (o) => rmsprop(o), 'RMSProp with optional momentum and centering (optax rmsprop)'],
  ['adagrad', (o) => adagrad(o), 'AdaGrad (optax adagrad)'],
  ['adadelta', (o) => adadelta(o), 'Adadelta (optax adadelta)'],
  ['adamax', (o) => adamax(o), 'AdaMax (optax adamax)'],
  ['adafactor', (o) => adafactor(o), 'Adafactor with factored second moments (optax adafactor)'],
  ['lion', (o) => lion(o), 'Lion sign-momentum optimizer (optax lion)'],
  ['lars', (o) => lars(o), 'LARS layer-wise trust ratio with momentum (optax lars)'],
  ['lamb', (o) => lamb(o), 'LAMB: Adam with a layer-wise trust ratio (optax lamb)'],
  ['radam', (o) => radam(o), 'Rectified Adam (optax radam)'],
  ['yogi', (o) => yogi(o), 'Yogi (optax yogi)'],
  ['adabelief', (o) => adabelief(o), 'AdaBelief (optax adabelief)'],
  ['scheduleFreeAdamw', (o) => scheduleFreeAdamw(o), 'Schedule-Free AdamW; evaluate at scheduleFreeEvalParams (optax contrib schedule_free_adamw)'],
  ['shampoo', (o) => shampoo(o), 'Shampoo with blocking and grafting, as distributed Shampoo (Anil et al. 2020)'],
  ['soap', (o) => soap(o), 'SOAP: Adam in the eigenbasis of Shampoo\'s factors (Vyas et al. 2024)'],
  ['muon', (o) => muon(o), 'Muon: Newton-Schulz-orthogonalized momentum for matrices, AdamW for the rest (optax contrib muon)'],
  ['kfac', (o) => kfac(o), 'K-FAC for dense layers (Martens & Grosse 2015); needs a task that reports its layers'],
  ['foof', (o) => foof(o), 'FOOF: dense layers preconditioned by their input covariance (Benzing 2022); needs layer statistics'],
  ['mbf', (o) => mbf(o), 'Mini-block Fisher for dense layers (Bahamou et al. 2023); needs layer statistics'],
  ['mfac', (o) => mfac(o), 'M-FAC: inverse damped empirical Fisher of a sliding gradient window (Frantar et al. 2021)'],
  ['scheduleFreeSgd', (o) => scheduleFreeSgd(o), 'Schedule-Free SGD; evaluate at scheduleFreeEvalParams (optax contrib schedule_free_sgd)'],
  [
    'lookahead',
    (o) => lookahead(innerOptimizer(o, 'inner'), withoutKeys(o, 'inner', 'innerOptions')),
    "Lookahead around a registered optimizer: { inner: 'adam', innerOptions, syncPeriod, slowStepSize, resetState }",
  ],
  [
    'gradientAccumulation',
    (o) => gradientAccumulation(innerOptimizer(o, 'inner'), withoutKeys(o, 'inner', 'innerOptions') as { every: number }),
    "Averages `every` gradients per step of a registered optimizer: { inner, innerOptions, every }",
  ],
  [
    'gradientClip',
    (o) => gradientClip(innerOptimizer(o, 'inner'), withoutKeys(o, 'inner', 'innerOptions')),
    'Elementwise gradient clipping before a registered optimizer: { inner, innerOptions, max }',
  ],
  [
    'graft',
    (o) => graft(innerOptimizer(o, 'magnitude'), innerOptimizer(o, 'direction')),
    'Learning-rate grafting: { magnitude, magnitudeOptions, direction, directionOptions }',
  ],
];

/** Names of every optimizer {@link registerAll} registers. */
export const OPTIMIZER_NAMES: readonly string[] = ENTRIES.map((e) => e[0]);

/**
 * Registers every built-in optimizer factory with the `@lopt/core` registry under its
 * function name (`sgd`, `adam`, ..., and the wrappers `lookahead`, `gradientAccumulation`,
 * `gradientClip`, `graft`, which take the inner optimizer by registered name), and the
 * self-tuning wrappers `hypergradient` and `metaOptimize` (see `registerSelfTuning`), and registers
 * the `toTfjsOptimizer` class with tfjs serialization (so `tf.loadLayersModel` finds it). Idempotent.
 *
 * @example
 * ```ts
 * registerAll();
 * const opt = create('optimizer', 'adamw', { learningRate: 3e-4, weightDecay: 0.01 });
 * ```
 */
export function registerAll(): void {
  for (const [name, factory, description] of ENTRIES) register('optimizer', name, factory as (o: FactoryOptions) => Optimizer, description);
  registerSelfTuning();
  registerTfjsOptimizer();
}
