import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Only light modules are imported here; each command loads what it needs (tfjs, vega, ...)
// when it runs, so `--help` and bad-argument errors answer at once.
import type { CommonOptions } from './context.js';
import { CliError, EXIT_BAD_INPUT, EXIT_INTERNAL, StopSignal, formatUserError, isUserError } from './errors.js';
import { PRESETS } from './presets.js';
import { registerInspectCommand } from './inspect-command.js';
import { registerSuiteCommand } from './suite-command.js';
import { registerExperimentCommand } from './experiment-command.js';
import { addScaleOptions, type RawScaleFlags } from './scale-flags.js';
import { registerWorkerCommand } from './worker-command.js';

/** Backend choices (the same list as @lopt/backend's BACKEND_CHOICES; a test checks they agree). */
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}].`);
    return n;
  };
}

function positiveArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number.`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A timestamp for default run-directory names (local time, sortable). */
export function stamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

const SPEC_HELP = `
Optimizer specs (--optimizer, repeatable):
  adam                                  a registered optimizer (lopt list optimizer)
  adam:learningRate=1e-3,beta1=0.9      ... with options
  runs/quickstart/theta.safetensors     a meta-trained learned optimizer (or its run directory)
  adafacMlpLOpt                         a learned-optimizer architecture, untrained (its initial theta)
  guard:lossGuarded(<spec>, adam)       a guard from @lopt/safeguard around a spec, with a fallback;
                                        also guard:divergenceGuard(...), guard:safeguarded(...);
                                        guard options follow as key=value; inside a guard separate
                                        an inner spec's options with ';'

Held-out tasks: for a task family, every seed samples a task from a key stream that
meta-training never uses; all optimizers train on the same tasks, initial parameters and batches.`;

/** Builds the `lopt` program. Exposed for tests. */
export function buildProgram(): Command {
  const program = new Command('lopt');
  program
    .description('lopt: meta-train learned optimizers, evaluate them against tuned baselines, benchmark, report.')
    .version(version, '-V, --version')
    .addOption(new Option('--backend <name>', 'tensor backend (default: LOPT_BACKEND, else auto: tfjs-node, then WASM, then CPU)').choices([...BACKENDS]))
    .option('--plugin <module>', 'load a module that registers components (repeatable; a path or a package name)', collect, [])
    .option('--allow-plugins', 'run the plugins a config file or run directory names (plugins are code; without this flag such a config is refused)')
    .option('--plugin-timeout <seconds>', 'seconds a plugin may take to import and register', intArg('--plugin-timeout', 1, 3600), 30)
    .option('--debug', 'show stack traces of errors')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false });

  addScaleOptions(program.command('meta-train'))
    .description('Meta-train a learned optimizer from a JSON config or a preset; writes a run directory (config.json, metrics.jsonl, theta.safetensors, best.safetensors with checkpoint selection, eval/, report/).')
    .option('-c, --config <file|preset>', `config file (JSON) or preset name (${Object.keys(PRESETS).join(', ')})`)
    .option('-p, --preset <name>', 'same as --config <preset>')
    .option('-r, --resume <run-dir>', 'continue a run from its last checkpoint (uses the run directory\'s config.json)')
    .option('-o, --out <dir>', 'run directory (default: runs/<name>-<timestamp>)')
    .option('--steps <n>', 'override the number of outer steps', intArg('--steps', 1))
    .option('--init-theta <checkpoint>', 'start from the meta-parameters of a checkpoint (same architecture and config)')
    .option('--no-eval', 'skip the evaluation after meta-training')
    .option('--no-report', 'skip writing the report')
    .addHelpText(
      'after',
      `\nPresets:\n${Object.entries(PRESETS).map(([n, p]) => `  ${n.padEnd(12)} ${p.description}`).join('\n')}\n\nCtrl-C writes a checkpoint and exits; continue with --resume <run-dir>.\nThe config schema is documented in the README of @lopt/cli.`,
    )
    .action(async (opts: RawScaleFlags & { config?: string; preset?: string; resume?: string; out?: string; steps?: number; initTheta?: string; eval: boolean; report: boolean }, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      if (opts.config && opts.preset) throw new CliError('Both --config and --preset were given.', 'Pass only one of them.');
      const configSpec = opts.config ?? opts.preset;
      if (!configSpec && !opts.resume) {
        throw new CliError('meta-train needs a config.', `Pass --config <file.json>, --preset <name> (${Object.keys(PRESETS).join(', ')}) or --resume <run-dir>.`);
      }
      if (configSpec && opts.resume) throw new CliError('--resume takes the config from the run directory; do not pass --config or --preset with it.', 'Drop --config/--preset.');
      if (opts.preset && !PRESETS[opts.preset]) throw new CliError(`Unknown preset '${opts.preset}'.`, `Presets: ${Object.keys(PRESETS).join(', ')}.`);
      const { parseScaleFlags } = await import('./scale-options.js');
      const scale = parseScaleFlags(opts);
      const { runMetaTrain } = await import('./metatrain.js');
      await runMetaTrain({
        common,
        scale,
        ...(configSpec !== undefined ? { configSpec } : {}),
        ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
        ...(opts.out !== undefined ? { out: opts.out } : {}),
        ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
        ...(opts.initTheta !== undefined ? { initTheta: opts.initTheta } : {}),
        evaluate: opts.eval,
        report: opts.report,
      });
    });

  program
    .command('eval')
    .description("Train optimizers on a task (or held-out tasks of a family) and compare them: curves, and a summary of final train/valid loss (mean ± std over seeds) and steps to reach Adam's final loss.")
    .requiredOption('-t, --task <name>', 'task or task family, with options: name[:key=value,...] (lopt list task, lopt list task-family)')
    .option('--optimizer <spec>', 'optimizer spec (repeatable; see below)', collect, [])
    .option('--steps <n>', 'training steps per run', intArg('--steps', 1), 200)
    .option('--seeds <n>', 'seeds (held-out tasks for a family)', intArg('--seeds', 1, 1000), 3)
    .option('--seed <n>', 'base seed of tasks, initial parameters and batches', intArg('--seed', 0), 1)
    .option('--tune-baseline', "random search over Adam's learning rate; compare against the best one")
    .option('--tune-trials <n>', 'learning rates tried by --tune-baseline', intArg('--tune-trials', 1, 1000), 8)
    .option('--tune-low <lr>', 'lower end of the log-uniform search range', positiveArg('--tune-low'), 1e-4)
    .option('--tune-high <lr>', 'upper end of the log-uniform search range', positiveArg('--tune-high'), 1e-1)
    .option('--tune-seeds <n>', 'tuning tasks/seeds per trial (apart from the evaluation ones)', intArg('--tune-seeds', 1, 100), 2)
    .option('--points <n>', 'curve points per run', intArg('--points', 2, 10000), 40)
    .option('--eval-batches <n>', 'batches averaged per logged loss', intArg('--eval-batches', 1, 100), 2)
    .option('-o, --out <dir>', 'where to write eval/curves.json, eval/summary.{json,md} and report/ (default: runs/eval-<task>-<timestamp>)')
    .option('--no-report', 'skip writing the report')
    .addHelpText('after', SPEC_HELP)
    .action(async (opts: { task: string; optimizer: string[]; steps: number; seeds: number; seed: number; tuneBaseline?: boolean; tuneTrials: number; tuneLow: number; tuneHigh: number; tuneSeeds: number; points: number; evalBatches: number; out?: string; report: boolean }, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      if (opts.optimizer.length === 0 && !opts.tuneBaseline) {
        throw new CliError('eval needs at least one --optimizer (or --tune-baseline).', 'Example: lopt eval --task quadraticTask --optimizer adam --optimizer sgd:learningRate=0.1.');
      }
      if (opts.tuneBaseline && opts.tuneHigh <= opts.tuneLow) throw new CliError(`--tune-high (${opts.tuneHigh}) must be greater than --tune-low (${opts.tuneLow}).`, 'Fix the search range.');
      const { parseOptimizerSpec } = await import('./spec.js');
      const { evaluate, parseTarget, summaryText } = await import('./evaluate.js');
      const { startCommand } = await import('./context.js');
      const { ensureWritableDir, RUN_FILES } = await import('./rundir.js');
      const { writeReport } = await import('./report.js');
      const specs = opts.optimizer.map(parseOptimizerSpec);
      const outDir = opts.out ?? join('runs', `eval-${opts.task.split(':')[0]?.replace(/[^\w.-]/g, '_')}-${stamp()}`);
      const ctx = await startCommand('eval', common);
      const out = ensureWritableDir(outDir);
      const target = parseTarget(opts.task);
      const result = await evaluate(
        target,
        specs,
        {
          steps: opts.steps,
          seeds: opts.seeds,
          seed: opts.seed,
          points: opts.points,
          evalBatches: opts.evalBatches,
          ...(opts.tuneBaseline ? { tune: { trials: opts.tuneTrials, low: opts.tuneLow, high: opts.tuneHigh, seeds: opts.tuneSeeds } } : {}),
        },
        ctx.log,
      );
      const { writeEvalFiles } = await import('./eval-files.js');
      await writeEvalFiles(out, result);
      process.stdout.write(`\n${summaryText(result)}\n`);
      if (opts.report) {
        const files = await writeReport(out);
        ctx.log(`report: ${files.html}`);
      }
      ctx.log(`results: ${join(out, RUN_FILES.evalDir)}`);
    });

  program
    .command('bench')
    .description("Run the packages' benchmarks (their `bench` scripts) and print one table of the ratios in their JSON results.")
    .option('-f, --filter <name>', 'only packages whose name contains this')
    .option('--no-run', 'do not run the benchmarks; read the existing bench-results/*.json')
    .option('--root <dir>', 'workspace root (default: found upwards from the current directory)')
    .option('--json', 'print the ratios as JSON')
    .action(async (opts: { filter?: string; run: boolean; root?: string; json?: boolean }, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      const { benchPackages, findWorkspaceRoot, ratioTable, readBenchResults, runBench } = await import('./bench.js');
      const root = findWorkspaceRoot(opts.root ?? process.cwd());
      const pkgs = benchPackages(root, opts.filter);
      const choice = common.backend ?? process.env.LOPT_BACKEND;
      process.stderr.write(
        `lopt bench · backend: ${choice ? `${choice} (passed to each benchmark as LOPT_BACKEND)` : 'chosen by each benchmark (they measure the backends they name, in one run, to report ratios)'}\n`,
      );
      if (pkgs.length === 0) {
        throw new CliError(`No package${opts.filter ? ` matching '${opts.filter}'` : ''} under ${root} has a bench script.`, 'Check --filter (a substring of the package name), or --root.');
      }
      const failed: string[] = [];
      if (opts.run) {
        const env = { ...process.env, ...(choice ? { LOPT_BACKEND: choice } : {}) };
        for (const p of pkgs) {
          process.stderr.write(`\n== ${p.name}: pnpm run bench\n`);
          if (!runBench(p, env)) failed.push(p.name);
        }
      }
      const rows = pkgs.flatMap(readBenchResults);
      if (opts.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(`\n${rows.length ? ratioTable(rows) : '(no ratios found in bench-results/*.json)'}\n`);
      if (failed.length) throw new CliError(`The benchmarks of ${failed.join(', ')} failed (see their output above).`, 'Fix or build those packages (pnpm build), or leave them out with --filter.');
    });

  program
    .command('list')
    .description('List registered optimizers, learned optimizers, tasks, task families and estimators (with plugins), one line each.')
    .argument('[kind]', 'optimizer, learned-optimizer, task, task-family or estimator (plurals work)')
    .option('--json', 'print JSON')
    .action(async (kind: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      const { ALL_KINDS, listComponents, pretrainedRows } = await import('./list.js');
      const { parseKind } = await import('./plugins.js');
      const { startCommand } = await import('./context.js');
      const kinds = kind === undefined ? ALL_KINDS : [parseKind(kind)];
      await startCommand('list', common);
      const pretrained = kinds.includes('learned-optimizer') ? await pretrainedRows() : [];
      process.stdout.write(`${listComponents(kinds, Boolean(opts.json), pretrained)}\n`);
    });

  program
    .command('convert')
    .description('Convert a published learned-optimizer checkpoint (Celo or Celo-Adam theta.state, Celo2 celo2_weights.pt) into a lopt checkpoint that --optimizer <path> loads.')
    .argument('<file>', 'the reference checkpoint (flax msgpack or PyTorch zip; nothing in it is executed)')
    .option('-o, --out <path>', 'output file (default: <architecture>.safetensors)')
    .action(async (file: string, opts: { out?: string }, cmd: Command) => {
      const { runConvert } = await import('./convert.js');
      await runConvert(file, opts, cmd.optsWithGlobals() as CommonOptions);
    });

  program
    .command('report')
    .description('Write a self-contained HTML report (report/index.html) plus every plot as SVG and PNG for a run directory.')
    .argument('<run-dir>', 'a directory written by `lopt meta-train` or `lopt eval`')
    .action(async (runDir: string, _opts: unknown, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      const { startCommand } = await import('./context.js');
      const { writeReport } = await import('./report.js');
      const ctx = await startCommand('report', common);
      const files = await writeReport(runDir);
      ctx.log(`wrote ${files.html} and ${files.svgs.length} plots (.svg, .png)`);
      process.stdout.write(`${files.html}\n`);
    });

  program
    .command('demo')
    .description('The main job in a few minutes: train three held-out MNIST tasks with hidden layers (two MLPs and a conv net, suite demo-v1) with the shipped pretrained learned optimizers against Adam and AdamW-cosine tuned per task, print the table and write the report. Runs are cached: a rerun is instant.')
    .option('--quick', 'a one-minute look: 100 steps, one seed, 3-point learning-rate grids')
    .option('--steps <n>', 'override the steps of every task', intArg('--steps', 1, 100_000))
    .option('--preset <name>', `instead, meta-train a small learned optimizer from scratch with a preset (${Object.keys(PRESETS).join(', ')}), as lopt meta-train --preset`)
    .option('--jobs <n>', 'worker processes (default: one per core; 1 runs in this process)')
    .option('--cache <dir>', 'run cache directory (default: runs/suite-cache)')
    .option('-o, --out <dir>', 'where to write demo/table.json, suite/ and report/ (default: runs/demo-<timestamp>)')
    .option('--no-report', 'skip writing the report')
    .action(async (opts: { quick?: boolean; steps?: number; preset?: string; jobs?: string; cache?: string; out?: string; report: boolean }, cmd: Command) => {
      const common = cmd.optsWithGlobals() as CommonOptions;
      if (opts.preset !== undefined) {
        const extra = [opts.quick ? '--quick' : '', opts.steps !== undefined ? '--steps' : '', opts.jobs !== undefined ? '--jobs' : '', opts.cache !== undefined ? '--cache' : ''].filter(Boolean);
        if (extra.length) throw new CliError(`--preset meta-trains from scratch and does not take ${extra.join(', ')}.`, 'Drop them, or drop --preset to run the pretrained optimizers on demo-v1.');
        if (!PRESETS[opts.preset]) throw new CliError(`Unknown preset '${opts.preset}'.`, `Presets: ${Object.keys(PRESETS).join(', ')}.`);
        const { runDemoPreset } = await import('./demo.js');
        return runDemoPreset(common, opts.preset, opts.out, opts.report);
      }
      const { runDemo } = await import('./demo.js');
      const out = opts.out ?? join('runs', `demo-${stamp()}`);
      await runDemo({ common, quick: Boolean(opts.quick), out, report: opts.report, ...(opts.steps !== undefined ? { steps: opts.steps } : {}), ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}), ...(opts.cache !== undefined ? { cache: opts.cache } : {}) });
    });

  registerSuiteCommand(program, stamp);
  registerInspectCommand(program, stamp);
  registerExperimentCommand(program);
  registerWorkerCommand(program);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and returns the exit code: 0 on success,
 * 2 for bad input (one paragraph naming the problem and the fix), 1 for a bug.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return EXIT_BAD_INPUT;
    }
    if (e instanceof StopSignal) return e.exitCode;
    process.stderr.write(`${formatUserError(e)}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return isUserError(e) ? EXIT_BAD_INPUT : EXIT_INTERNAL;
  }
}
