import { existsSync, readFileSync, rmSync } from 'node:fs';
import { inputFileError, MAX_BYTES, readInputFile } from './input-files.js';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  collectTensors,
  create,
  deserializeTree,
  key as makeKey,
  treeFlatten,
  treePaths,
  type GradientEstimator,
  type LearnedOptimizer,
  type Optimizer,
  type TaskFamily,
  type TensorTree,
} from '@lopt/core';
import { writeFileAtomic, writeJsonAtomic } from '@lopt/core/node';
import { fileCheckpointStore } from '@lopt/estimators/node';
import { constantTruncation, logUniformTruncation, lOptTruncatedStep, metaTrain, metaTrainCheckpointStep, neverEnding, type CheckpointStore, type EstimateSource, type LOptTruncatedStepOptions, type MetaTrainMetrics, type MetaTrainResult } from '@lopt/estimators';
import { loadLearnedOptimizer, saveLearnedOptimizer } from '@lopt/learned';
import { configPlugins, loadConfig, validateConfig, type LoadedConfig, type MetaTrainConfig } from './config.js';
import { startCommand, type CommandContext, type CommonOptions } from './context.js';
import { CliError, EXIT_INTERRUPTED, StopSignal, withContext } from './errors.js';
import { evaluate, parseTarget, summaryText, type EvalTarget } from './evaluate.js';
import { createValidator } from './validation.js';
import { createProgress } from './progress.js';
import { writeReport } from './report.js';
import { appendJsonLine, ensureWritableDir, readMetrics, readRunJson, removeStaleTempFiles, RUN_FILES, truncateMetrics } from './rundir.js';
import { gateConfigPlugins } from './plugins.js';
import { parseOptimizerSpec } from './spec.js';
import { buildOuterOptimizer } from './outer-optimizer.js';
import { formatNumber } from './stats.js';
import { scaleSource, type ScaleOptions } from './scale-options.js';

/** Options of {@link runMetaTrain} (from the command line). */
export interface MetaTrainCommand {
  readonly common: CommonOptions;
  readonly configSpec?: string;
  readonly resume?: string;
  readonly out?: string;
  readonly steps?: number;
  readonly initTheta?: string;
  readonly evaluate: boolean;
  readonly report: boolean;
  /** Where the estimates are computed (`--workers`, `--redis`); default in-process. */
  readonly scale?: ScaleOptions;
}

/** The components a config describes. */
export interface MetaTrainComponents {
  readonly learnedOptimizer: LearnedOptimizer;
  readonly taskFamily: TaskFamily;
  readonly estimators: GradientEstimator[];
  readonly outerOptimizer: Optimizer;
}

/** What `config.json` of a run directory holds. */
export interface RunConfigFile {
  readonly config: MetaTrainConfig;
  readonly source: string;
  readonly lopt: { readonly cliVersion: string };
  readonly backend: string;
  readonly created: string;
}

function field<T>(name: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    throw withContext(e, `config field '${name}'`);
  }
}

/**
 * Builds the learned optimizer, task family, truncated step, estimators and outer optimizer
 * a config names, through the registry; every failure names the config field.
 */
export async function buildComponents(config: MetaTrainConfig): Promise<MetaTrainComponents> {
  const learnedOptimizer = field('learnedOptimizer', () => create('learned-optimizer', config.learnedOptimizer.name, config.learnedOptimizer.options));
  const taskFamily = field('taskFamily', () => create('task-family', config.taskFamily.name, config.taskFamily.options));
  const t = config.truncatedStep.truncation;
  const truncationSchedule = field('truncatedStep.truncation', () =>
    t.kind === 'constant' ? constantTruncation(t.length) : t.kind === 'logUniform' ? logUniformTruncation(t.min, t.max) : neverEnding(),
  );
  const { truncation: _t, ...stepOptions } = config.truncatedStep;
  // The config's step options are validated by lOptTruncatedStep itself (unknown ones are refused).
  const truncatedStep = field('truncatedStep', () => lOptTruncatedStep({ ...stepOptions, truncation: truncationSchedule, taskFamily, learnedOptimizer } as LOptTruncatedStepOptions));
  const estimators = config.estimators.map((e, i) => field(`estimators[${i}] (${e.name})`, () => create('estimator', e.name, { ...e.options, truncatedStep })));
  const outerOptimizer = await buildOuterOptimizer(config.outerOptimizer, config.steps);
  return { learnedOptimizer, taskFamily, estimators, outerOptimizer };
}

/** Saves theta as a learned-optimizer checkpoint (`saveLearnedOptimizer`, atomically), which `loadLearnedOptimizer` and `lopt eval` read. */
export async function saveTheta(path: string, learnedOptimizer: LearnedOptimizer, theta: TensorTree, extra: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(path, saveLearnedOptimizer(learnedOptimizer, theta, extra));
}

/** Step and validation loss stored in a best.safetensors (undefined when there is none). */
function bestOnDisk(path: string): { step: number; validationLoss: number } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const { tree, metadata } = deserializeTree(readInputFile(path, 'the checkpoint', MAX_BYTES.checkpoint));
    tf.dispose(collectTensors(tree));
    return { step: Number(metadata.extra.step), validationLoss: Number(metadata.extra.validationLoss) };
  } catch (e) {
    throw withContext(e, `Checkpoint ${path}`);
  }
}

/**
 * The meta-parameters the learned optimizer declares as hyperparameters
 * (`hyperparameterPaths`: log learning rates, accumulator-decay offsets, ...), logged per
 * outer step so the report can plot their trajectories. None when it declares none.
 */
export function thetaScalars(learned: Pick<LearnedOptimizer, 'hyperparameterPaths'>, theta: TensorTree): Record<string, number> {
  const out: Record<string, number> = {};
  const wanted = new Set(learned.hyperparameterPaths?.() ?? []);
  if (wanted.size === 0) return out;
  const { leaves } = treeFlatten(theta);
  treePaths(theta).forEach((path, i) => {
    const leaf = leaves[i];
    if (leaf === undefined || !wanted.has(path)) return;
    leaf.dataSync().forEach((v, j) => {
      out[`theta/${path}${leaf.size > 1 ? `[${j}]` : ''}`] = v;
    });
  });
  return out;
}

function resolveRun(cmd: MetaTrainCommand): { loaded: LoadedConfig; runDir: string; resuming: boolean } {
  if (cmd.resume !== undefined) {
    const runDir = resolve(cmd.resume);
    if (!existsSync(runDir)) throw new CliError(`The run directory '${cmd.resume}' does not exist.`, 'Pass the directory of an earlier `lopt meta-train` run to --resume.');
    const file = readRunJson<RunConfigFile>(runDir, RUN_FILES.config, 'the run configuration');
    let config = validateConfig(file.config, `of run '${cmd.resume}' (${RUN_FILES.config})`);
    if (cmd.steps !== undefined) config = { ...config, steps: cmd.steps };
    return { loaded: { config, source: file.source, baseDir: runDir }, runDir, resuming: true };
  }
  const loaded = loadConfig(cmd.configSpec as string);
  const config = cmd.steps !== undefined ? { ...loaded.config, steps: cmd.steps } : loaded.config;
  const runDir = resolve(cmd.out ?? join('runs', `${config.name}-${stampNow()}`));
  return { loaded: { ...loaded, config }, runDir, resuming: false };
}

function stampNow(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * `lopt meta-train`: validates the config, builds the components, writes the run directory
 * and runs `metaTrain` from @lopt/estimators with a live progress bar, checkpointing
 * atomically (Ctrl-C checkpoints and exits; `--resume` continues), then evaluates the result
 * against the configured baselines and writes the report.
 */
export async function runMetaTrain(cmd: MetaTrainCommand): Promise<void> {
  const { loaded, runDir, resuming } = resolveRun(cmd);
  const { config } = loaded;
  const where = resuming ? `of run '${cmd.resume}' (${RUN_FILES.config})` : loaded.source.startsWith('preset:') ? loaded.source : `file '${loaded.source}'`;
  const plugins = gateConfigPlugins(configPlugins(loaded), where, Boolean(cmd.common.allowPlugins), cmd.common.plugin ?? [], process.cwd());
  const ctx = await startCommand('meta-train', cmd.common, plugins);
  ensureWritableDir(runDir, resuming ? '--resume' : '--out');
  for (const file of removeStaleTempFiles(runDir)) ctx.log(`removed a temporary file a killed run left behind: ${file}`);
  const components = await buildComponents(config);
  const source = scaleSource(cmd.scale ?? { kind: 'local' }, components.estimators, { config, backend: ctx.backend.name, plugins: [...plugins, ...(cmd.common.plugin ?? [])] }, config.name);
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  if (!resuming) {
    const file: RunConfigFile = { config, source: loaded.source, lopt: { cliVersion: version }, backend: ctx.backend.name, created: new Date().toISOString() };
    await writeJsonAtomic(join(runDir, RUN_FILES.config), file);
  } else if (cmd.steps !== undefined) {
    // --resume --steps N extends (or shortens) the run: the run directory records the new total.
    const file = readRunJson<RunConfigFile>(runDir, RUN_FILES.config, 'the run configuration');
    await writeJsonAtomic(join(runDir, RUN_FILES.config), { ...file, config: { ...file.config, steps: config.steps } });
  }
  ctx.log(`run directory: ${runDir}`);
  if (cmd.scale?.kind === 'pool') ctx.log(`estimates on a local pool of ${cmd.scale.workers} worker processes (${cmd.scale.mode})`);
  if (cmd.scale?.kind === 'redis') ctx.log(`learner over Redis (run '${cmd.scale.run ?? config.name}'): start workers with \`lopt worker --redis <url> --config <the same config>\``);
  try {
    await trainLoop(ctx, config, components, runDir, resuming, cmd.initTheta, source);
  } finally {
    await source?.close();
  }
  if (cmd.evaluate && config.eval) await evaluateRun(ctx, config, runDir);
  if (cmd.report) {
    const files = await writeReport(runDir);
    ctx.log(`report: ${files.html}`);
  }
}

/** What a run evaluates (and validates) on: `eval.task` when set, else the meta-training family. */
function runTarget(config: MetaTrainConfig): EvalTarget {
  const task = config.eval?.task;
  return task
    ? { ...parseTarget(task.name), options: task.options as EvalTarget['options'] }
    : { kind: 'task-family', name: config.taskFamily.name, options: config.taskFamily.options as EvalTarget['options'] };
}

async function evaluateRun(ctx: CommandContext, config: MetaTrainConfig, runDir: string): Promise<void> {
  const e = config.eval as NonNullable<MetaTrainConfig['eval']>;
  const withOptions = runTarget(config);
  // With validation, the selected theta is evaluated (the last one stays in theta.safetensors).
  const best = join(runDir, RUN_FILES.best);
  const selected = config.validation && existsSync(best) ? best : join(runDir, RUN_FILES.theta);
  if (selected === best) {
    // Diverged validations are null in the JSON lines; they count as validations.
    const validations = readMetrics(runDir).filter((m) => 'validationLoss' in m).length;
    const top = bestOnDisk(best);
    if (top) ctx.log(`evaluating best.safetensors: outer step ${top.step}, validation loss ${formatNumber(top.validationLoss)} (best of ${validations} validations)`);
  } else if (config.validation) {
    ctx.log('no validation ran or none gave a finite loss: evaluating the last theta (theta.safetensors)');
  }
  const specs = [parseOptimizerSpec(selected), ...e.optimizers.map(parseOptimizerSpec)];
  ctx.log(`evaluating on ${e.seeds} held-out ${withOptions.kind === 'task-family' ? `tasks of ${withOptions.name}` : `seeds of ${withOptions.name}`} for ${e.steps} steps`);
  const result = await evaluate(
    withOptions,
    specs,
    { steps: e.steps, seeds: e.seeds, seed: e.seed, points: e.points, evalBatches: e.evalBatches, ...(e.tuneBaseline ? { tune: e.tuneBaseline } : {}) },
    ctx.log,
  );
  const { writeEvalFiles } = await import('./eval-files.js');
  await writeEvalFiles(runDir, result);
  process.stdout.write(`\n${summaryText(result)}\n`);
}


/**
 * Warnings about numerical trouble during meta-training: a NaN/Inf meta-loss (counted as
 * `nanLossValue`), NaN/Inf gradient entries (set to 0), and gradients whose squares overflow
 * float32. Each kind is reported when its count reaches 1, 2, 4, 8, ... (not every step),
 * and once more in a summary at the end.
 */
function numericWarnings(log: (line: string) => void, nanLossValue: number, previous: Readonly<Record<string, number>> | undefined) {
  const kinds = [
    { key: 'nanLossSteps', what: `the meta-loss was NaN or infinite and counts as ${nanLossValue} (nanLossValue)` },
    { key: 'nanGradientSteps', what: 'the meta-gradient had NaN or infinite entries, which were set to 0' },
    { key: 'overflowSteps', what: 'the meta-gradient was so large that its squares overflow float32 (clipGradNorm bounds it)' },
  ] as const;
  // Counts so far (a resumed run continues the counts of its last logged step).
  const seen: Record<string, number> = Object.fromEntries(kinds.map(({ key }) => [key, Number(previous?.[key] ?? 0) || 0]));
  let lastWasNan = false;
  return {
    get lastWasNan() {
      return lastWasNan;
    },
    observe(m: MetaTrainMetrics): void {
      lastWasNan = m.nanLossSteps > (seen.nanLossSteps ?? 0);
      for (const { key, what } of kinds) {
        const n = m[key];
        const before = seen[key] ?? 0;
        seen[key] = n;
        if (n > before && (n & (n - 1)) === 0) log(`warning: outer step ${m.step}: ${what} (${n} step${n === 1 ? '' : 's'} so far).`);
      }
    },
    summary(steps: number): void {
      for (const { key, what } of kinds) if ((seen[key] ?? 0) > 0) log(`warning: in ${seen[key]} of ${steps} outer steps ${what}.`);
    },
  };
}

/** The checkpoint bytes of a run directory (undefined when there is none); a read failure is a CliError naming the file. */
async function readCheckpoint(store: CheckpointStore & { readonly path: string }): Promise<Uint8Array | undefined> {
  try {
    return await store.load();
  } catch (e) {
    throw inputFileError(e, 'the meta-training checkpoint', store.path);
  }
}

/**
 * The meta-training loop around `metaTrain`: progress bar, metrics.jsonl, checkpoints and
 * theta.safetensors every `checkpointEvery` steps, Ctrl-C (checkpoint, then exit 130),
 * resume.
 *
 * Checkpointing: `metaTrain` writes meta-train.safetensors through `fileCheckpointStore`
 * (atomically) every `checkpointEvery` steps, at the end, and when Ctrl-C stopped it
 * (`onStop`), so an interrupted run loses nothing and an uninterrupted one writes no more
 * often than asked. best.safetensors and theta.safetensors of that step are written just
 * before it (`beforeSave`).
 */
async function trainLoop(
  ctx: CommandContext,
  config: MetaTrainConfig,
  components: MetaTrainComponents,
  runDir: string,
  resuming: boolean,
  initTheta: string | undefined,
  source?: EstimateSource,
): Promise<void> {
  const thetaPath = join(runDir, RUN_FILES.theta);
  const metricsPath = join(runDir, RUN_FILES.metrics);
  const store = fileCheckpointStore(runDir, { fileName: RUN_FILES.state });
  const statePath = store.path;
  const onDisk = await readCheckpoint(store);
  if (onDisk && !resuming) {
    throw new CliError(`The output directory ${runDir} already holds a meta-training checkpoint.`, `Continue it with --resume ${runDir}, or choose another directory with --out.`);
  }
  if (!resuming && existsSync(metricsPath)) {
    // An earlier attempt stopped before its first checkpoint: start its metrics over.
    rmSync(metricsPath, { force: true });
    ctx.log(`restarting: removed ${RUN_FILES.metrics} of an earlier attempt that stopped before its first checkpoint`);
  }
  let startStep = 0;
  if (resuming) {
    if (!onDisk) {
      throw new CliError(`The run ${runDir} has no checkpoint (${RUN_FILES.state}) to resume from.`, 'It was stopped before its first checkpoint: start it again with --config/--preset and --out.');
    }
    try {
      startStep = metaTrainCheckpointStep(onDisk);
    } catch (e) {
      throw withContext(e, `Checkpoint ${statePath}`);
    }
    truncateMetrics(runDir, startStep);
    ctx.log(`resuming from outer step ${startStep} of ${config.steps}`);
  }
  let theta0: TensorTree | undefined;
  if (initTheta !== undefined) {
    const { checkpointFile } = await import('./build-optimizer.js');
    try {
      theta0 = loadLearnedOptimizer(readInputFile(checkpointFile(initTheta), 'the checkpoint', MAX_BYTES.checkpoint), { expect: components.learnedOptimizer }).theta;
    } catch (e) {
      throw withContext(e, `--init-theta ${initTheta}`);
    }
  }

  // Checkpoint selection: the best validation loss so far (from the metrics when resuming).
  const validation = config.validation;
  const validator = validation
    ? createValidator(runTarget(config), components.learnedOptimizer, {
        every: validation.every,
        tasks: validation.tasks,
        steps: validation.steps ?? config.eval?.steps ?? 100,
        evalBatches: validation.evalBatches,
        seed: validation.seed,
      })
    : undefined;
  // best.safetensors reaches the disk with the checkpoint (flush), so after a stop it belongs
  // to a step the resumed run does not replay. A fresh run starts without one.
  const bestPath = join(runDir, RUN_FILES.best);
  let bestValidation = Infinity;
  let pendingBest: Uint8Array | undefined;
  const previousBest = resuming ? bestOnDisk(bestPath) : undefined;
  if (previousBest && previousBest.step <= startStep && Number.isFinite(previousBest.validationLoss)) bestValidation = previousBest.validationLoss;
  else rmSync(bestPath, { force: true });

  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) {
      ctx.log('second Ctrl-C: exiting without waiting for the step to finish (the last checkpoint on disk stays valid).');
      process.exit(EXIT_INTERRUPTED);
    }
    interrupted = true;
    abort.abort();
    ctx.log('\nCtrl-C: finishing the current outer step, then writing a checkpoint (press Ctrl-C again to quit at once).');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const fields = [{ key: 'loss', label: 'meta-loss' }, { key: 'rate', label: 'steps/s' }, ...(validator ? [{ key: 'best', label: 'best validation' }] : [])];
  const progress = createProgress({ total: config.steps, label: 'meta-train', fields, start: startStep });
  // Written with each checkpoint, before it: the best theta so far and the current theta.
  const beforeSave = async (step: number, theta: TensorTree): Promise<void> => {
    if (pendingBest) {
      await writeFileAtomic(bestPath, pendingBest);
      pendingBest = undefined;
    }
    await saveTheta(thetaPath, components.learnedOptimizer, theta, { step, run: config.name });
  };
  const warnings = numericWarnings(ctx.log, config.metaTrain.nanLossValue ?? 20, resuming ? readMetrics(runDir).at(-1) : undefined);
  let lastStep = startStep;
  let result: MetaTrainResult;
  try {
    result = await metaTrain({
      learnedOptimizer: components.learnedOptimizer,
      estimators: components.estimators,
      outerOptimizer: components.outerOptimizer,
      steps: config.steps,
      key: makeKey(config.seed),
      ...(theta0 !== undefined ? { theta: theta0 } : {}),
      ...(config.metaTrain.clipGradNorm !== undefined ? { clipGradNorm: config.metaTrain.clipGradNorm } : {}),
      ...(config.metaTrain.nanLossValue !== undefined ? { nanLossValue: config.metaTrain.nanLossValue } : {}),
      checkpoint: { store, every: config.checkpointEvery, onStop: true, beforeSave },
      ...(source !== undefined ? { source } : {}),
      signal: abort.signal,
      onStep: async (m: MetaTrainMetrics, theta: TensorTree) => {
        lastStep = m.step;
        warnings.observe(m);
        const row: Record<string, number> = {
          step: m.step,
          metaLoss: m.meanLoss,
          gradNorm: m.gradNorm,
          clipped: m.clipped,
          stepsPerSecond: m.stepsPerSecond,
          nanGradientSteps: m.nanGradientSteps,
          nanLossSteps: m.nanLossSteps,
          overflowSteps: m.overflowSteps,
          time: Date.now() / 1000,
          ...m.estimators,
          ...thetaScalars(components.learnedOptimizer, theta),
        };
        if (validator && validation && m.step % validation.every === 0) {
          const score = validator.score(theta);
          row.validationLoss = score;
          // Held until the next checkpoint is written; a resumed run replays the same scores.
          if (score < bestValidation) {
            bestValidation = score;
            pendingBest = saveLearnedOptimizer(components.learnedOptimizer, theta, { step: m.step, run: config.name, validationLoss: score });
          }
        }
        appendJsonLine(metricsPath, row);
        progress.update(m.step, { loss: formatNumber(m.meanLoss), rate: formatNumber(m.stepsPerSecond), ...(validator ? { best: Number.isFinite(bestValidation) ? formatNumber(bestValidation) : '-' } : {}) });
        // Let the event loop run (signal handlers) between steps.
        await new Promise<void>((r) => setImmediate(r));
      },
    });
  } catch (e) {
    progress.stop();
    throw withContext(e, 'meta-training');
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    if (theta0 !== undefined) tf.dispose(collectTensors(theta0));
  }
  progress.stop();
  if (!existsSync(thetaPath)) await saveTheta(thetaPath, components.learnedOptimizer, result.theta, { step: result.step, run: config.name });
  tf.dispose(collectTensors(result.theta));
  const last = readMetrics(runDir).at(-1);
  if (result.stopped) {
    ctx.log(`stopped at outer step ${lastStep}; checkpoint written to ${statePath}. Continue with: lopt meta-train --resume ${runDir}`);
    throw new StopSignal(EXIT_INTERRUPTED);
  }
  warnings.summary(result.step);
  const substituted = last !== undefined && warnings.lastWasNan;
  ctx.log(`meta-training done: ${result.step} outer steps${last ? `, last meta-loss ${formatNumber(last.metaLoss)}${substituted ? ' (NaN/Inf, replaced by nanLossValue)' : ''}` : ''}; theta: ${thetaPath}`);
}
