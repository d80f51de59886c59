import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { baselineResolver, type BatchHolder, type Hyperparams, type OptimizerRef, type OptimizerResolver, type SearchSpace, type TunableCandidate } from '@lopt/eval';
import { CliError } from './errors.js';
import { buildOptimizer, checkpointFile } from './build-optimizer.js';
import { parseOptimizerSpec, specLabel, type OptimizerSpec } from './spec.js';

/** sha256 prefixes of the checkpoint files a spec reads (its cache identity must change with them). */
function checkpointHashes(spec: OptimizerSpec): string[] {
  if (spec.kind === 'checkpoint') return [createHash('sha256').update(readFileSync(checkpointFile(spec.path))).digest('hex').slice(0, 16)];
  if (spec.kind === 'guard') return [...checkpointHashes(spec.inner), ...checkpointHashes(spec.fallback)];
  return [];
}

/**
 * The suite candidate of an `--optimizer` spec. A bare baseline name among the suite's
 * baselines (`adam`) stands for that baseline as tuned on each task, so `--optimizer adam`
 * reproduces the reference exactly; anything else is an optimizer spec, identified in the
 * cache by its text and the hashes of the checkpoints it reads.
 */
export function candidateRef(text: string, baselines: readonly string[]): OptimizerRef {
  const t = text.trim();
  if (baselines.includes(t)) return { label: t, id: `tuned:${t}`, tuned: t };
  const spec = parseOptimizerSpec(t);
  const hashes = checkpointHashes(spec);
  return { label: specLabel(spec), id: `spec:${spec.text}${hashes.length ? `#${hashes.join(',')}` : ''}`, spec: spec.text };
}

/**
 * The spec text of `text` with hyperparameters `hp` set (replacing options of the same name):
 * `pretrained:celo2` with `{ learningRate: 0.01 }` is `pretrained:celo2:learningRate=0.01`.
 * Only registered and pretrained optimizers take options this way.
 */
export function specWithOptions(text: string, hp: Hyperparams): string {
  const spec = parseOptimizerSpec(text);
  if (spec.kind !== 'registry' && spec.kind !== 'pretrained') {
    throw new CliError(`The optimizer '${text}' cannot be tuned: only registered and pretrained optimizers take hyperparameters.`, 'Tune a spec such as pretrained:celo2 or sgd.');
  }
  const options = Object.entries({ ...spec.options, ...hp }).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${spec.kind === 'pretrained' ? 'pretrained:' : ''}${spec.name}${options.length ? `:${options.join(',')}` : ''}`;
}

/**
 * A suite row for `text` with the hyperparameters of `space` tuned per task like a baseline's
 * (label `<spec label> [tuned]`); each trial is the spec with the trial's values
 * ({@link specWithOptions}), cached like any spec.
 */
export function tunedCandidate(text: string, space: SearchSpace): TunableCandidate {
  const spec = parseOptimizerSpec(text);
  specWithOptions(text, {});
  return { label: `${specLabel(spec)} [tuned]`, space, trial: (hp) => candidateRef(specWithOptions(text, hp), []) };
}

/** Builds suite optimizers: baselines directly, specs as `lopt eval` builds them (guards see each step's batch). */
export function cliResolver(): OptimizerResolver {
  return async (ref, numSteps) => {
    if (!ref.spec) return baselineResolver(ref, numSteps);
    const holder: BatchHolder = { current: undefined, task: undefined };
    const built = await buildOptimizer(parseOptimizerSpec(ref.spec), { numSteps, holder });
    return { optimizer: built.optimizer, holder, dispose: () => built.dispose() };
  };
}
