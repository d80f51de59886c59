import { create, has, type Optimizer } from '@lopt/core';
import { buildOptimizer } from './build-optimizer.js';
import { CliError, withContext } from './errors.js';
import { resolveSchedules } from './schedules.js';
import { parseOptimizerSpec, type OptimizerSpec } from './spec.js';

/** The `outerOptimizer` field of a meta-train config. */
export interface OuterOptimizerField {
  /** A registered optimizer, or a learned one: `pretrained:<name>[:k=v]`, a checkpoint path, or a learned-optimizer architecture (untrained). */
  readonly name: string;
  /** Options (of the registered optimizer, or overrides of the pretrained optimizer's architecture). */
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * Builds meta-training's outer optimizer from the config's `outerOptimizer` field. A registered
 * optimizer (`adam`, options with schedules) is built as before; any other optimizer spec
 * (`pretrained:lopt-small-v1`, `pretrained:celo-adam:stepMult=0.02`, a checkpoint path, a
 * learned-optimizer architecture) builds a learned optimizer that trains theta: self-training
 * (Metz et al. 2020). A learned outer optimizer is told `numSteps` = the outer steps and reads
 * the meta-loss as `ctx.loss` (metaTrain passes it). Guards are refused (they need a batch).
 */
export async function buildOuterOptimizer(field: OuterOptimizerField, outerSteps: number): Promise<Optimizer> {
  try {
    if (has('optimizer', field.name)) {
      const options = await resolveSchedules(field.options, "config field 'outerOptimizer'");
      return create('optimizer', field.name, options);
    }
    const parsed = parseOptimizerSpec(field.name);
    if (parsed.kind === 'guard') throw new CliError('A guard cannot be the outer optimizer.', 'Use a registered optimizer (adam) or a learned one (pretrained:lopt-small-v1, a checkpoint path).');
    const spec: OptimizerSpec = parsed.kind === 'checkpoint' ? parsed : { ...parsed, options: { ...parsed.options, ...(field.options as typeof parsed.options) } };
    if (parsed.kind === 'checkpoint' && Object.keys(field.options).length > 0) {
      throw new CliError(`outerOptimizer.options cannot change the checkpoint '${parsed.path}'.`, 'Remove the options, or name a registered or pretrained optimizer.');
    }
    const built = await buildOptimizer(spec, { numSteps: outerSteps, holder: { current: undefined, task: undefined } });
    return built.optimizer;
  } catch (e) {
    throw withContext(e, "config field 'outerOptimizer'");
  }
}
