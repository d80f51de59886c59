// The seed-claim experiments by name (`lopt experiment <name>`).
import { adafacCost } from './adafac-cost.js';
import type { Experiment } from './common.js';
import { guardComparison } from './guard-lgl2o-vs-gl2o.js';
import { hypergradientTowers } from './hypergradient-towers.js';
import { lookaheadVariance } from './lookahead-variance.js';
import { loptVsTunedAdam } from './lopt-vs-tuned-adam.js';
import { metaOptimizeDefaults } from './meta-optimize-defaults.js';
import { nominalStability } from './nominal-stability.js';
import { randomSearchBaseline } from './random-search-baseline.js';

/** Every experiment, in the order of issue #22's list of claims (a)-(h). */
export const EXPERIMENTS: readonly Experiment[] = [loptVsTunedAdam, guardComparison, hypergradientTowers, metaOptimizeDefaults, lookaheadVariance, adafacCost, nominalStability, randomSearchBaseline];
