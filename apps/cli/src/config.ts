import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { CliError } from './errors.js';
import { MAX_BYTES, readInputText } from './input-files.js';
import { checkJsonValue } from './json-guard.js';
import { PRESETS } from './presets.js';

const options = z.record(z.string(), z.unknown());

/** A registry component: a name plus the options its factory validates. */
const component = z.strictObject({
  name: z.string().min(1),
  options: options.default({}),
});

const truncation = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant'), length: z.int().min(1) }),
  z.strictObject({ kind: z.literal('logUniform'), min: z.int().min(1), max: z.int().min(1) }),
  z.strictObject({ kind: z.literal('never') }),
]);

const tuneBaseline = z.strictObject({
  trials: z.int().min(1).max(1000).default(8),
  low: z.number().positive().default(1e-4),
  high: z.number().positive().default(1e-1),
  seeds: z.int().min(1).max(100).default(2),
});

/**
 * Options passed to `metaTrain` besides those the config sets elsewhere (steps, optimizers,
 * key, checkpointing): strict, so `steps` or `outerOptimizer` here is an error, not an override.
 */
const metaTrainSection = z.strictObject({
  /** Clip the averaged meta-gradient to this global norm (omit: no clipping). */
  clipGradNorm: z.number().positive().optional(),
  /** Value that replaces a NaN/Inf meta-loss (default 20, as learned_optimization). */
  nanLossValue: z.number().optional(),
});

const evalSection = z.strictObject({
  /** Inner steps per evaluation run. */
  steps: z.int().min(1).max(1_000_000),
  /** Held-out tasks (families) or seeds (tasks). */
  seeds: z.int().min(1).max(1000).default(3),
  /** Base seed of the held-out tasks (apart from the meta-training stream by construction). */
  seed: z.int().min(0).default(1),
  /** Optimizer specs compared with the meta-trained one (see `lopt eval --help`). */
  optimizers: z.array(z.string().min(1)).default([]),
  /** Random search over Adam's learning rate; `false` to compare with the given specs only. */
  tuneBaseline: z.union([tuneBaseline, z.literal(false)]).default({ trials: 8, low: 1e-4, high: 1e-1, seeds: 2 }),
  /** Another task or family to evaluate on (default: the meta-training family). */
  task: component.optional(),
  /** Curve points per run. */
  points: z.int().min(2).max(10_000).default(40),
  /** Batches averaged per logged loss. */
  evalBatches: z.int().min(1).max(100).default(2),
});

const validationSection = z.strictObject({
  /** Validate every this many outer steps (outer steps that are multiples of it; a run stopped and resumed validates the same steps). */
  every: z.int().min(1),
  /** Validation tasks of the family (or seeds of the eval task). */
  tasks: z.int().min(1).max(1000).default(4),
  /** Inner steps per validation run (default: eval.steps, else 100). */
  steps: z.int().min(1).max(1_000_000).optional(),
  /** Batches averaged for each final train loss. */
  evalBatches: z.int().min(1).max(100).default(4),
  /** Seed of the validation tasks (apart from evaluation and tuning by construction). */
  seed: z.int().min(0).default(2),
});

/** The schema of a `meta-train` config file. */
export const metaTrainConfigSchema = z.strictObject({
  /** Run name (the run directory's default name). */
  name: z.string().regex(/^[\w.-]+$/, 'letters, digits, "_", "-", "." only').default('run'),
  /** Seed of every random choice of meta-training. */
  seed: z.int().min(0).default(0),
  /** The learned-optimizer architecture to meta-train (`lopt list learned-optimizer`). */
  learnedOptimizer: component,
  /** The task family inner trainings sample tasks from (`lopt list task-family`). */
  taskFamily: component,
  /** Options of lOptTruncatedStep besides taskFamily, learnedOptimizer and truncation. */
  truncatedStep: z
    .strictObject({
      numTasks: z.int().min(1).max(1024).default(4),
      truncation: truncation,
      metaLoss: z.unknown().optional(),
      randomInitialIterationOffset: z.int().min(0).optional(),
    })
    .default({ numTasks: 4, truncation: { kind: 'logUniform', min: 50, max: 200 } }),
  /** Gradient estimators whose estimates are averaged (`lopt list estimator`); options besides truncatedStep. */
  estimators: z.array(component).min(1),
  /** The optimizer of theta (`lopt list optimizer`). */
  outerOptimizer: component.default({ name: 'adam', options: { learningRate: 3e-4 } }),
  /** Outer (meta-training) steps. */
  steps: z.int().min(1).max(10_000_000),
  /** Write a checkpoint every this many outer steps (and at the end, and on Ctrl-C). */
  checkpointEvery: z.int().min(1).default(10),
  /** Further options of metaTrain: gradient clipping (`clipGradNorm`) and `nanLossValue`. */
  metaTrain: metaTrainSection.default({}),
  /**
   * Checkpoint selection: every `every` outer steps the current theta trains `tasks`
   * validation tasks; the best (lowest mean final train loss) is kept as best.safetensors
   * and is what the evaluation uses. Omit to evaluate the last theta.
   */
  validation: validationSection.optional(),
  /** Evaluation against baselines after meta-training (omit to skip). */
  eval: evalSection.optional(),
  /** Plugin modules to load (paths relative to the config file, or package names). */
  plugins: z.array(z.string().min(1)).default([]),
});

/** A validated meta-train configuration. */
export type MetaTrainConfig = z.infer<typeof metaTrainConfigSchema>;
/** Settings of the random search over Adam's learning rate. */
export type TuneBaselineConfig = z.infer<typeof tuneBaseline>;

type Json = unknown;

function valueAt(input: Json, path: readonly PropertyKey[]): Json {
  let v: Json = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, Json>)[p];
  }
  return v;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  element?: unknown;
  options?: unknown[];
}
function def(schema: unknown): SchemaDef {
  return (schema as { _zod: { def: SchemaDef } })._zod.def;
}

/** The field names an object schema at `path` allows (for "unknown field" messages). */
function allowedKeysAt(schema: unknown, path: readonly PropertyKey[], input: Json): string[] {
  let s = schema;
  const unwrap = (): void => {
    for (;;) {
      const d = def(s);
      if (d.innerType && ['default', 'optional', 'nullable', 'prefault', 'readonly', 'nonoptional'].includes(d.type)) s = d.innerType;
      else break;
    }
  };
  for (let i = 0; i <= path.length; i++) {
    unwrap();
    const d = def(s);
    if (d.type === 'union' && d.options) {
      // Discriminated unions: pick the member matching the input's kind.
      const kind = (valueAt(input, path.slice(0, i)) as { kind?: unknown } | undefined)?.kind;
      const objects = d.options.filter((o) => def(o).type === 'object');
      const member =
        objects.find((o) => {
          const shape = def(o).shape;
          const lit = shape?.kind ? (def(shape.kind) as { values?: unknown[] }) : undefined;
          return lit?.values?.includes(kind);
        }) ?? (objects.length === 1 ? objects[0] : undefined);
      if (!member) return [];
      s = member;
      unwrap();
    }
    if (i === path.length) break;
    const dd = def(s);
    const p = path[i];
    if (dd.type === 'object' && dd.shape && typeof p === 'string') s = dd.shape[p];
    else if (dd.type === 'array' && dd.element) s = dd.element;
    else return [];
    if (s === undefined) return [];
  }
  const shape = def(s).shape;
  return shape ? Object.keys(shape) : [];
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.length ? path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') : '(top level)';
}

function show(v: Json): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Turns schema issues into one message naming each field, what is allowed there and what
 * was given.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: Json, source: string): string {
  const lines = issues.slice(0, 5).map((issue) => {
    const path = issue.path;
    const field = fieldName(path);
    const got = valueAt(input, path);
    switch (issue.code) {
      case 'invalid_value':
        return `field '${field}' must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(got)}`;
      case 'invalid_union': {
        const u = issue as { discriminator?: string; options?: unknown[] };
        if (u.discriminator) return `field '${field}' must be one of ${(u.options ?? []).map((v) => JSON.stringify(v)).join(', ')}, got ${show(got)}`;
        return `field '${field}' has an invalid value ${show(got)}`;
      }
      case 'unrecognized_keys': {
        const allowed = allowedKeysAt(metaTrainConfigSchema, path, input);
        return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${fieldName([...path, k])}'`).join(', ')}${allowed.length ? `; allowed fields there: ${allowed.join(', ')}` : ''}`;
      }
      case 'invalid_type':
        return got === undefined ? `field '${field}' is required (${issue.expected})` : `field '${field}' must be ${article(issue.expected)}, got ${show(got)}`;
      case 'too_small':
        return `field '${field}' must be ${issue.origin === 'array' ? `a list of at least ${issue.minimum} item(s)` : `${issue.inclusive ? '>=' : '>'} ${issue.minimum}`}, got ${show(got)}`;
      case 'too_big':
        return `field '${field}' must be ${issue.origin === 'array' ? `a list of at most ${issue.maximum} item(s)` : `${issue.inclusive ? '<=' : '<'} ${issue.maximum}`}, got ${show(got)}`;
      default:
        return `field '${field}': ${issue.message}, got ${show(got)}`;
    }
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
  return `The config ${source} is invalid: ${lines.join('; ')}${more}.`;
}

function article(expected: string): string {
  const map: Record<string, string> = { int: 'an integer', number: 'a number', string: 'a string', object: 'an object', array: 'a list', boolean: 'true or false' };
  return map[expected] ?? expected;
}

/** Validates parsed JSON against the schema; `source` names it in messages. */
export function validateConfig(input: Json, source: string): MetaTrainConfig {
  checkJsonValue(input, `The config ${source}`);
  const result = metaTrainConfigSchema.safeParse(input);
  if (!result.success) {
    throw new CliError(describeIssues(result.error.issues, input, source), 'Fix the named fields (the README of @lopt/cli documents every field; `lopt list` shows component names).');
  }
  const c = result.data;
  const t = c.truncatedStep.truncation;
  if (t.kind === 'logUniform' && t.max < t.min) {
    throw new CliError(`The config ${source} is invalid: field 'truncatedStep.truncation.max' (${t.max}) must be >= 'min' (${t.min}).`, 'Swap or fix the two bounds.');
  }
  const tb = c.eval?.tuneBaseline;
  if (tb && tb.high <= tb.low) {
    throw new CliError(`The config ${source} is invalid: field 'eval.tuneBaseline.high' (${tb.high}) must be > 'low' (${tb.low}).`, 'Fix the search range.');
  }
  return c;
}

/** A resolved config and where it came from. */
export interface LoadedConfig {
  readonly config: MetaTrainConfig;
  /** `preset:<name>` or the file path. */
  readonly source: string;
  /** Folder that relative plugin paths resolve from. */
  readonly baseDir: string;
}

/** Reads and validates a config: a preset name (see `lopt meta-train --help`) or a JSON file. */
export function loadConfig(spec: string): LoadedConfig {
  const preset = PRESETS[spec];
  if (preset && !existsSync(spec)) {
    return { config: validateConfig(preset.config, `preset '${spec}'`), source: `preset:${spec}`, baseDir: process.cwd() };
  }
  const path = resolve(spec);
  if (!existsSync(path)) {
    throw new CliError(
      `The config '${spec}' is neither a preset nor an existing file.`,
      `Pass a JSON file or one of the presets: ${Object.keys(PRESETS).join(', ')}.`,
    );
  }
  const text = readInputText(path, 'the config file', MAX_BYTES.json);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`The config file '${spec}' is not valid JSON: ${(e as Error).message}.`, 'Fix the JSON syntax (a JSON linter points at the exact place; comments and trailing commas are not allowed).');
  }
  return { config: validateConfig(json, `file '${spec}'`), source: path, baseDir: dirname(path) };
}

/** Plugin specifiers of a config, with relative paths resolved against the config's folder. */
export function configPlugins(loaded: LoadedConfig): string[] {
  return loaded.config.plugins.map((p) => (p.startsWith('.') && !isAbsolute(p) ? resolve(loaded.baseDir, p) : p));
}
